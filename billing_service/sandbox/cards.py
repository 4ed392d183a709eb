"""The card rules every provider's fake shares: Luhn, masking, the fake BIN table, the expiry
month in Korea, and the magic card numbers (the same in every fake, so one test gives one
outcome under every provider).

How a card is sent (I'mport's `dddd-dddd-dddd-dddd` and `YYYY-MM`, PortOne V2's digits and
two-digit year and month) and how a refusal is worded stay the provider's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

# Expiry is judged against the calendar in Korea, where the card companies are; a card
# expiring "this month" is still valid for the whole KST month.
from . import faults
from .clock import KST_OFFSET_SECONDS

_BIRTH = re.compile(r"\d{6}|\d{10}")
_PWD_2DIGIT = re.compile(r"\d{2}")

# --- Magic card numbers (all Luhn-valid, 16 digits) ---
# Kept as bare digits: requests are normalised before lookup.
REFUSED_CARD = "4000000000000002"  # card company refuses the issuance: [8102] 거래정지된 카드
FAULT_HTTP_500_CARD = "4000000000000010"  # HTTP 500 before anything is stored
FAULT_HANG_CARD = "4000000000000028"  # issued at once, success answered after hang_seconds
FAULT_HTML_CARD = "4000000000000036"  # HTTP 200 text/html maintenance page
FAULT_RESET_CARD = "4000000000000044"  # TCP RST without any answer
FAULT_TRICKLE_CARD = "4000000000000051"  # issued at once, success answered a byte at a time

FAULT_HTTP_500 = "http_500"
FAULT_HANG = faults.HANG  # as `faults.slowed` reads it
FAULT_HTML = "html"
FAULT_RESET = "reset"
FAULT_TRICKLE = faults.TRICKLE

FAULTS: dict[str, str] = {
    FAULT_HTTP_500_CARD: FAULT_HTTP_500,
    FAULT_HANG_CARD: FAULT_HANG,
    FAULT_HTML_CARD: FAULT_HTML,
    FAULT_RESET_CARD: FAULT_RESET,
    FAULT_TRICKLE_CARD: FAULT_TRICKLE,
}

# --- Magic charge cards: issuing the key succeeds, the card decides every later charge ---
# The key remembers only the resulting behaviour flag, never the number.
DECLINING_CARD = "4000000000000341"  # charges declined by the card company: [8326] 카드 한도초과
REFUSING_CARD = "4000000000009995"  # charges refused by the PG: [2116] 개인 월 한도금액 초과

CHARGE_APPROVE = "approve"
CHARGE_DECLINE = "decline"
CHARGE_REFUSE = "refuse"

_CHARGE_BEHAVIOURS: dict[str, str] = {
    DECLINING_CARD: CHARGE_DECLINE,
    REFUSING_CARD: CHARGE_REFUSE,
}

# The card companies' codes and words for the magic refusals and declines (pyconapac-2016 #21
# for 2116), shared so a V1 `fail_reason` and a V2 `pgCode`/`pgMessage` tell the same story.
REFUSED_CODE, REFUSED_TEXT = "8102", "거래정지된 카드입니다."
DECLINED_CODE, DECLINED_TEXT = "8326", "카드 한도초과"
REFUSING_CODE, REFUSING_TEXT = "2116", "개인 월 한도금액 초과"


@dataclass(frozen=True)
class CardBrand:
    """What the PG reports about a card: name, 금융결제원 company code and credit/check type."""

    name: str
    code: str
    card_type: int | None  # 0 credit, 1 check/debit, None when the PG does not say


CREDIT, CHECK = 0, 1
BC = CardBrand("BC카드", "361", CREDIT)
_BRANDS_BY_FIRST_DIGIT: dict[str, CardBrand] = {
    "4": CardBrand("현대카드", "367", CREDIT),
    "5": CardBrand("KB국민카드", "381", CREDIT),
    "3": BC,
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


def month_not_past(year: int, month: int, now: int) -> bool:
    """A real month that is not before the current month in KST (an expiry still valid)."""
    if not 1 <= month <= 12:
        return False
    today = time.gmtime(now + KST_OFFSET_SECONDS)
    return (year, month) >= (today.tm_year, today.tm_mon)


def birth_valid(birth: str | None, password: str | None) -> bool:
    """Check birth (YYMMDD, or a 10-digit business number for corporate cards) and the password's
    first two digits.

    Corporate cards (10-digit business number) may omit the password, as the old official
    Node client and the Ruby README allow; personal cards (6-digit birth) must send it.
    """
    if birth is None or not _BIRTH.fullmatch(birth):
        return False
    if password is None or password == "":
        return len(birth) == 10
    return _PWD_2DIGIT.fullmatch(password) is not None


def shape(value: str) -> str:
    """The format of a card field, every digit written ``d`` and any other character but a space
    or a dash ``x`` (``dddd-dddd-dddd-dddd``), so the call log can show what a client sends
    without the sandbox keeping any card data."""
    return re.sub(r"[0-9]", "d", re.sub(r"[^0-9 -]", "x", value))


def charge_behaviour(digits: str) -> str:
    """How charges with a billing key issued for this card end (one of the CHARGE_* flags)."""
    return _CHARGE_BEHAVIOURS.get(digits, CHARGE_APPROVE)


def mask_card_number(digits: str) -> str:
    """Mask like the common PG format `424242******4242`: keep first 6 and last 4 digits."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def card_brand(digits: str) -> CardBrand:
    """Pick a deterministic card company from the first digit (a fake BIN table)."""
    return _BRANDS_BY_FIRST_DIGIT.get(digits[0], BC)
