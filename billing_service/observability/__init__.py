"""What operators see: JSON logs, request ids, Prometheus metrics, per-request instrumentation,
readiness.

- ``logs``: every log line as JSON on stdout, card-like digit runs masked;
- ``request_ids``: each request's id, echoed and sent on to I'mport;
- ``metrics``: the Prometheus metrics (also the gateway's call observer);
- ``instrumentation``: each request timed, counted and logged; ``GET /metrics``;
- ``readiness``: the background checks ``GET /readyz`` answers from.

May import its siblings ``api`` and ``security``, and below: ``events``, ``state``, ``config``,
``gateway``. Never ``resources`` or ``app``.
"""
