"""Property tests of the request validators, through the Flask test client and the sandbox.

Whatever the body (any JSON value, odd field values, unicode, escaped lone surrogates, huge
numbers, nesting, card-like strings anywhere, or an HTML form), the answer is 200 or a 4xx,
never a 5xx; every error has the documented shape; and no error body holds a card number that
was sent, whatever separators were put between its digits.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_service import create_app
from billing_service.api.error_kinds import ERRORS
from billing_service.api.fields import luhn_valid
from billing_service.resources.billing_keys.schemas import IssueBillingKeySchema
from billing_service.resources.payments.schemas import CancelSchema, ChargeSchema
from billing_service.sandbox.iamport_v1.cards import FAULTS

from ..support import CALLER_KEY, NO_LIMITS, VALID_BODY, service_env

ISSUE = "/subscriptions/issue-billing"
CHARGES = "/subscriptions/payments"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

# Derandomized: the same examples on every run, so CI is reproducible; a few seconds in all.
PROPERTIES = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def client(sandbox_server):
    """One app for the module (Hypothesis runs each test many times over it)."""
    sandbox_server.admin("POST", "reset")
    app = create_app(service_env(sandbox_server.url, **NO_LIMITS))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {CALLER_KEY}"
    # A key to charge, and a paid payment to cancel, so that valid requests get somewhere.
    assert client.post(ISSUE, json=VALID_BODY).status_code == 200
    return client


@pytest.fixture(scope="module")
def imp_uid(client) -> str:
    paid = client.post(
        CHARGES,
        json={
            "customer_uid": VALID_BODY["customer_uid"],
            "merchant_uid": "property-tests",
            "amount": 999_999_999,
            "name": "property tests",
        },
    )
    assert paid.status_code == 200
    return str(paid.get_json()["payment"]["imp_uid"])


# --- Card numbers ------------------------------------------------------------------------------


def _with_check_digit(digits: str) -> str:
    return next(digits + d for d in "0123456789" if luhn_valid(digits + d))


def _with_wrong_check_digit(digits: str) -> str:
    return digits + str((int(_with_check_digit(digits)[-1]) + 1) % 10)


# 13-19 digits, mostly the 14-16 the service takes; Luhn-valid or not (most random ones are not).
# Not the sandbox's fault cards (Hypothesis soon finds 4000000000000044): their 502/503/504 are
# the documented answers to the I'mport faults they simulate, not the service's own failures.
card_digits = st.one_of(
    st.text("0123456789", min_size=13, max_size=15).map(_with_check_digit),
    st.text("0123456789", min_size=13, max_size=15).map(_with_wrong_check_digit),
    st.text("0123456789", min_size=12, max_size=18).map(_with_check_digit),
    st.text("0123456789", min_size=13, max_size=19),
).filter(lambda digits: digits not in FAULTS)
TAKEN = ["-", " "]  # the separators the service takes, one at a time
ODD = ["  ", "--", ".", "/", "\t", "\n", "\u00a0", "\u2013", "\u200b"]


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A card-like string: digits, maybe grouped with separators, maybe in full-width digits."""
    digits = draw(card_digits)
    style = draw(st.sampled_from(["plain", "groups of 4", "anywhere"]))
    odd = draw(st.integers(0, 3)) == 0
    if style == "groups of 4":  # 4242-4242-4242-4242, or with another separator
        sep = draw(st.sampled_from(ODD if odd else TAKEN))
        text = sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    elif style == "anywhere":
        seps = st.sampled_from(["", "", *(ODD if odd else TAKEN)])
        between = draw(st.lists(seps, min_size=len(digits), max_size=len(digits)))
        text = digits[0] + "".join(s + d for s, d in zip(between, digits[1:], strict=False))
    else:
        text = digits
    if draw(st.integers(0, 9)) == 0:  # full-width digits, which int() would take
        text = text.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    return text


# --- Any JSON ----------------------------------------------------------------------------------

