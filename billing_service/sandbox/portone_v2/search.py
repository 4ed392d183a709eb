"""The searches: `GET /billing-keys`, `GET /payments` and `GET /payment-schedules` (a JSON body
or `?requestBody=`), with their default 90-day window, filters, newest-first order and pages.

A filter the sandbox does not implement answers 400 rather than being ignored, so a client
never mistakes an unfiltered page for a filtered one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..wire import Reply, Request, json_reply
from .wire import Context, invalid, is_int, parse_time, query_or_body, store_refusal

DEFAULT_WINDOW_SECONDS = 90 * 86_400  # `from` omitted: the past 90 days
DEFAULT_PAGE_SIZE = 10

_KEY_FILTERS = frozenset(
    {"storeId", "customerId", "status", "version", "timeRangeField", "from", "until"}
)
# The key's time each `timeRangeField` / `sort.by` reads (STATUS_TIMESTAMP: its latest change).
_KEY_TIMES: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "REQUESTED_AT": lambda info: info.get("requestedAt"),
    "ISSUED_AT": lambda info: info.get("issuedAt"),
    "DELETED_AT": lambda info: info.get("deletedAt"),
    "STATUS_TIMESTAMP": lambda info: info.get("deletedAt") or info.get("issuedAt"),
}
_SCHEDULE_FILTERS = frozenset({"storeId", "billingKey", "from", "until", "status", "isForTest"})
_SCHEDULE_SORTS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "CREATED_AT": lambda info: info["createdAt"],
    "TIME_TO_PAY": lambda info: info["timeToPay"],
    "COMPLETED_AT": lambda info: info.get("completedAt"),
    "STATUS_TIMESTAMP": lambda info: (
        info.get("revokedAt")
        or info.get("completedAt")
        or info.get("startedAt")
        or info["createdAt"]
    ),
}
_PAYMENT_FILTERS = frozenset(
    {"storeId", "from", "until", "timestampType", "status", "textSearch", "isTest", "version"}
    | {"sortBy", "sortOrder"}
)
_PAYMENT_TIMES = {"CREATED_AT": "requestedAt", "STATUS_CHANGED_AT": "statusChangedAt"}
_PAYMENT_SORTS = {"REQUESTED_AT": "requestedAt", "STATUS_CHANGED_AT": "statusChangedAt"}
# Text search fields the sandbox knows, and what each looks in (a substring match).
_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "ALL": ("id", "transactionId", "billingKey", "orderName"),
    "PAYMENT_ID": ("id",),
    "TX_ID": ("transactionId",),
    "BILLING_KEY": ("billingKey",),
    "ORDER_NAME": ("orderName",),
}


@dataclasses.dataclass(frozen=True)
class _Search:
    """A search request's parts every search reads, checked."""

    body: dict[str, Any]
    filter: dict[str, Any]
    number: int  # the page's
    size: int
    start: float  # the window on the search's time
    end: float
    statuses: frozenset[str] | None  # None: any

    def admits(self, moment: float | None, status: str) -> bool:
        """Whether an item at `moment` (its time the window applies to) in `status` matches."""
        if moment is None or not self.start <= moment <= self.end:
            return False
        return self.statuses is None or status in self.statuses


def _read(ctx: Context, req: Request, known: frozenset[str]) -> _Search | Reply:
    """The search's body, filter (of `known` filters only), page, window and statuses, or a
    400 (the first of: the body or page, an unknown filter or store, the window, the statuses)."""
    body = query_or_body(req)
    if isinstance(body, Reply):
        return body
    page, filter_ = body.get("page") or {}, body.get("filter") or {}
    if not isinstance(page, dict) or not isinstance(filter_, dict):
        return invalid("page and filter must be objects")
    number, size = page.get("number", 0), page.get("size", DEFAULT_PAGE_SIZE)
    if not is_int(number) or not is_int(size) or number < 0 or size < 1:
        return invalid("page.number must be an int >= 0 and page.size an int >= 1")
    refusal = _unsupported(filter_, known) or store_refusal(ctx, filter_.get("storeId"))
    window, statuses = _window(ctx, filter_), _statuses(filter_)
    if refusal is not None:
        return refusal
    if isinstance(window, Reply):
        return window
    if isinstance(statuses, Reply):
        return statuses
    return _Search(body, filter_, number, size, *window, statuses)


def _window(ctx: Context, filter_: dict[str, Any]) -> tuple[float, float] | Reply:
    now = ctx.state.now()
    start = parse_time(filter_["from"]) if "from" in filter_ else now - DEFAULT_WINDOW_SECONDS
    end = parse_time(filter_["until"]) if "until" in filter_ else now
    if start is None or end is None:
        return invalid("from and until must be RFC 3339 times")
    return start, end


def _statuses(filter_: dict[str, Any]) -> frozenset[str] | None | Reply:
    statuses = filter_.get("status")
    if statuses is None:
        return None
    if not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses):
        return invalid("filter.status must be a list of strings")
    return frozenset(statuses)


