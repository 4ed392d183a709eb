"""Request ids: the caller's ``X-Request-ID`` if it is plain, else a new one; echoed on the answer.

The id is also put in the gateway's ``REQUEST_ID`` for the request's duration: log lines
written meanwhile carry it, and the I'mport calls the request makes send it as ``X-Request-ID``.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from ..api.fields import holds_card_number
from ..gateway import REQUEST_ID

# Accept a caller's id only if it is short and plain, and holds no card number (the rule ids
# are refused by: a Luhn-valid run of 13-19 digits with a network's prefix), so it is safe to
# log and to echo. An order id such as order_20261127_0001 stays the caller's.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.teardown_request(_forget_request_id)


def _assign_request_id() -> None:
    presented = request.headers.get("X-Request-ID", "")
    plain = _REQUEST_ID.fullmatch(presented) and not holds_card_number(presented)
    g.request_id = presented if plain else uuid.uuid4().hex
    REQUEST_ID.set(g.request_id)


def _forget_request_id(error: BaseException | None) -> None:
    # gunicorn's threads serve one request after another in the same context.
    REQUEST_ID.set(None)


def _echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response
