"""Field types and validators shared by the resources' schemas."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from marshmallow import validate
from werkzeug import routing


def constant(value: str) -> dict[str, Any]:
    """OpenAPI metadata for a ``Constant`` field, which apispec leaves untyped."""
    return {"type": "string", "enum": [value]}


class Pattern(validate.Regexp):
    """A regex that must match the whole value; ``$`` alone would let a trailing newline in.

    The pattern itself stays ECMA-compatible for the OpenAPI document.
    """

    def __init__(self, regex: str, *, error: str) -> None:
        super().__init__(regex, error=error)
        self._whole = re.compile(regex)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self._whole.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


# "." and ".." would be path segments that HTTP clients collapse, sending the card elsewhere.
UID_PATTERN = r"^(?!\.+$)[A-Za-z0-9._-]+$"
UID = Pattern(
    UID_PATTERN,
    error="Only letters, digits, '.', '_' and '-' are allowed, and not only dots.",
)


class IdConverter(routing.BaseConverter):
    """A ``customer_uid`` or ``imp_uid`` path segment: 1-80 of ``[A-Za-z0-9._-]``, not only dots.

    Anything else cannot name a key or a payment, so the route does not match (404).
    """

    regex = "[A-Za-z0-9._-]{1,80}"

    def to_python(self, value: str) -> str:
        if not value.strip("."):
            raise routing.ValidationError()
        return value


def id_parameter_schema(converter: IdConverter) -> dict[str, Any]:
    return {"type": "string", "pattern": UID_PATTERN, "minLength": 1, "maxLength": 80}


# What Text allows, for the OpenAPI document (ECMA syntax; lone surrogates cannot be written in
# UTF-8, so only JSON escapes can send them, and Text refuses them too).
TEXT_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"


class Text(ma.fields.String):
    """Printable text: no control characters (C0, DEL, C1) and no lone surrogates (not UTF-8)."""

    default_error_messages = {  # noqa: RUF012
        "unprintable": "Must not contain control characters or invalid Unicode.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": TEXT_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _UNPRINTABLE.search(text):
            raise self.make_error("unprintable")
        return text


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


# An e-mail address, plainly: up to 64 of [A-Za-z0-9._%+-], '@', an ASCII domain whose TLD is 2+
# letters. The pattern is the whole rule and the OpenAPI document gives no `format: email`, so that
# the document and the validator cannot disagree (`format: email` takes `a@b.c` and quoted local
# parts; marshmallow's Email does not). Kept simple: elaborate ones slow fuzzers down a lot.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$"


def email(max_length: int) -> ma.fields.String:
    """An optional e-mail address of at most ``max_length`` characters, holding no card
    number (see not_a_card_number)."""
    return ma.fields.String(
        validate=[
            validate.Length(max=max_length),
            Pattern(EMAIL_PATTERN, error="Not a valid email address."),
            not_a_card_number,
        ],
        metadata={"pattern": EMAIL_PATTERN, "description": "An e-mail address."},
    )


class WholeNumber(ma.fields.Integer):
    """A JSON integer: fractions, booleans and numbers in strings are refused, not coerced.

    (An HTML form's digits are turned into integers by the body parser.)
    """

    default_error_messages = {"invalid": "Not a valid integer."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self.make_error("invalid")


class RequestSchema(ma.Schema):
    """Base of request schemas: JSON and HTML-form bodies.

    A JSON body is taken as it is. In an HTML form a blank input is sent as an empty field; the
    body parser drops those (an empty form field counts as absent), and the form's OpenAPI schema
    says so.
    """


class QuerySchema(ma.Schema):
    """Base of query-string schemas: an empty free-text parameter (``?reason=``) counts as
    absent; an empty value of any other type (a time, a status, a boolean) is invalid, as the
    OpenAPI document says."""

    @ma.pre_load
    def drop_empty(self, data: Any, **kwargs: Any) -> Any:
        if hasattr(data, "items"):
            return {k: v for k, v in data.items() if v != "" or not self._free_text(k)}
        return data

    def _free_text(self, name: str) -> bool:
        field = self.fields.get(name)
        return isinstance(field, ma.fields.String) and not any(
            isinstance(rule, validate.OneOf) for rule in field.validators
        )


def card_digits(text: str) -> str:
    """The digits of a card number as people write it, grouped by spaces or dashes."""
    return _CARD_SEPARATORS.sub("", text)


_CARD_SEPARATORS = re.compile("[ -]")


def luhn_valid(digits: str) -> bool:
    """The card-number check digit test (ISO/IEC 7812)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """Whether ``digits`` could be a card number: 13-19 digits, a card network's prefix, and a
    valid check digit."""
    return 13 <= len(digits) <= 19 and _network_prefix(digits) and luhn_valid(digits)


def _network_prefix(digits: str) -> bool:
    # Visa 4; Mastercard 51-55 and 2221-2720; American Express 34, 37; JCB 3528-3589; Diners
    # 300-305, 36, 38; Discover, UnionPay and others 6; Korean domestic cards 9.
    two, four = int(digits[:2]), int(digits[:4])
    return (
        digits[0] in "469"
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 36, 37, 38)
        or 3528 <= four <= 3589
        or 300 <= int(digits[:3]) <= 305
    )


# A maximal run of digits, the spaces, dashes, dots and underscores between them ignored: how
# card numbers get written in text, and the separators an id may hold.
DIGIT_RUN = re.compile(r"[0-9](?:[ ._-]*[0-9])*")
_NOT_DIGITS = re.compile("[^0-9]")


def holds_card_number(text: str) -> bool:
    """Whether a maximal run of digits in ``text`` is a card number (see is_card_number)."""
    return any(is_card_number(_NOT_DIGITS.sub("", run)) for run in DIGIT_RUN.findall(text))


def not_a_card_number(value: str) -> str:
    """Validator of the ids and the free text a caller creates: a card number written there
    would be stored, logged and sent in events with the key or payment (PCI DSS 3.3)."""
    if holds_card_number(value):
        raise ma.ValidationError(NOT_A_CARD_NUMBER)
    return value


NOT_A_CARD_NUMBER = (
    "Must not hold a card number (13-19 digits, spaces, dashes, dots and underscores "
    "ignored, with a card network's prefix and a valid check digit)."
)
