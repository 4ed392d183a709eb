"""What a request may carry: a body of at most 16 KiB, and no card number in its URL."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote_plus

from flask import Flask, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from ..config.values import Network
from .fields import card_digits, holds_card_number, luhn_valid

MAX_BODY_BYTES = 16 * 1024

# 13 to 19 digits, possibly grouped by single spaces or dashes: how card numbers get written.
_CARD_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


class CardDataInUrl(BadRequest):
    """A card number in the query string: refused, since URLs end up in logs."""

    error_code = "card_data_in_url"


def init_app(app: Flask) -> None:
    # One byte over the limit: werkzeug silently truncates a chunked body at exactly
    # MAX_CONTENT_LENGTH, so the cap lets one extra byte through for _refuse_oversized to see.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1
    app.before_request(_refuse_oversized)
    app.before_request(_refuse_card_data_in_url)


def _refuse_oversized() -> None:
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        if len(request.get_data(cache=True)) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
    elif (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()


def _refuse_card_data_in_url() -> None:
    query = unquote_plus(request.query_string.decode("latin-1"))
    # Any Luhn-valid run as card numbers are written (spaces, dashes), and any card number as
    # ids are refused for holding one (dots and underscores between its digits too).
    if holds_card_number(query):
        raise CardDataInUrl()
    for match in _CARD_LIKE.finditer(query):
        if luhn_valid(card_digits(match.group())):
            raise CardDataInUrl()


def client_address(trusted_proxies: frozenset[Network]) -> str:
    """The address the request came from: the peer's, or, when the peer is a trusted proxy,
    the last address its X-Forwarded-For names that is not one (each proxy appends the
    address it got the request from; only the ones added by trusted proxies are believed)."""
    address = request.remote_addr or ""
    if not within(address, trusted_proxies):
        return address
    forwarded = request.headers.get("X-Forwarded-For", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not within(hop, trusted_proxies):
            return hop
    return address


def within(address: str, networks: frozenset[Network]) -> bool:
    """Whether ``address`` is in one of ``networks`` (an unreadable address is in none)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
