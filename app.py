"""The Patient Portal Chalice app: middleware and blueprints, nothing else."""

from chalicelib.startup import imports_without_gc

# Nothing imported here is garbage: collecting while importing only slows every cold start.
with imports_without_gc():
    from chalice import Chalice, ConvertToMiddleware

    from chalicelib.api import meta
    from chalicelib.api.access import auth, forms, mfa
    from chalicelib.api.accounts import admin, lifecycle, profile, staff
    from chalicelib.api.caregivers import grants as caregivers_api
    from chalicelib.api.followup import reports as followup_api
    from chalicelib.api.messaging import messages, staff_messages
    from chalicelib.api.providers import providers as providers_api
    from chalicelib.api.publication import documents as documents_api
    from chalicelib.api.publication import incidents as incidents_api
    from chalicelib.api.publication import items
    from chalicelib.api.publication import uploads as uploads_api
    from chalicelib.api.records import exports as exports_api
    from chalicelib.api.results import results as results_api
    from chalicelib.errors import http_error_middleware
    from chalicelib.events import exports as export_events
    from chalicelib.events import lab as lab_events
    from chalicelib.events import mail_feedback as mail_feedback_events
    from chalicelib.events import publisher as publisher_events
    from chalicelib.events import recovery as recovery_events
    from chalicelib.events import sweep as sweep_events
    from chalicelib.frontdoor import security_headers_middleware
    from chalicelib.observability import ChaliceLog, logger, metrics
    from chalicelib.settings import get_settings
    from chalicelib.web import routes as web_routes
    from chalicelib.web.error_pages import html_error_middleware

app = Chalice(app_name="patient-portal", configure_logs=False)
# Chalice's one line (a view raised: 500) goes out once, as the one logger's JSON; see ChaliceLog.
app.log = ChaliceLog()  # type: ignore[assignment]  # Chalice asks its log for `error` only

app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
# Metrics go out at the end of each invocation (HTTP and events alike), never carried into the next.
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
# The security headers wrap the error mapping, so error answers carry them too.
app.register_middleware(security_headers_middleware, "http")
# Browser addresses get their errors as pages (the API's stay JSON): it wraps the error mapping.
app.register_middleware(html_error_middleware, "http")
app.register_middleware(http_error_middleware, "http")

for blueprint in (auth.bp, profile.bp, forms.bp, items.bp, staff.bp, admin.bp, meta.bp, messages.bp, staff_messages.bp):
    app.register_blueprint(blueprint)

# The second factor: enrol, confirm, verify, remove; an admin's reset.
app.register_blueprint(mfa.bp)

# Accounts over the years: signed-in devices, staff accounts, a patient's access, invitation, lock.
app.register_blueprint(lifecycle.bp)

# Follow-up: the staff report and queue routes, the scheduled sweep, SES feedback over SNS.
for blueprint in (followup_api.bp, sweep_events.bp, mail_feedback_events.bp):
    app.register_blueprint(blueprint)

# Publication: patient documents, staff uploads, comments and refiles, the privacy incidents
# (admins), the SQS upload publisher.
for blueprint in (documents_api.bp, incidents_api.bp, uploads_api.bp, publisher_events.bp):
    app.register_blueprint(blueprint)

# Lab results: the patient's results and trends, the office's view and retries, the SQS lab intake.
for blueprint in (results_api.bp, lab_events.bp):
    app.register_blueprint(blueprint)

# Providers: their results to review and their reviews.
app.register_blueprint(providers_api.bp)

# Password recovery: the forgot-password request queues a job, the SQS handler mails the reset.
app.register_blueprint(recovery_events.bp)

# Take-away records: the patient's request queues a job, the SQS handler builds the zip.
for blueprint in (exports_api.bp, export_events.bp):
    app.register_blueprint(blueprint)

# Caregivers: grants, the office's grant for a child, and the patient's "who viewed my record".
app.register_blueprint(caregivers_api.bp)

if get_settings().dev_routes:
    from chalicelib.api import dev

    app.register_blueprint(dev.bp)

for blueprint in web_routes.blueprints():
    app.register_blueprint(blueprint)

meta.register_catch_all(app)
