"""The JSON log lines stay one per line whatever text they carry."""

from __future__ import annotations

import json
import logging

from billing_service.observability.logs import JsonFormatter


def test_unicode_line_breaks_cannot_split_a_log_line():
    text = "a\u2028b\u2029c\x85d\ne"
    record = logging.LogRecord("billing_service", logging.INFO, "", 0, text, (), None)

    line = JsonFormatter().format(record)

    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == text
