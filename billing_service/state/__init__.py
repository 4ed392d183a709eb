"""What the service keeps between requests, shared by its workers (and replicas).

- ``store``: what every store offers, and the rules of idempotency records;
- ``embedded``: the embedded store (SQLite, WAL): one instance's workers;
- ``shared``: the shared store (Redis): every replica (its Lua scripts in ``lua/``, shipped as
  package data);
- ``counters``: the card-testing limits' counters as ``limits`` storages;
- ``keys``: the instance's own keys, generated once in the data directory.

May import ``config`` and ``gateway`` only: nothing of Flask or the HTTP side.
"""

from __future__ import annotations

from .embedded import EmbeddedStore
from .shared import SharedStore, UnsafeRedis
from .store import StateStore, StateUnavailable

__all__ = [
    "EmbeddedStore",
    "SharedStore",
    "StateStore",
    "StateUnavailable",
    "UnsafeRedis",
    "open_store",
]


def open_store(url: str) -> StateStore:
    """The store ``url`` names: ``sqlite:///<path>`` or ``redis://...``."""
    if url.startswith("sqlite:///"):
        return EmbeddedStore(url.removeprefix("sqlite:///"))
    return SharedStore(url)
