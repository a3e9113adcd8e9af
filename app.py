"""The Patient Portal Chalice app: middleware and blueprints, nothing else."""

from chalice import Chalice, ConvertToMiddleware

from chalicelib.api import admin, auth, forms, items, meta, profile, staff
from chalicelib.api.http import security_headers_middleware
from chalicelib.errors import http_error_middleware
from chalicelib.observability import logger
from chalicelib.settings import get_settings

app = Chalice(app_name="patient-portal")
app.log.disabled = True  # the one logger is Powertools'; Chalice's own would duplicate errors

app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(http_error_middleware, "http")
app.register_middleware(security_headers_middleware, "http")

for blueprint in (auth.bp, profile.bp, forms.bp, items.bp, staff.bp, admin.bp, meta.bp):
    app.register_blueprint(blueprint)

if get_settings().dev_routes:
    from chalicelib.api import dev

    app.register_blueprint(dev.bp)

meta.register_catch_all(app)
