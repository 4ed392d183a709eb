"""The API's resources, one package each (``routes.py`` + ``schemas.py``).

May import ``api``, ``security``, ``observability``, ``state``, ``config`` and ``gateway``;
nothing imports it but the factory (``app``).
"""

from __future__ import annotations

from typing import Any

from .billing_keys import routes as billing_keys
from .health import routes as health
from .payments import routes as payments

# Registration order: the order of the tags in the OpenAPI document.
MODULES = (health, billing_keys, payments)

# The endpoints the card-testing limits apply to.
ISSUE_ENDPOINT = f"{billing_keys.blp.name}.{billing_keys.IssueBilling.__name__}"
CHARGE_ENDPOINT = f"{payments.blp.name}.{payments.Payments.__name__}"


def register_blueprints(api: Any) -> None:
    """Register every resource's blueprint on ``api``."""
    for module in MODULES:
        api.register_blueprint(module.blp)
