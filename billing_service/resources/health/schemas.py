"""Response schemas of the health endpoints."""

from __future__ import annotations

import marshmallow as ma

from ...api.fields import constant


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok", required=True, metadata=constant("ok"))


class ReadySchema(ma.Schema):
    status = ma.fields.Constant("ready", required=True, metadata=constant("ready"))
