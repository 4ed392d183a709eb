"""The request-body size limit, enforced for chunked bodies too."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

MAX_BODY_BYTES = 16 * 1024


def init_app(app: Flask) -> None:
    # One byte over the limit: werkzeug silently truncates a chunked body at exactly
    # MAX_CONTENT_LENGTH, so the cap lets one extra byte through for _refuse_oversized to see.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1
    app.before_request(_refuse_oversized)


def _refuse_oversized() -> None:
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        if len(request.get_data(cache=True)) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
    elif (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
