"""I'mport's card-data rules: the formats it takes, expiry, birth and password, the PG choice
(Luhn, masking, brands and the magic numbers are every fake's: `sandbox/cards.py`)."""

from __future__ import annotations

import re

# The rules and magic numbers every fake shares, re-exported: I'mport's modules and tests
# name them from here.
from ..cards import CHARGE_DECLINE as CHARGE_DECLINE
from ..cards import CHARGE_REFUSE as CHARGE_REFUSE
from ..cards import FAULT_HANG as FAULT_HANG
from ..cards import FAULT_HTML as FAULT_HTML
from ..cards import FAULT_HTTP_500 as FAULT_HTTP_500
from ..cards import FAULT_RESET as FAULT_RESET
from ..cards import FAULT_TRICKLE as FAULT_TRICKLE
from ..cards import FAULTS as FAULTS
from ..cards import REFUSED_CARD as REFUSED_CARD
from ..cards import CardBrand, luhn_valid, month_not_past, shape
from ..cards import birth_valid as birth_valid
from ..cards import card_brand as shared_card_brand
from ..cards import charge_behaviour as charge_behaviour
from ..cards import mask_card_number as mask_card_number

# The docs ask for `dddd-dddd-dddd-dddd`; real clients also send 14-16 undashed digits
# (the Java sample does), and 14/15-digit cards (Diners/Amex) end in a short last group.
_DASHED_CARD = re.compile(r"\d{4}-\d{4}-\d{4}-\d{2,4}")
_PLAIN_CARD = re.compile(r"\d{14,16}")
_EXPIRY = re.compile(r"(\d{4})-?(\d{2})")

# --- PG selection ---
# `pg` in the request is "{provider}" or "{provider}.{MID}"; a missing or unknown provider
# silently falls back to the merchant's default PG (that is what the spec describes).
UNCONFIGURED_PG = "unconfigured"  # magic: "no API-billing PG configured" (code 1)
DEFAULT_PG_PROVIDER = "nice"
PG_DEFAULT_MIDS: dict[str, str] = {
    "nice": "nictest04m",  # NICE's public test MID, seen in real responses
    "kcp": "T0000",
    "daou": "sandbox_daou",
    "html5_inicis": "INIBillTst",
    "tosspayments": "sandbox_tosspayments",
    "ksnet": "sandbox_ksnet",
    "nice_v2": "sandbox_nice_v2",
    "welcome": "sandbox_welcome",
}


def parse_card_number(raw: str | None) -> str | None:
    """Return the bare digits of an acceptable card number, or None (format or Luhn failure)."""
    if not raw:
        return None
    if _DASHED_CARD.fullmatch(raw):
        digits = raw.replace("-", "")
    elif _PLAIN_CARD.fullmatch(raw):
        digits = raw
    else:
        return None
    return digits if luhn_valid(digits) else None


def expiry_valid(raw: str | None, now: int) -> bool:
    """Accept `YYYY-MM` / `YYYYMM` with a real month, not before the current month in KST."""
    match = _EXPIRY.fullmatch(raw or "")
    if match is None:
        return False
    return month_not_past(int(match.group(1)), int(match.group(2)), now)


def card_brand(digits: str, pg_provider: str) -> CardBrand:
    """The shared fake BIN table's card company, as the PG reports it."""
    brand = shared_card_brand(digits)
    if pg_provider == "html5_inicis":
        # Inicis billing does not report credit/check, so the real API answers null.
        return CardBrand(brand.name, brand.code, None)
    return brand


def resolve_pg(pg: str | None) -> tuple[str, str]:
    """Return (pg_provider, pg_id) for a `pg` request value, falling back to the default PG."""
    provider, _, mid = (pg or "").partition(".")
    provider = provider.lower()
    if provider not in PG_DEFAULT_MIDS:
        return DEFAULT_PG_PROVIDER, PG_DEFAULT_MIDS[DEFAULT_PG_PROVIDER]
    return provider, mid or PG_DEFAULT_MIDS[provider]


def is_unconfigured_pg(pg: str | None) -> bool:
    """True for the magic `pg` value that simulates a merchant without an API-billing PG."""
    return (pg or "").partition(".")[0].lower() == UNCONFIGURED_PG


CARD_FIELDS = ("card_number", "expiry", "birth", "pwd_2digit")


def card_shapes(body: dict[str, object] | None) -> dict[str, str]:
    """The format of each card field sent, digits as ``d`` (``dddd-dddd-dddd-dddd``).

    Lets a test check the format a client sends without the sandbox keeping any card data.
    """
    return {
        name: shape(value)
        for name in CARD_FIELDS
        if isinstance(value := (body or {}).get(name), str)
    }
