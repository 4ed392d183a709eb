"""Liveness check."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from .extensions import Blueprint
from .fields import constant

blp = Blueprint("health", __name__, description="Service status.")


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok", required=True, metadata=constant("ok"))


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[], operationId="getHealth")
    @blp.response(200, HealthSchema, example={"status": "ok"})
    def get(self) -> dict[str, str]:
        """Tell that the process is alive (no I'mport call, no auth)"""
        return {"status": "ok"}
