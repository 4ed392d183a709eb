"""Logs as JSON lines on stdout: gunicorn's own lines, the service's events, one line per request.

Every line is one JSON object with ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``,
``pid`` and ``message``, plus the fields the event carries (a request line's method, route,
status...; an audit entry's fields as they are) and the ``request_id`` of the request being
served, when there is one. gunicorn.conf.py sets this up; outside gunicorn (tests, the Flask
test client) the loggers keep Python's defaults.

Card data never reaches a log: paths are logged without their query string, no body is ever
logged, and every line, whatever field a value came from, has its card-like digit runs masked and
the secrets the app registered (the webhook token in a path) replaced before it is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gunicorn.glogging import Logger

from ..api.fields import is_card_number
from ..gateway import REQUEST_ID

# The loggers whose records the service writes: its own.
APP_LOGGERS = ("billing_service",)

# A maximal run of 13 or more digits, spaces, dashes, dots, underscores or a percent-encoded
# space (a raw URL) between them; the digits of a percent escape (%2D) start none.
_LONG_DIGIT_RUN = re.compile(r"(?<!%)(?<!%[0-9A-Fa-f])[0-9](?:(?:[ ._-]|%20)*[0-9]){12,}")
_RUN_SEPARATORS = re.compile(r"((?:[ ._-]|%20)+)")
# What joins the groups of an id (which holds no spaces): its digits are read as one number.
_ID_JOINERS = re.compile(r"[._-]+")
MASK = "[masked]"
# What the lines never show, and what they show instead (see redact).
_REDACTED: dict[str, str] = {}
# Fields left as they are: the request id is plain by construction (request_ids.py).
_UNSCRUBBED = frozenset({"request_id"})


def mask_card_numbers(text: str) -> str:
    """``text`` with the digits of each card number in it replaced by [masked].

    In each run of digits (spaces, dashes, dots and underscores between them), every stretch of
    whole groups whose 13-19 digits are a card number (api.fields.is_card_number) is masked: a
    run joined by dashes, dots or underscores when it is one (what the API refuses as an id: ids
    hold no spaces), groups of 4-6 digits across spaces (as cards are written), and one written
    next to other numbers ("<card> 404", "<card> <expiry>"); so is a group of more than 19
    digits (it may hide one).
    """
    return _LONG_DIGIT_RUN.sub(_mask_run, text)


def _mask_run(match: re.Match[str]) -> str:
    parts = _RUN_SEPARATORS.split(match.group())
    groups, separators = parts[::2], ["", *parts[1::2]]
    masked = [len(group) > 19 for group in groups]
    for start in range(len(groups)):
        digits, spaced, longest = groups[start], False, len(groups[start])
        for end in range(start, len(groups)):
            if end > start:
                digits += groups[end]
                spaced = spaced or not _ID_JOINERS.fullmatch(separators[end])
                longest = max(longest, len(groups[end]))
            if len(digits) > 19:
                break
            # Across spaces, only groups as cards are written in (4-6 digits): an id of 12
            # digits and a status ("imps_410026135413 200") are not one number.
            if (not spaced or longest <= 6) and is_card_number(digits):
                masked[start : end + 1] = [True] * (end + 1 - start)
    if not any(masked):
        return match.group()
    pieces = []
    for i, group in enumerate(groups):
        if not (masked[i] and i and masked[i - 1]):  # a stretch is masked once
            pieces += [separators[i], MASK if masked[i] else group]
    return "".join(pieces)


def redact(secret: str, placeholder: str) -> None:
    """Never write ``secret`` in a line: ``placeholder`` stands for it (the app factory
    registers the webhook token this way, so paths show ``/webhooks/iamport/<token>``)."""
    _REDACTED[secret] = placeholder


def scrub(text: str) -> str:
    """``text`` as a line may show it: secrets replaced, card numbers masked."""
    for secret, placeholder in _REDACTED.items():
        if secret in text:
            text = text.replace(secret, placeholder)
    return mask_card_numbers(text)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if abs(value) < 10**12:  # too few digits for a card number
            return value
        text = repr(value)
        scrubbed = scrub(text)
        return value if scrubbed == text else scrubbed
    if isinstance(value, dict):
        return {key: _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    return value


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a record's ``fields`` (a dict, via ``extra``) are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": scrub(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if fields:
            for name, value in fields.items():
                entry[name] = value if name in _UNSCRUBBED else _scrub_value(value)
        if "request_id" not in entry:
            request_id = REQUEST_ID.get()
            if request_id is not None:
                entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        line = _ENCODER.encode(entry)
        # json leaves NEL and the Unicode line and paragraph separators raw, and many line
        # readers (Python's splitlines among them) end a line there.
        return line.translate(_LINE_BREAKS)


def _scrubbed_text(value: Any) -> str:
    return scrub(str(value))


# ensure_ascii=False: I'mport's Korean messages stay readable; json escapes control characters,
# so nothing a caller sends can forge a line. One encoder for every line (json.dumps with these
# options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_scrubbed_text)


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


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that takes no lock of its own where its stream is a file descriptor.

    logging's Handler.handle holds the handler's lock around emit: formatting (JSON, card
    masking), the write and the flush. The write releases the GIL and needs it back before the
    lock is released, so under load the lock was held for as long as its holder waited for the
    GIL, and the request threads that log queued behind it (py-spy at 256 callers, 200 ms
    I'mport: a handful of each worker's threads in Handler.acquire in every dump). Here a line
    is formatted first, then written whole with one ``os.write`` (one system call: Linux keeps
    a write to a pipe, up to PIPE_BUF, and to a file whole, so lines never interleave); a
    stream without a descriptor (tests' StringIO) is written under the lock as before.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
            self._fd = None

    def handle(self, record: logging.LogRecord) -> bool:
        rv = self.filter(record)
        if rv:
            try:
                line = self.format(record) + self.terminator
                if self._fd is None:
                    with self.lock:  # type: ignore[union-attr]  # set by createLock
                        self.stream.write(line)
                        self.flush()
                    return rv
                data = line.encode(self.stream.encoding, self.stream.errors or "strict")
                while data:
                    data = data[os.write(self._fd, data) :]
            except Exception:
                self.handleError(record)
        return rv


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    handler = _LineHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    return handler


def log_to_stdout(level: int = logging.INFO) -> None:
    """Send the service's own records to stdout as JSON lines (gunicorn.conf.py calls this)."""
    # The lines show neither the thread's nor the process's name: not looked up for each record.
    logging.logThreads = False
    logging.logMultiprocessing = False
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
