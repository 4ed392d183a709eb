"""The committed openapi.json is the document the service serves; clients are generated from it."""

from __future__ import annotations

import difflib
import json

from billing_service import create_app

from .support import ROOT

OPENAPI_FILE = ROOT / "openapi.json"
# What `make openapi` runs with: an I'mport URL, so that no sandbox is started (nothing is called).
WRITE_ENV = {"IAMPORT_API_URL": "http://127.0.0.1:9", "BILLING_SANDBOX": "true"}


def _written(tmp_path) -> str:
    """The document as `flask openapi write --format=json` writes it (what `make openapi` runs)."""
    out = tmp_path / "openapi.json"
    result = (
        create_app(WRITE_ENV)
        .test_cli_runner()
        .invoke(args=["openapi", "write", "--format=json", str(out)])
    )
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_committed_openapi_json_is_up_to_date(tmp_path):
    expected = _written(tmp_path)
    committed = OPENAPI_FILE.read_text(encoding="utf-8") if OPENAPI_FILE.exists() else ""

    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(),
            expected.splitlines(),
            "openapi.json (committed)",
            "openapi.json (from the code)",
            lineterm="",
            n=1,
        )
        shown = "\n".join(list(diff)[:60])
        raise AssertionError(
            "openapi.json is stale: regenerate it with `make openapi` and commit it.\n" + shown
        )


def test_openapi_json_is_what_the_service_serves(tmp_path):
    served = create_app(WRITE_ENV).test_client().get("/openapi.json")

    assert served.status_code == 200
    assert served.get_json() == json.loads(_written(tmp_path))
