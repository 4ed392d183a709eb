"""Request bodies: JSON or an HTML form, read the same way, and a field read before validation."""

from __future__ import annotations

import re
from typing import Any, NoReturn

import marshmallow as ma
from flask import request
from webargs.core import is_json
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from .http_errors import InvalidJson, UnsupportedBody

FORM = "application/x-www-form-urlencoded"


class BodyParser(FlaskParser):
    """Reads the ``json`` location from a JSON body or an HTML form; anything else is a 415.

    flask-smorest's ``json_or_form`` location would document the fields as invalid
    ``in: json_or_form`` parameters, so routes declare ``json`` and this parser accepts both.
    """

    def load_json(self, req: Any, schema: ma.Schema) -> Any:
        if is_json(req.mimetype):
            try:
                return super().load_json(req, schema)
            # Absurd nesting, or an integer longer than Python will parse (4300 digits).
            except (RecursionError, ValueError) as exc:
                raise InvalidJson() from exc
        if req.mimetype == FORM:
            repeated = [name for name in req.form if len(req.form.getlist(name)) > 1]
            if repeated:  # which of the values was meant is anyone's guess
                raise ma.ValidationError({name: ["Sent more than once."] for name in repeated})
            return _form_values(req.form, schema)
        raise UnsupportedBody()

    def _handle_invalid_json_error(
        self, error: Exception, req: Any, *args: Any, **kwargs: Any
    ) -> NoReturn:
        raise InvalidJson() from error


def body_fields(names: tuple[str, ...]) -> dict[str, str]:
    """The string fields among ``names`` of the JSON or form body, read before (and whatever)
    validation says."""
    try:
        body: Any = request.get_json(silent=True) if request.is_json else request.form
    # Absurd nesting, or a body too large to read: the request is refused anyway.
    except (RecursionError, HTTPException):
        return {}
    if not hasattr(body, "get"):
        return {}
    return {name: value for name in names if isinstance(value := body.get(name), str)}


def _form_values(form: Any, schema: ma.Schema) -> dict[str, Any]:
    """The form's fields but the empty ones (a blank input counts as absent), with integer
    fields' digits turned into integers (a form is all text)."""
    values: dict[str, Any] = {name: value for name, value in form.items() if value != ""}
    for name, field in schema.fields.items():
        if isinstance(field, ma.fields.Integer) and re.fullmatch(
            "[0-9]{1,15}", values.get(name, "")
        ):
            values[name] = int(values[name])
    return values