def _page(
    ctx: Context,
    matches: list[tuple[tuple[float, int], dict[str, Any]]],
    descending: bool,
    search: _Search,
) -> Reply:
    number, size = search.number, search.size
    matches.sort(key=lambda match: match[0], reverse=descending)
    items = [item for _, item in matches[number * size : (number + 1) * size]]
    # §10.3: the SDK documents totalCount as the items returned; the switch counts every match.
    total = len(items) if ctx.state.config.total_count == "returned" else len(matches)
    page = {"number": number, "size": size, "totalCount": total}
    return json_reply(200, {"items": items, "page": page})


def _unsupported(filter_: dict[str, Any], known: frozenset[str]) -> Reply | None:
    unknown = sorted(set(filter_) - known)
    return invalid(f"the sandbox does not support filter {unknown}") if unknown else None


def _seconds(text: str | None) -> float | None:
    return parse_time(text) if text is not None else None


def search_billing_keys(ctx: Context, req: Request) -> Reply:
    """`GET /billing-keys`: filter.storeId omitted spans every store of the merchant."""
    search = _read(ctx, req, _KEY_FILTERS)
    if isinstance(search, Reply):
        return search
    filter_ = search.filter
    sort = search.body.get("sort") or {}
    field = filter_.get("timeRangeField", "REQUESTED_AT")
    if not isinstance(sort, dict) or field not in _KEY_TIMES:
        return invalid(f"timeRangeField must be one of {sorted(_KEY_TIMES)}")
    by, order = sort.get("by", "REQUESTED_AT"), sort.get("order", "DESC")
    if by not in _KEY_TIMES or order not in ("ASC", "DESC"):
        return invalid("sort.by or sort.order is not one PortOne knows")
    matches = []
    for seq, info in ctx.state.keys():
        moment = _seconds(_KEY_TIMES[field](info))
        if not search.admits(moment, info["status"]):
            continue
        if "customerId" in filter_ and info["customer"].get("id") != filter_["customerId"]:
            continue
        if filter_.get("version", "V2") != "V2":  # every sandbox key is a V2 key
            continue
        matches.append(((_seconds(_KEY_TIMES[by](info)) or 0.0, seq), info))
    return _page(ctx, matches, order == "DESC", search)


def _text_match(payment: dict[str, Any], searches: Any) -> bool | Reply:
    if not isinstance(searches, list):
        return invalid("filter.textSearch must be a list of {field, value}")
    for search in searches:
        if not isinstance(search, dict) or search.get("field") not in _TEXT_FIELDS:
            return invalid(f"textSearch.field must be one of {sorted(_TEXT_FIELDS)}")
        value = search.get("value")
        if not isinstance(value, str):
            return invalid("textSearch.value must be a string")
        if not any(value in str(payment.get(name, "")) for name in _TEXT_FIELDS[search["field"]]):
            return False
    return True


def search_payments(ctx: Context, req: Request) -> Reply:
    """`GET /payments`: each paymentId's latest attempt (switch `payment_list`: every attempt)."""
    search = _read(ctx, req, _PAYMENT_FILTERS)
    if isinstance(search, Reply):
        return search
    filter_ = search.filter
    time_field = _PAYMENT_TIMES.get(filter_.get("timestampType", "CREATED_AT"))
    sort_field = _PAYMENT_SORTS.get(filter_.get("sortBy", "REQUESTED_AT"))
    order = filter_.get("sortOrder", "DESC")
    if time_field is None or sort_field is None or order not in ("ASC", "DESC"):
        return invalid("timestampType, sortBy or sortOrder is not one PortOne knows")
    matches = []
    for seq, payment in ctx.state.attempts(ctx.state.config.payment_list == "attempts"):
        moment = _seconds(payment[time_field])
        if not search.admits(moment, payment["status"]):
            continue
        if "isTest" in filter_ and (payment["channel"]["type"] == "TEST") != filter_["isTest"]:
            continue
        if filter_.get("version", "V2") != "V2":
            continue
        matched = _text_match(payment, filter_.get("textSearch", []))
        if isinstance(matched, Reply):
            return matched
        if matched:
            matches.append(((_seconds(payment[sort_field]) or 0.0, seq), payment))
    return _page(ctx, matches, order == "DESC", search)


def search_payment_schedules(ctx: Context, req: Request) -> Reply:
    """`GET /payment-schedules`: `from` / `until` apply to timeToPay and default to the past 90
    days up to now (a future schedule needs an explicit `until`); TIME_TO_PAY, newest first."""
    search = _read(ctx, req, _SCHEDULE_FILTERS)
    if isinstance(search, Reply):
        return search
    filter_ = search.filter
    sort = search.body.get("sort") or {}
    if not isinstance(sort, dict):
        return invalid("sort must be an object")
    by, order = sort.get("by", "TIME_TO_PAY"), sort.get("order", "DESC")
    if by not in _SCHEDULE_SORTS or order not in ("ASC", "DESC"):
        return invalid("sort.by or sort.order is not one PortOne knows")
    matches = []
    for seq, info in ctx.state.schedules():
        moment = _seconds(info["timeToPay"])
        if not search.admits(moment, info["status"]):
            continue
        if "billingKey" in filter_ and info["billingKey"] != filter_["billingKey"]:
            continue
        if filter_.get("isForTest", True) is not True:  # every sandbox channel is a test one
            continue
        matches.append(((_seconds(_SCHEDULE_SORTS[by](info)) or 0.0, seq), info))
    return _page(ctx, matches, order == "DESC", search)
