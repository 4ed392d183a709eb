"""Headers every response carries: the request id and, for JSON, ``Cache-Control: no-store``."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

# Accept a caller's id only if it is short and plain, and holds no run of digits long enough to
# be a card number, so it is safe to log and to echo.
_REQUEST_ID = re.compile(r"(?!.*[0-9](?:[._:-]?[0-9]){11})[A-Za-z0-9._:-]{1,128}")


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_add_headers)


def _assign_request_id() -> None:
    presented = request.headers.get("X-Request-ID", "")
    g.request_id = presented if _REQUEST_ID.fullmatch(presented) else uuid.uuid4().hex


def _add_headers(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    # Billing data must not sit in any cache between us and the caller.
    if response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
    return response
