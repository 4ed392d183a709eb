"""Card-data rules of the sandbox: format, Luhn, expiry, masking, brand, PG, magic numbers."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

# Expiry is judged against the calendar in Korea, where the card companies are; a card
# expiring "this month" is still valid for the whole KST month.
from ..clock import KST_OFFSET_SECONDS

# The docs ask for `dddd-dddd-dddd-dddd`; real clients also send 14-16 undashed digits
# (the Java sample does), and 14/15-digit cards (Diners/Amex) end in a short last group.
_DASHED_CARD = re.compile(r"\d{4}-\d{4}-\d{4}-\d{2,4}")
_PLAIN_CARD = re.compile(r"\d{14,16}")
_EXPIRY = re.compile(r"(\d{4})-?(\d{2})")
_BIRTH = re.compile(r"\d{6}|\d{10}")
_PWD_2DIGIT = re.compile(r"\d{2}")

# --- Magic card numbers (all Luhn-valid, 16 digits, accepted dashed or undashed) ---
# Kept as bare digits: requests are normalised before lookup.
REFUSED_CARD = "4000000000000002"  # card company refuses: [8102] 거래정지된 카드
FAULT_HTTP_500_CARD = "4000000000000010"  # HTTP 500 with an envelope body
FAULT_HANG_CARD = "4000000000000028"  # issued at once, success answered after hang_seconds
FAULT_HTML_CARD = "4000000000000036"  # HTTP 200 text/html maintenance page
FAULT_RESET_CARD = "4000000000000044"  # TCP RST without any answer
FAULT_TRICKLE_CARD = "4000000000000051"  # issued at once, success answered a byte at a time

FAULT_HTTP_500 = "http_500"
FAULT_HANG = "hang"
FAULT_HTML = "html"
FAULT_RESET = "reset"
FAULT_TRICKLE = "trickle"

FAULTS: dict[str, str] = {
    FAULT_HTTP_500_CARD: FAULT_HTTP_500,
    FAULT_HANG_CARD: FAULT_HANG,
    FAULT_HTML_CARD: FAULT_HTML,
    FAULT_RESET_CARD: FAULT_RESET,
    FAULT_TRICKLE_CARD: FAULT_TRICKLE,
}

# --- Magic charge cards: issuing the key succeeds, the card decides every later charge ---
# The key remembers only the resulting behaviour flag, never the number.
DECLINING_CARD = "4000000000000341"  # charges declined by the card company: code 0 + `failed`
REFUSING_CARD = "4000000000009995"  # charges refused before a payment exists: code -1

CHARGE_APPROVE = "approve"
CHARGE_DECLINE = "decline"
CHARGE_REFUSE = "refuse"

_CHARGE_BEHAVIOURS: dict[str, str] = {
    DECLINING_CARD: CHARGE_DECLINE,
    REFUSING_CARD: CHARGE_REFUSE,
}

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


@dataclass(frozen=True)
class CardBrand:
    """What the PG reports about a card: name, 금융결제원 company code and credit/check type."""

    name: str
    code: str
    card_type: int | None  # 0 credit, 1 check/debit, None when the PG does not say


CREDIT, CHECK = 0, 1
_BC = CardBrand("BC카드", "361", CREDIT)
_BRANDS_BY_FIRST_DIGIT: dict[str, CardBrand] = {
    "4": CardBrand("현대카드", "367", CREDIT),
    "5": CardBrand("KB국민카드", "381", CREDIT),
    "3": _BC,
    "9": CardBrand("신한카드", "366", CHECK),
}


def luhn_valid(digits: str) -> bool:
    """Return True when the digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(prefix: str) -> str:
    """Return the digit that makes `prefix + digit` Luhn-valid."""
    for digit in "0123456789":
        if luhn_valid(prefix + digit):
            return digit
    raise AssertionError("unreachable: one of ten digits always completes a Luhn number")


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
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return False
    today = time.gmtime(now + KST_OFFSET_SECONDS)
    return (year, month) >= (today.tm_year, today.tm_mon)


def birth_valid(birth: str | None, pwd_2digit: str | None) -> bool:
    """Check birth (YYMMDD, or a 10-digit business number for corporate cards) and pwd_2digit.

    Corporate cards (10-digit business number) may omit the password, as the old official
    Node client and the Ruby README allow; personal cards (6-digit birth) must send it.
    """
    if birth is None or not _BIRTH.fullmatch(birth):
        return False
    if pwd_2digit is None or pwd_2digit == "":
        return len(birth) == 10
    return _PWD_2DIGIT.fullmatch(pwd_2digit) is not None


def charge_behaviour(digits: str) -> str:
    """How charges with a billing key issued for this card end (one of the CHARGE_* flags)."""
    return _CHARGE_BEHAVIOURS.get(digits, CHARGE_APPROVE)


def mask_card_number(digits: str) -> str:
    """Mask like the common PG format `424242******4242`: keep first 6 and last 4 digits."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def card_brand(digits: str, pg_provider: str) -> CardBrand:
    """Pick a deterministic card company from the first digit (a fake BIN table)."""
    brand = _BRANDS_BY_FIRST_DIGIT.get(digits[0], _BC)
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
        name: re.sub(r"[0-9]", "d", re.sub(r"[^0-9 -]", "x", value))
        for name in CARD_FIELDS
        if isinstance(value := (body or {}).get(name), str)
    }
