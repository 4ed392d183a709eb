"""flask-smorest customised once for the whole service: the Api, the Blueprint every resource
uses, the error documentation of each operation, the HTML-form variants of bodies, Swagger UI."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import flask
import marshmallow as ma
from flask_smorest import Api as BaseApi
from flask_smorest import Blueprint as BaseBlueprint
from werkzeug.exceptions import HTTPException

from .bodies import FORM, BodyParser
from .error_kinds import ERRORS
from .errors import ErrorSchema, http_error_response
from .idempotency import KEY_PATTERN, idempotent

# Errors that every operation calling I'mport can answer, and every operation taking a body.
GATEWAY_ERRORS = (
    "internal_error",
    "gateway_error",
    "gateway_auth_failed",
    "gateway_unavailable",
    "gateway_timeout",
)
BODY_ERRORS = ("invalid_json", "payload_too_large", "unsupported_media_type", "invalid_request")
CALLER_ERRORS = ("card_data_in_url", "unauthorized", "forbidden")
# What an operation honouring Idempotency-Key can answer besides its own errors.
IDEMPOTENCY_ERRORS = (
    "invalid_idempotency_key",
    "idempotency_key_reused",
    "request_in_progress",
    "state_unavailable",
)
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Makes retrying this request safe: the first answer is stored (24 h by "
    "default, per caller) and given again to every retry with the same key and the same "
    "request, with `Idempotent-Replayed: true`, without calling PortOne again. 1-255 printable "
    'ASCII, bare (`KG5LxwFBepaKHyUD`) or quoted (`"8e03978e-40d5-43e8-bc93-6894a57f9324"`); a '
    "UUID, or your order's or refund's own id, is a good key. The same key with another request "
    "is 422 `idempotency_key_reused`, while the first still runs 409 `request_in_progress`. "
    "**The retry rule:** with a key, every 5xx answer (all carry `retryable: true`), a 409 "
    "`request_in_progress` and a 429 may be retried with the same key and the same body within "
    "`BILLING_IDEMPOTENCY_TTL`, and such a retry never moves money twice; every other 4xx is "
    "final. Never make a new key for a retry. Answers whose outcome was unknown (202, 5xx) are "
    "not stored: a retry runs again, safely.",
    # No example by default: Swagger UI would send the same one with every operation (the same
    # key with another request is a 422).
    "schema": {"type": "string", "pattern": KEY_PATTERN},
}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer of an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
# gunicorn refuses a request line (method, path, query) over limit_request_line (4094 bytes)
# before the service sees it, with its own small HTML page.
REQUEST_LINE_TOO_LONG = {
    "description": "The request line (method, path and query string) is longer than 4094 bytes: "
    "refused by gunicorn before the service sees it, with a plain HTML page.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
# Statuses whose answers carry Retry-After (409: request_in_progress only).
_RETRY_AFTER_STATUSES = (409, 429)


class Api(BaseApi):
    """Api rendering errors in the service's shape, with no vague 'default' response."""

    ERROR_SCHEMA = ErrorSchema
    # A catch-all "default" response would make every status look documented.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> Any:
        return http_error_response(error)

    def register_blueprint(self, blp: Any, **options: Any) -> None:
        super().register_blueprint(blp, **options)
        # The bodies' JSON schemas are registered now: derive their HTML-form variants.
        for schema in getattr(blp, "form_bodies", ()):
            name = schema_name(schema)
            if f"{name}Form" not in self.spec.components.schemas:
                json_schema = self.spec.components.schemas[name]
                self.spec.components.schema(f"{name}Form", component=form_schema(json_schema))


def schema_name(schema: type[ma.Schema]) -> str:
    """The component name flask-smorest gives ``schema``."""
    return schema.__name__.removesuffix("Schema")


_ANNOTATIONS = ("description", "default", "example", "writeOnly")


