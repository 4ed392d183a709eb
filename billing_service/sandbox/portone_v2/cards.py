"""PortOne V2's card rules: the credential it takes (digits, two-digit year and month) and the
`Card` it reports, on the shared card rules and magic numbers (`sandbox/cards.py`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import cards
from .channels import Channel

_DIGITS = re.compile(r"\d+")
_TWO_DIGITS = re.compile(r"\d{2}")
CREDENTIAL_FIELDS = (
    "number",
    "expiryYear",
    "expiryMonth",
    "birthOrBusinessRegistrationNumber",
    "passwordTwoDigits",
)

# The shared fake BIN table's card companies under V2's names (`Card.issuer`, `Card.publisher`),
# by their 금융결제원 codes.
V2_ISSUERS: dict[str, str] = {
    "361": "BC_CARD",
    "366": "SHINHAN_CARD",
    "367": "HYUNDAI_CARD",
    "381": "KOOKMIN_CARD",
}
_BRANDS = {"4": "VISA", "5": "MASTER"}  # any other first digit: a domestic (LOCAL) card


@dataclass(frozen=True)
class Credential:
    """A card credential as V2 takes it, its shape checked (the values are judged later)."""

    digits: str
    year: int
    month: int
    birth: str | None
    password: str | None


def read_credential(body: dict[str, Any]) -> Credential | str:
    """`method.card.credential` of an issuance; why it is malformed (400) otherwise."""
    method = body.get("method")
    card = method.get("card") if isinstance(method, dict) else None
    credential = card.get("credential") if isinstance(card, dict) else None
    if not isinstance(credential, dict):
        return "method.card.credential is required"
    values = {name: credential.get(name) for name in CREDENTIAL_FIELDS}
    if any(value is not None and not isinstance(value, str) for value in values.values()):
        return "credential fields must be strings"
    number, year, month = values["number"], values["expiryYear"], values["expiryMonth"]
    if not isinstance(number, str) or not _DIGITS.fullmatch(number):
        return "credential.number must be digits only"
    if not isinstance(year, str) or not isinstance(month, str):
        return "credential.expiryYear and expiryMonth are required"
    if not _TWO_DIGITS.fullmatch(year) or not _TWO_DIGITS.fullmatch(month):
        return "credential.expiryYear and expiryMonth must be two digits each"
    birth, password = values["birthOrBusinessRegistrationNumber"], values["passwordTwoDigits"]
    return Credential(number, 2000 + int(year), int(month), birth, password)


def card_number_valid(digits: str) -> bool:
    """14 to 16 digits passing the Luhn check (the card company's first check)."""
    return 14 <= len(digits) <= 16 and cards.luhn_valid(digits)


def card_json(digits: str, corporate: bool, channel: Channel) -> dict[str, Any]:
    """The `Card` PortOne reports for a key and its payments: masked, never the number."""
    brand = cards.card_brand(digits)
    issuer = V2_ISSUERS[brand.code]
    card: dict[str, Any] = {
        "publisher": issuer,
        "issuer": issuer,
        "brand": _BRANDS.get(digits[0], "LOCAL"),
        "ownerType": "CORPORATE" if corporate else "PERSONAL",
        "bin": digits[:6],
        "name": brand.name,
        "number": cards.mask_card_number(digits),
    }
    # Inicis does not report credit/check (the I'mport sandbox's null card_type).
    if channel.pg_provider != "INICIS_V2":
        card["type"] = "DEBIT" if brand.card_type == cards.CHECK else "CREDIT"
    return card


def card_shapes(body: dict[str, Any] | None) -> dict[str, str]:
    """The format of each credential field sent, digits as ``d``, for the call log."""
    method = (body or {}).get("method")
    card = method.get("card") if isinstance(method, dict) else None
    credential = card.get("credential") if isinstance(card, dict) else None
    if not isinstance(credential, dict):
        return {}
    return {
        name: cards.shape(value)
        for name in CREDENTIAL_FIELDS
        if isinstance(value := credential.get(name), str)
    }
