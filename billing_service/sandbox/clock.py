"""The sandbox clock (wall clock plus an offset that only grows) and the moves of
`POST /__sandbox__/clock`: seconds, ISO 8601 durations, ISO 8601 times.

Years, months, weeks and days are calendar units in Korea (Asia/Seoul, UTC+9 all year, no
DST), where I'mport and the card companies are: 2026-01-31 KST + P1M is 2026-02-28 KST (the day
is clamped to the month's last), and P1D is always 86 400 s.
"""

from __future__ import annotations

import calendar
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

# Korea's calendar (Asia/Seoul is UTC+9, no DST), where the card companies are: card expiry
# months and calendar moves of the clock are counted in it.
KST_OFFSET_SECONDS = 9 * 3600
KST = timezone(timedelta(seconds=KST_OFFSET_SECONDS), "KST")

_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)

Move = Callable[[float], float]  # current sandbox time -> the time to move to


class Clock:
    """Sandbox time: the wall clock plus an offset moved by `POST /__sandbox__/clock`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    def reset(self) -> None:
        """Back to the wall clock."""
        with self._lock:
            self._offset = 0.0

    def now(self) -> int:
        """Sandbox time in integer UNIX seconds (wall clock plus the admin offset)."""
        return int(time.time() + self._offset)

    def precise_now(self) -> float:
        """Sandbox time as a float (for waiting until a due time)."""
        return time.time() + self._offset

    def move(self, target: Move) -> int:
        """Set the clock to `target(current time)` (never backwards) and return the new `now`.

        Under the lock, so a month added in KST is added to the time it is added to.
        """
        with self._lock:
            current = time.time() + self._offset
            new = target(current)
            if new < current:
                raise ValueError("the sandbox clock only moves forward")
            self._offset += new - current
        return self.now()


def _add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole calendar months; the day is clamped to the target month's last."""
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def duration(text: str) -> Move | None:
    """An ISO 8601 duration `PnYnMnDTnHnMnS` or `PnW` as a clock move; None when malformed."""
    match = _DURATION.fullmatch(text.strip().upper())
    if match is None or not any(match.groupdict().values()) or text.strip().upper().endswith("T"):
        return None
    parts = {name: value for name, value in match.groupdict().items() if value is not None}
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    if months > 12 * 1000:
        return None
    delta = timedelta(
        weeks=int(parts.get("weeks", 0)),
        days=int(parts.get("days", 0)),
        hours=int(parts.get("hours", 0)),
        minutes=int(parts.get("minutes", 0)),
        seconds=float(parts.get("seconds", "0").replace(",", ".")),
    )

    def move(current: float) -> float:
        moment = datetime.fromtimestamp(current, KST)
        return (_add_months(moment, months) + delta).timestamp()

    return move


def advance(value: object) -> Move | str:
    """`advance`: seconds (a number >= 0) or an ISO 8601 duration; a Move, or why not."""
    if isinstance(value, str):
        move = duration(value)
        if move is None:
            return "advance must be seconds or an ISO 8601 duration such as P1M, P1W or PT1H30M"
        return move
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "advance must be a number of seconds or an ISO 8601 duration"
    if value < 0 or not math.isfinite(value):
        return "advance must be finite and >= 0: the clock only moves forward"
    seconds = float(value)
    return lambda current: current + seconds


def to(value: object) -> float | str:
    """`to`: UNIX seconds or an ISO 8601 time with an offset; the target time, or why not."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return "to must be UNIX seconds or an ISO 8601 time with an offset"
        if moment.tzinfo is None:
            return "to needs an offset (e.g. 2026-02-01T00:00:00+09:00 or ...Z)"
        return moment.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "to must be UNIX seconds or an ISO 8601 time with an offset"
    return float(value)


def move_to(target: float) -> Move:
    """The move to `target`: the current second is not backwards, only an earlier one is."""

    def move(current: float) -> float:
        return max(target, current) if math.floor(target) >= math.floor(current) else target

    return move
