"""Reading a provider's JSON fields into the models' types, whichever the provider: strings,
whole amounts, masked card numbers. A malformed field is UnexpectedResponse, in the provider's
name (``provider``: "I'mport", "PortOne")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .exceptions import UnexpectedResponse


def optional_str(data: Mapping[str, Any], key: str, provider: str) -> str | None:
    """A string, or None when absent or null; a number is read as its text."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise UnexpectedResponse(f"{provider} returned a malformed {key}.")


def money(data: Mapping[str, Any], key: str, provider: str, default: int | None = None) -> int:
    """A whole amount. JSON numbers: KRW amounts are integers, but nothing stops a 1000.0."""
    value = data.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnexpectedResponse(f"{provider} returned a malformed {key}.")
    return value


def is_whole(value: Any) -> bool:
    """A JSON integer (JSON's true and false are not numbers, though Python's bools are)."""
    return isinstance(value, int) and not isinstance(value, bool)


def mask_card_number(number: str | None) -> str | None:
    """Return a provider's masked number as is, or mask it ourselves if it arrived in clear.

    Providers mask digits 7-12, showing at most the first six and last four (what PCI DSS allows
    to keep); a number with no mask at all, or showing more digits than those ten, would be a
    provider fault, and we still must not pass it on: only its last four are shown.
    """
    digits = "".join(c for c in number or "" if c.isdigit())
    if number is None or ("*" in number and len(digits) <= 10):
        return number
    length = len(digits) + number.count("*")
    return "*" * (length - 4) + digits[-4:] if len(digits) > 4 else number
