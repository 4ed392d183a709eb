"""Logs as JSON lines on stdout: gunicorn's own lines, the service's events, one line per request.

Every line is one JSON object with ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``,
``pid`` and ``message``, plus the fields the event carries (a request line's method, route,
status...; an audit entry's fields as they are) and the ``request_id`` of the request being
served, when there is one. gunicorn.conf.py sets this up; outside gunicorn (tests, the Flask
test client) the loggers keep Python's defaults.

Card data never reaches a log: paths are logged without their query string and with card-like
digit runs masked, and no body is ever logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gunicorn.glogging import Logger

from ..gateway import REQUEST_ID

# The loggers whose records the service writes: its own, and flask-limiter's (Redis outages).
APP_LOGGERS = ("billing_service", "flask-limiter")

# 12 or more digits, possibly separated by single spaces or dashes (also when percent-encoded).
_CARD_LIKE = re.compile(r"[0-9](?:(?:[ -]|%20)?[0-9]){11,}")


def mask_card_numbers(text: str) -> str:
    return _CARD_LIKE.sub("[masked]", text)


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a record's ``fields`` (a dict, via ``extra``) are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if "request_id" not in entry:
            request_id = REQUEST_ID.get()
            if request_id is not None:
                entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii=False: I'mport's Korean messages stay readable; json escapes control
        # characters, so nothing a caller sends can forge a line.
        line = json.dumps(entry, ensure_ascii=False, default=str)
        # json leaves NEL and the Unicode line and paragraph separators raw, and many line
        # readers (Python's splitlines among them) end a line there.
        return line.translate(_LINE_BREAKS)


def log_fields(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """Log an INFO record whose ``fields`` become the line's fields.

    makeRecord + handle, not logger.info: that one also walks the stack to name its caller, on
    every request, for a line that does not show it.
    """
    if logger.isEnabledFor(logging.INFO):
        record = logger.makeRecord(
            logger.name, logging.INFO, "", 0, message, (), None, extra={"fields": fields}
        )
        logger.handle(record)


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    return handler


def log_to_stdout(level: int = logging.INFO) -> None:
    """Send the service's own records to stdout as JSON lines (gunicorn.conf.py calls this)."""
    handler = json_handler()
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        # Replace, not add: gunicorn reads its configuration again on SIGHUP.
        for old in [h for h in logger.handlers if getattr(h, "_billing_json", False)]:
            logger.removeHandler(old)
        handler._billing_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(level)


class GunicornLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type information
    """gunicorn's logger, writing its error log as JSON lines on stdout.

    Its access log is not used: the service writes one richer line per request itself (logger
    ``billing_service.access``: route, caller, request id), so ``access`` does nothing, even if
    an access log is configured on the command line (whose default format would print query
    strings).
    """

    def _set_handler(
        self, log: logging.Logger, output: str | None, fmt: Any, stream: Any = None
    ) -> None:
        if output == "-":
            stream = sys.stdout  # everything on stdout, gunicorn's "-" meaning stderr included
        super()._set_handler(log, output, JsonFormatter(), stream=stream)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """The service logs each request itself (see billing_service.operations)."""
