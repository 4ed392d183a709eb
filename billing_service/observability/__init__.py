"""What operators see: JSON logs, request ids, Prometheus metrics, per-request instrumentation.

- ``logs``: every log line as JSON on stdout, card-like digit runs masked;
- ``request_ids``: each request's id, echoed and sent on to I'mport;
- ``metrics``: the Prometheus metrics (also the gateway's call observer);
- ``instrumentation``: each request timed, counted and logged; ``GET /metrics``.

May import its siblings ``api`` and ``security``, and below: ``state``, ``config``,
``gateway``. Never ``resources`` or ``app``.
"""
