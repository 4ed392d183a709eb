"""Liveness (``/healthz``) and readiness (``/readyz``) endpoints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView

from ...api.blueprint import Blueprint
from ...api.errors import NotReady
from ...extensions import shared
from ...observability.readiness import ready
from .examples import HEALTHY_EXAMPLE, NOT_READY_EXAMPLES, READY_EXAMPLE
from .schemas import HealthSchema, ReadySchema

blp = Blueprint("health", __name__, description="Service status.")


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[], operationId="getHealth")
    @blp.response(200, HealthSchema, example=HEALTHY_EXAMPLE)
    def get(self) -> dict[str, str]:
        """Tell that the process is alive (no I'mport call, no auth)"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(security=[], operationId="getReadiness")
    @blp.response(200, ReadySchema, example=READY_EXAMPLE)
    @blp.errors(
        "not_ready",
        examples=NOT_READY_EXAMPLES,
    )
    def get(self) -> dict[str, Any]:
        """Tell whether this instance can serve (no auth, no I'mport call)

        Answers at once from what this worker's background checks last found: `iamport` (a
        valid access token held or fetched), `state_store` (the store answers; a Redis must not
        be able to evict keys) and `event_consumer` (its thread runs). Each is `ok`; `degraded`
        (reported, still ready: I'mport unreachable, slow or failing, the shared Redis down, or
        credentials refused after a first token: every replica would see the same); `failing`;
        or `unknown` (not checked yet). 503 `not_ready` only for this instance's own faults: a
        stopped event consumer, an unusable embedded store, a Redis that may evict keys, or
        I'mport refusing the credentials before this worker ever got a token. Its `message`
        names the first of them; `checks` has them all.
        """
        readiness = shared().readiness
        readiness.start()  # a no-op once started (gunicorn does it as each worker starts)
        findings = readiness.findings()
        checks = {name: asdict(found) for name, found in findings.items()}
        failing = ready(findings)
        if failing is not None:
            raise NotReady(failing.message, checks=checks)
        return {"status": "ready", "checks": checks}
