"""Caller authentication and authorization: ``Authorization: Bearer <secret>`` and scopes.

Each caller in ``BILLING_API_KEYS`` has a secret (kept only as its SHA-256) and scopes
(``issue``, ``read``, ``charge``, ``cancel``, ``delete``, ``schedule``, ``events``). Each
operation names the scope it needs with ``@requires``, which authenticates the caller and checks
the scope; a key without it gets 403 (OWASP API5, function-level authorization).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from ..api.http_errors import CallerForbidden, CallerUnauthorized
from ..config import SCOPES, Caller

F = TypeVar("F", bound=Callable[..., Any])


def requires(scope: str) -> Callable[[F], F]:
    """The view method needs a caller with ``scope``: the caller is authenticated (401) and its
    scope checked (403) before anything else of the request runs, its body included.

    With no keys configured (sandbox mode only) everyone is let in, as ``anonymous``.
    """
    assert scope in SCOPES, scope

    def decorate(view: F) -> F:
        def run(*args: Any, **kwargs: Any) -> Any:
            g.required_scope = scope  # for the audit trail, whatever the outcome
            callers: tuple[Caller, ...] = current_app.config["BILLING_CALLERS"]
            if not callers:
                g.caller = "anonymous"
                return view(*args, **kwargs)
            caller = _authenticate(callers)
            if caller is None:
                raise CallerUnauthorized()
            g.caller = caller.name
            g.caller_entry = caller
            if scope not in caller.scopes:
                raise CallerForbidden(f"This caller key lacks the '{scope}' scope.")
            return view(*args, **kwargs)

        # Its OpenAPI doc (flask-smorest's _apidoc) with it: copied once, nothing per request.
        return functools.update_wrapper(run, view)  # type: ignore[return-value]

    return decorate


def _authenticate(callers: tuple[Caller, ...]) -> Caller | None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    digest = hashlib.sha256(presented.strip().encode("utf-8", "surrogateescape")).digest()
    found = None
    # Compare with every caller's digest, in constant time, so timing tells nothing.
    for caller in callers:
        if hmac.compare_digest(digest, caller.secret_sha256):
            found = caller
    return found


def required_scope() -> str | None:
    """The scope the current request's operation needs (None: not a protected operation)."""
    scope: str | None = g.get("required_scope")
    return scope


def owns(customer_uid: str | None) -> bool:
    """Whether the current caller may touch this customer's keys and payments (its
    ``prefix=`` rule; no rule, or no caller auth: every customer)."""
    caller: Caller | None = g.get("caller_entry")
    return caller is None or caller.owns(customer_uid)
