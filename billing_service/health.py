"""Liveness (``/healthz``) and readiness (``/readyz``) checks."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from .errors import NotReady
from .extensions import Blueprint, iamport
from .fields import constant
from .gateway import GatewayError

blp = Blueprint("health", __name__, description="Service status.")


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok", required=True, metadata=constant("ok"))


class ReadySchema(ma.Schema):
    status = ma.fields.Constant("ready", required=True, metadata=constant("ready"))


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
        return {"status": "ready"}
