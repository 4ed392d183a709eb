"""Headers every answer carries besides the request id: ``Cache-Control: no-store`` on JSON,
and ``X-Billing-Sandbox: true`` in sandbox mode."""

from __future__ import annotations

from flask import Flask, Response

SANDBOX_HEADER = "X-Billing-Sandbox"


def init_app(app: Flask, *, sandbox: bool) -> None:
    app.after_request(_add_headers)
    if sandbox:
        app.after_request(_mark_sandbox)


def _add_headers(response: Response) -> Response:
    # Billing data must not sit in any cache between us and the caller.
    if response.mimetype == "application/json":
        response.headers["Cache-Control"] = "no-store"
    return response


def _mark_sandbox(response: Response) -> Response:
    # Nobody downstream may take a sandbox answer (a "paid" payment) for a real one.
    response.headers[SANDBOX_HEADER] = "true"
    return response