lone_surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
any_text = st.one_of(
    st.text(),
    st.text(st.characters(codec="utf-8")),
    st.text(st.characters(max_codepoint=0x9F)),  # control characters, C0 and C1
    lone_surrogates.map(lambda s: "서울" + s),
    st.text(min_size=1).map(lambda s: s * 200),  # long
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**12, 10**15, 10**18, 999_999_999_999]),
    st.floats(),  # NaN and infinities too (json.dumps writes them as NaN and Infinity)
    any_text,
    card_numbers(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), card_numbers()), inner, max_size=4),
    ),
    max_leaves=12,
)


def _cards_in(value: Any) -> list[str]:
    """Every card-like string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value] if len(re.sub(r"\D", "", value)) >= 13 else []
    if isinstance(value, list):
        return [card for item in value for card in _cards_in(item)]
    if isinstance(value, dict):
        return [card for k, v in value.items() for card in _cards_in(k) + _cards_in(v)]
    return []


@st.composite
def bodies(draw: st.DrawFn, schema: type, base: dict[str, Any], card_field: str | None) -> Any:
    """A body: ``base`` with fields replaced, removed or added, or any JSON value at all."""
    if draw(st.integers(0, 5)) == 0:
        return draw(json_values)
    body = dict(base)
    names = [*schema().fields, "surprise"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(json_values)
    if card_field is not None and draw(st.integers(0, 3)) > 0:
        body[card_field] = draw(card_numbers())
    if draw(st.integers(0, 9)) == 0:  # a card number as an unknown field's name
        body[draw(card_numbers())] = "x"
    return body


@st.composite
def requests_for(
    draw: st.DrawFn, schema: type, base: dict[str, Any], card_field: str | None = None
) -> tuple:
    """(raw body, content type, card-like strings it carries)."""
    body = draw(bodies(schema, base, card_field))
    cards = _cards_in(body)
    kind = draw(st.sampled_from(["json", "json", "json-unicode", "form", "deep", "broken"]))
    if kind == "form" and isinstance(body, dict):
        pairs = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in body.items()]
        if pairs and draw(st.booleans()):
            pairs.append(draw(st.sampled_from(pairs)))  # a field sent twice
        raw = urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()
        return raw, FORM, cards
    if kind == "deep":  # nesting far past Python's recursion limit, within 16 KiB
        depth = draw(st.integers(1, 8000))
        return b'{"card_number": ' + b"[" * depth + b"]" * depth + b"}", JSON, cards
    text = json.dumps(body, ensure_ascii=kind != "json-unicode")
    if kind == "broken":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    # Lone surrogates written raw (not escaped) are not UTF-8: the body is then unreadable.
    return text.encode("utf-8", "surrogatepass"), JSON, cards


# --- What every answer must be -----------------------------------------------------------------

ERROR_FIELDS = {"status", "code", "message", "request_id", "errors", "gateway_code", "payment"}
ERROR_FIELDS |= {"retryable"}


def check(resp: Any, cards: list[str]) -> None:
    status = resp.status_code
    assert status == 200 or 400 <= status < 500, (status, resp.get_data(as_text=True))
    if status == 200:
        return
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body, dict) and set(body) <= ERROR_FIELDS, body
    assert body["status"] == "failed"
    assert ERRORS[body["code"]].status == status, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["request_id"], str) and body["request_id"]
    if "errors" in body:
        assert body["code"] == "invalid_request"
        assert all(isinstance(f, str) and isinstance(m, list) for f, m in body["errors"].items())
    for card in cards:
        assert not echoed(card, resp), (card, body)


def echoed(card: str, resp: Any) -> bool:
    """Whether ``card``, or its digits whatever sits between them, is in the JSON answer."""
    text = "\n".join(_strings(resp.get_json()))  # JSON escapes undone
    ascii_digits = re.sub(r"\D", "", card).translate(
        {0xFF10 + d: str(d) for d in range(10)}
    )  # full-width digits count as theirs
    # Between the digits: separators as sent, or as escaped (a repr writes a tab as \t).
    digits_anywhere = "(?<![0-9])" + "[^0-9]{0,4}".join(ascii_digits) + "(?![0-9])"
    return card in text or re.search(digits_anywhere, text) is not None


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for k, v in value.items() for text in [k, *_strings(v)]]
    return []


# --- The properties ----------------------------------------------------------------------------


@PROPERTIES
@given(request=requests_for(IssueBillingKeySchema, VALID_BODY, card_field="card_number"))
def test_issuance_answers_200_or_4xx_and_never_echoes_cards(client, request):
    raw, content_type, cards = request

    resp = client.post(ISSUE, data=raw, content_type=content_type)

    check(resp, cards)
    if resp.status_code == 200:  # only the masked number comes back
        assert re.fullmatch(
            r"[0-9]{6}\*{4,6}[0-9]{4}", resp.get_json()["billing_key"]["card_number"]
        )


CHARGE = {
    "customer_uid": VALID_BODY["customer_uid"],
    "merchant_uid": "order-1",
    "amount": 9900,
    "name": "월간 구독",
}


@PROPERTIES
@given(request=requests_for(ChargeSchema, CHARGE), merchant_uid=st.uuids())
def test_charges_answer_200_or_4xx_and_never_echo_cards(client, request, merchant_uid):
    raw, content_type, cards = request
    # A fresh merchant_uid for bodies that keep the base one: some charges go through.
    raw = raw.replace(b"order-1", str(merchant_uid).encode())

    resp = client.post(CHARGES, data=raw, content_type=content_type)

    check(resp, cards)


@PROPERTIES
@given(request=requests_for(CancelSchema, {"reason": "고객 요청", "amount": 1}))
def test_cancels_answer_200_or_4xx_and_never_echo_cards(client, imp_uid, request):
    raw, content_type, cards = request

    resp = client.post(f"{CHARGES}/{imp_uid}/cancel", data=raw, content_type=content_type)

    check(resp, cards)


@PROPERTIES
@given(
    request=requests_for(CancelSchema, {"reason": "고객 요청"}),
    uid=st.one_of(card_numbers(), st.text()),
)
def test_cancels_of_any_id_answer_404_or_4xx(client, request, uid):
    raw, content_type, cards = request
    path = f"{CHARGES}/{uid.replace('/', '')}/cancel"

    resp = client.post(path, data=raw, content_type=content_type)

    check(resp, [*cards, uid] if _cards_in(uid) else cards)


# A card number inside some text: around it, nothing, words, or characters the fields refuse.
AROUND = st.sampled_from(["", "", "", " ", "card ", "\t", "\n", "\x00", "\x7f", "\u0085", "\u200b"])
card_in_text = st.builds(lambda a, card, b: a + card + b, AROUND, card_numbers(), AROUND)
ENDPOINTS = {
    "issue": (ISSUE, IssueBillingKeySchema, VALID_BODY),
    "charge": (CHARGES, ChargeSchema, CHARGE),
    "cancel": (f"{CHARGES}/unknown_payment/cancel", CancelSchema, {"reason": "x"}),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@PROPERTIES
@given(value=card_in_text, data=st.data())
def test_a_card_number_in_any_field_is_never_echoed(client, endpoint, value, data):
    url, schema, base = ENDPOINTS[endpoint]
    field = data.draw(st.sampled_from([*sorted(schema().fields), "surprise"]))

    resp = client.post(url, json={**base, field: value})

    check(resp, [value])


def test_the_generators_produce_luhn_valid_card_numbers_with_separators():
    found = []

    @settings(max_examples=200, derandomize=True, database=None)
    @given(card=card_numbers())
    def collect(card):
        digits = re.sub(r"\D", "", card)
        if digits.isascii() and luhn_valid(digits) and digits != card:
            found.append(card)

    collect()
    assert len(found) > 10
