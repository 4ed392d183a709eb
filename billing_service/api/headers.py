"""Headers every answer carries besides the request id: ``Cache-Control: no-store`` on JSON."""

from __future__ import annotations

from flask import Flask, Response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    # Billing data must not sit in any cache between us and the caller.
    if response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
    return response
