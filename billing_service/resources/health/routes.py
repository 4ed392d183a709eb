"""Liveness (``/healthz``) and readiness (``/readyz``) endpoints."""

from __future__ import annotations

from flask.views import MethodView

from ...api.blueprint import Blueprint
from ...api.errors import NotReady
from ...api.events import payment_events
from ...api.services import iamport
from ...gateway import GatewayError
from .schemas import HealthSchema, ReadySchema

blp = Blueprint("health", __name__, description="Service status.")


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[], operationId="getHealth")
    @blp.response(200, HealthSchema, example={"status": "ok"})
    def get(self) -> dict[str, str]:
        """Tell that the process is alive (no I'mport call, no auth)"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(security=[], operationId="getReadiness")
    @blp.response(200, ReadySchema, example={"status": "ready"})
    @blp.errors(
        "not_ready",
        examples={
            "not_ready": {"message": "No I'mport access token: I'mport could not be reached."}
        },
    )
    def get(self) -> dict[str, str]:
        """Tell whether the service can call I'mport (no auth)

        Ready when this process holds a valid I'mport access token, or can get one now
        (`POST /users/getToken`); no other I'mport call is made. Otherwise 503 `not_ready`,
        whose `message` says why: I'mport refused the service's credentials, could not be
        reached, did not answer in time, or answered in a way the service cannot use.
        """
        try:
            iamport().check_ready()
        except GatewayError as exc:
            raise NotReady(exc) from exc
        consumer = payment_events().consumer
        if consumer is not None and consumer.started and not consumer.alive():
            raise NotReady(reason="The event consumer of this worker has stopped.")
        return {"status": "ready"}
