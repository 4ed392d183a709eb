"""What operators see of each request: one log line, its metrics, and ``GET /metrics``.

Per request, the work is a clock read at each end, a few dictionary lookups, two or three
metric updates and one JSON log line: no thread, no I/O besides the log line's write.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, g, request

from .logs import log_fields
from .metrics import Metrics

access_logger = logging.getLogger("billing_service.access")

UNMATCHED = "unmatched"  # the endpoint label of requests that matched no route (404, 405)
_PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_templates: dict[str, str] = {}


def route_template(rule: str) -> str:
    """A werkzeug rule in OpenAPI form: ``/payments/<id:imp_uid>`` -> ``/payments/{imp_uid}``."""
    template = _templates.get(rule)
    if template is None:
        template = _templates[rule] = _PLACEHOLDER.sub(r"{\1}", rule)
    return template


def init_app(app: Flask, metrics: Metrics) -> None:
    """Time every request, count it, log it; serve /metrics.

    Call it before registering other hooks: its before_request runs first and its
    after_request last (Flask runs those backwards), so it sees the final status.
    """

    def start() -> None:
        g.started = time.perf_counter()

    def finish(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        rule = request.url_rule
        route = None if rule is None else route_template(rule.rule)
        endpoint = route or UNMATCHED
        status = response.status_code
        metrics.observe_request(request.method, endpoint, status, seconds)
        if status == 429:
            metrics.observe_rate_limited(endpoint, g.get("rate_limit", "unknown"))
        if access_logger.isEnabledFor(logging.INFO):
            _log_request(route, status, seconds)
        return response

    def serve_metrics() -> Response:
        """Prometheus metrics of all the workers (no auth: keep it off the public network)."""
        body, content_type = metrics.exposition(request.headers.get("Accept"))
        return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})

    app.before_request(start)
    app.after_request(finish)
    # A plain Flask route, not part of the API: it is not in the OpenAPI document.
    app.add_url_rule("/metrics", "metrics", serve_metrics, methods=["GET"])


def _log_request(route: str | None, status: int, seconds: float) -> None:
    # The path without its query string (callers put anything there); the JSON formatter masks
    # card-like runs and replaces the webhook token.
    path = request.path
    fields = {
        "method": request.method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "caller": g.get("caller"),
        "remote_addr": request.remote_addr,
        "request_id": g.get("request_id"),
    }
    log_fields(access_logger, f"{request.method} {path} {status}", fields)
