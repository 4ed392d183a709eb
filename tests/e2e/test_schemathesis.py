"""Schemathesis fuzzes the live service (gunicorn, gunicorn.conf.py, the real JSON logs) with the
I'mport sandbox behind it, and must find nothing.

It runs the `st` CLI, exactly as README shows, with schemathesis.toml: all checks, positive and
negative data, the examples, coverage, fuzzing and stateful phases, a fixed seed. Then it scans
everything gunicorn and the service wrote for the card numbers Schemathesis sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

from ..support import CALLER_KEY, NO_LIMITS, ROOT, LiveService, card_numbers_in, service_env

CONFIG = ROOT / "schemathesis.toml"
# Per operation and phase, up to this many cases: about 40 s on a 2-core machine.
MAX_EXAMPLES = 100
SEED = 20261202

# The command of README's "Bad input" section (the URL and --report options aside).
COMMAND = [
    "run",
    "--checks",
    "all",
    "--mode",
    "all",
    "--phases",
    "examples,coverage,fuzzing,stateful",
    "--max-examples",
    str(MAX_EXAMPLES),
    "--seed",
    str(SEED),
    "--no-color",
]


# Ids are logged on purpose: the audit trail names the customer_uid, merchant_uid and imp_uid of
# each operation, well-formed ones only. Schemathesis fills them with random digits too, some of
# them Luhn-valid: those are the caller's ids, not card data. Card data is what was sent as
# card_number, and must appear nowhere; and the request lines mask card-like runs in paths.
_AUDIT_IDS = re.compile(r'"(?:customer_uid|merchant_uid|imp_uid)": "([^"]*)"')
# (A card-like run in an id is masked in every line, issue 16: "[masked]" stands for it.)
_WELL_FORMED_ID = re.compile(r"(?!\.+$)(?:[A-Za-z0-9._-]|\[masked\]){1,80}")


def test_schemathesis_finds_nothing(sandbox, tmp_path):
    service = LiveService(service_env(sandbox.url, **NO_LIMITS))
    try:
        # Run from tmp_path, so that Hypothesis's cache lands there, not in the work tree.
        result = subprocess.run(
            [str(Path(sys.executable).parent / "st"), "--config-file", str(CONFIG)]
            + [COMMAND[0], f"{service.url}/openapi.json", *COMMAND[1:]]
            + ["--report", "har", "--report-har-path", str(tmp_path / "requests.har")],
            cwd=tmp_path,
            env={**os.environ, "BILLING_CALLER_KEY": CALLER_KEY},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        service.stop()
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "20 selected / 20 total" in report, report  # PortOne V2 webhooks: two more
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ +{phase} \(in ", report), report
    tested = int(re.search(r"([0-9]+) generated, \1 passed", report)[1])
    assert tested > 1000, report

    log = service.log()
    statuses = [entry["status"] for entry in service.request_entries()]  # every line is JSON
    assert len(statuses) > 1000  # the run went through this gunicorn's request lines
    assert 429 not in statuses  # the limits did not blunt the run
    assert max(statuses) < 500

    # Nothing but the audit trail's ids may hold a card-like digit run, and those are ids.
    ids = _AUDIT_IDS.findall(log)
    assert ids and all(_WELL_FORMED_ID.fullmatch(uid) for uid in ids)
    outside_ids = _AUDIT_IDS.sub("", log)
    assert card_numbers_in(outside_ids) == []
    sent = _card_numbers_sent(tmp_path / "requests.har")
    assert len(sent) > 10  # Schemathesis did send card numbers, Luhn-valid ones among them
    assert any(card_numbers_in(number) for number in sent)
    leaked = [number for number in sent if re.search(_digits_anywhere(number), outside_ids)]
    assert leaked == []


def _card_numbers_sent(har: Path) -> set[str]:
    """The digits of every card_number of 13 or more digits that a request body carried."""
    numbers = set()
    for entry in json.loads(har.read_text())["log"]["entries"]:
        post = entry["request"].get("postData") or {}
        text = post.get("text") or ""
        if "card_number" not in text:
            continue
        try:
            body = json.loads(text) if "json" in post.get("mimeType", "") else dict(parse_qsl(text))
        except ValueError:
            continue
        value = body.get("card_number") if isinstance(body, dict) else None
        digits = re.sub("[^0-9]", "", value) if isinstance(value, str) else ""
        if len(digits) >= 13:
            numbers.add(digits)
    return numbers


def _digits_anywhere(digits: str) -> str:
    """A regex for ``digits`` standing on their own, whatever single separators sit between."""
    return "(?<![0-9])" + "[ -]?".join(digits) + "(?![0-9])"
