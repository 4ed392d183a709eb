"""The audit trail (PCI DSS 10.2): one structured line per operation, refused ones included.

Every issuance, lookup, charge, cancel and deletion, and every 401/403/429 on them, writes one
entry to the ``billing_service.audit`` logger: time, caller, action, source, the ids the request
named, the outcome code and the request id. The entry is the record's ``fields`` (its message is
``audit``), which the JSON log formatter writes as fields of the line itself. Ids come from an
allow-list of fields, and only well-formed ones are written (a refused request's
``customer_uid`` may be any text: a card number with spaces, control characters), so the trail
holds ids and nothing else a caller sent.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from flask import Flask, Response, g, request

from ..api.bodies import body_fields
from ..observability.logs import log_fields
from .callers import required_scope

# A fixed name, whatever module writes it: operators select the trail by it.
logger = logging.getLogger("billing_service.audit")

# What an operation is called in the trail, by the scope it needs.
_ACTIONS = {"issue": "issue", "read": "lookup", "charge": "charge", "cancel": "cancel"}
_IDS = ("customer_uid", "merchant_uid", "imp_uid")
# What an id can be (the service refuses anything else with 422 or 404).
_WELL_FORMED_ID = re.compile(r"(?!\.+$)[A-Za-z0-9._-]{1,80}")


def init_app(app: Flask) -> None:
    app.after_request(_record)


def _record(response: Response) -> Response:
    scope = required_scope()
    # An operation without a caller key (I'mport's notices) names its action itself.
    action = g.get("audit_action") or (scope and _ACTIONS.get(scope, scope))
    if action is None:
        return response
    status = response.status_code
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "caller": g.get("caller", "unknown"),
        "action": action,
        "source": request.remote_addr,
        **_ids(scope, response),
        "outcome": g.get("error_code", "ok") if status >= 400 else g.get("audit_outcome", "ok"),
        "status": status,
        "request_id": g.get("request_id"),
    }
    log_fields(logger, "audit", entry)
    return response


def _ids(scope: str | None, response: Response) -> dict[str, str]:
    """The well-formed ids the request named: in its path, else in its body."""
    found = {**body_fields(_IDS), **(request.view_args or {})}
    # A charge's imp_uid is only in its answer (I'mport made it).
    if "imp_uid" not in found and scope == "charge" and response.is_json:
        payment = (response.get_json(silent=True) or {}).get("payment")
        if isinstance(payment, dict):
            found["imp_uid"] = payment.get("imp_uid")
    return {
        name: value
        for name in _IDS
        if isinstance(value := found.get(name), str) and _WELL_FORMED_ID.fullmatch(value)
    }
