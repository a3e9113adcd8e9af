"""What every table shares: its name from settings, the region, on-demand billing."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.settings import get_settings

_settings = get_settings()


def meta(name: str) -> type:
    """A PynamoDB Meta for the table `name` of this stage."""

    class Meta:
        table_name = _settings.table_name(name)
        region = _settings.region
        billing_mode = "PAY_PER_REQUEST"

    return Meta


class NullableText(UnicodeAttribute):
    def __init__(self, **kwargs):
        super().__init__(null=True, **kwargs)


ALL_MODELS: list[type[Model]] = []


def table(model: type[Model]) -> type[Model]:
    """Class decorator: registers a model so the local stack and infra checks know every table."""
    ALL_MODELS.append(model)
    return model
