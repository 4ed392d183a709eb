"""The error registry (api.error_kinds) is the one declaration of the service's errors: README's
error table lists exactly its kinds, and every code the service raises by name is one of them,
with the registry's status."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from werkzeug.exceptions import HTTPException

from billing_service.api import errors, guards, http_errors
from billing_service.api.error_kinds import ERRORS

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"\| (\d{3}) \| `([a-z_]+)` \| (.*) \|")


def readme_error_table() -> list[tuple[int, str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Errors") :]
    table = section[section.index("| status | code | when |") :].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]  # the header and its rule
    matched = [_ROW.fullmatch(row) for row in rows]
    assert all(matched), [row for row, m in zip(rows, matched, strict=True) if m is None]
    return [(int(m[1]), m[2], m[3]) for m in matched if m is not None]


def test_readme_error_table_is_the_registry():
    assert readme_error_table() == [(k.status, k.code, k.when) for k in ERRORS.values()]


def test_the_registry_declares_each_code_once_sorted_by_status():
    kinds = list(ERRORS.values())
    assert [k.code for k in kinds] == list(ERRORS)
    assert [k.status for k in kinds] == sorted(k.status for k in kinds)


def _named_http_errors() -> list[type[HTTPException]]:
    return [
        cls
        for module in (http_errors, guards, errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, HTTPException) and "error_code" in vars(cls)
    ]


@pytest.mark.parametrize("error", _named_http_errors(), ids=lambda cls: cls.__name__)
def test_each_http_error_raised_by_name_is_a_registered_kind(error):
    assert ERRORS[error.error_code].status == error.code


def test_each_status_and_gateway_failure_maps_to_a_registered_kind():
    for status, code in errors._HTTP_ERROR_CODES.items():
        assert ERRORS[code].status == status
    assert set(errors._GATEWAY_ERROR_CODES.values()) <= set(ERRORS)