def form_schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema of a body's HTML-form variant, from its JSON schema.

    A form carries flat text only, so object and array fields are left out; and an empty field
    counts as absent (a blank input), so every optional field may also be ``""``.
    """
    required = set(json_schema.get("required", ()))
    properties = {}
    for name, prop in json_schema["properties"].items():
        if prop.get("type") in ("object", "array"):
            continue
        if name not in required:
            common = {k: prop[k] for k in _ANNOTATIONS if k in prop}
            rest = {k: v for k, v in prop.items() if k not in common}
            prop = {
                **common,
                "anyOf": [rest, {"type": "string", "enum": [""], "description": "Absent."}],
            }
        properties[name] = prop
    return {**json_schema, "properties": properties}


class Blueprint(BaseBlueprint):
    """Blueprint with the service's body parser and error documentation."""

    ARGUMENTS_PARSER = BodyParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.form_bodies: list[type[ma.Schema]] = []

    @staticmethod
    def doc(**kwargs: Any) -> Callable[..., Any]:
        """flask-smorest's ``doc``, without its pass-through wrapper (see ``_documented``)."""
        return _documented(BaseBlueprint.doc(**kwargs))

    def alt_response(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """flask-smorest's ``alt_response``, without its pass-through wrapper."""
        return _documented(super().alt_response(*args, **kwargs))

    def body(self, schema: type[ma.Schema], *, example: dict[str, Any]) -> Callable[..., Any]:
        """Take ``schema`` as a JSON body or an equivalent HTML form, and document both.

        The form's schema is ``<Name>Form``, which the Api derives from the JSON one.
        """
        name = schema_name(schema)
        self.form_bodies.append(schema)
        # An instance: given the class, webargs would build a new schema for every request.
        as_json = self.arguments(schema(), example=example)
        as_form = self.doc(
            requestBody={
                "content": {FORM: {"schema": {"$ref": f"#/components/schemas/{name}Form"}}}
            }
        )
        return lambda func: as_form(as_json(func))

    def operation(self, operation_id: str, **links: dict[str, Any]) -> Callable[..., Any]:
        """Name the operation, and link its 200 answer to the operations that can use it.

        Each keyword is a target operation's id, with its link's ``parameters`` and
        ``requestBody`` (OpenAPI links: Swagger UI shows them, and Schemathesis's stateful phase
        follows them, e.g. from an issuance to the lookup and deletion of that key).
        """
        doc: dict[str, Any] = {"operationId": operation_id}
        if links:
            targets = {name: {"operationId": name, **link} for name, link in links.items()}
            doc["responses"] = {200: {"links": targets}}  # 200: the key @response uses
        decorator: Callable[..., Any] = self.doc(**doc)
        return decorator

    def idempotent(
        self, *headers: dict[str, Any], example: str | None = None
    ) -> Callable[..., Any]:
        """Make the operation honour Idempotency-Key (api.idempotency; above the body and the
        limits: a replay runs neither) and document the header, with an ``example`` where every
        call should send one, and any other ``headers`` parameters it takes (one list: a second
        doc() would replace it)."""
        key = IDEMPOTENCY_KEY if example is None else {**IDEMPOTENCY_KEY, "example": example}
        document = self.doc(parameters=[key, *headers])
        return lambda func: document(idempotent(func))

    def long_request_line(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Document gunicorn's 414 on an operation whose path or query the caller fills in."""
        documented: Callable[..., Any] = self.doc(responses={"414": REQUEST_LINE_TOO_LONG})(func)
        return documented

    def errors(
        self, *codes: str, examples: dict[str, dict[str, Any]] | None = None
    ) -> Callable[..., Any]:
        """Document the given error codes, grouped by status, each with an example.

        ``examples`` adds fields to some codes' examples (say, the payment of a decline).
        """
        by_status: dict[int, list[str]] = defaultdict(list)
        for code in codes:
            by_status[ERRORS[code].status].append(code)
        extra = examples or {}

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            for status, status_codes in by_status.items():
                func = self.alt_response(
                    status,
                    schema=ErrorSchema,
                    headers=RETRY_AFTER if status in _RETRY_AFTER_STATUSES else None,
                    description=" or ".join(f"`{c}`: {ERRORS[c].message}" for c in status_codes),
                    examples={
                        c: {"value": {**_error_example(c), **extra.get(c, {})}}
                        for c in status_codes
                    },
                )(func)
            return func

        return decorator


def _documented(wrapping: Callable[..., Any]) -> Callable[..., Any]:
    """A documentation-only decorator of flask-smorest's that leaves the function as it is.

    flask-smorest's ``doc`` and ``alt_response`` wrap the function in a frame that only calls it,
    on every request (an issuance had about twenty of them: each error status is one
    ``alt_response``); what they add is the wrapper's ``_apidoc``. This takes that ``_apidoc``,
    exactly as flask-smorest built it, and puts it on the function itself.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        func._apidoc = wrapping(func)._apidoc  # type: ignore[attr-defined]
        return func

    return decorator


def _error_example(code: str) -> dict[str, Any]:
    example: dict[str, Any] = {
        "status": "failed",
        "code": code,
        "message": ERRORS[code].message,
        "request_id": "5f0c6d1e9a8b4c2d",
    }
    if code == "invalid_request":
        example["errors"] = {"card_number": ["Not a valid card number."]}
    if code == "card_rejected":
        example["message"] = (
            "카드정보 인증 및 빌키 발급에 실패하였습니다. [8102]거래정지된 카드입니다."
        )
        example["gateway_code"] = -1
    return example


# Swagger UI's JS and CSS come from the flask-swagger-ui wheel, so /docs works with no internet.
swagger_ui_assets = flask.Blueprint(
    "swagger_ui_assets",
    __name__,
    static_folder=str(files("flask_swagger_ui") / "dist"),
    static_url_path="/docs/static",
)
