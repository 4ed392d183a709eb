"""The instance's own keys, generated once and kept in the data directory.

A key that changed at each restart would break what it protects: a card's rate-limit counter, a
genuine retry's match with its idempotency record. So it is created once (``O_EXCL``: of the
workers starting together, one writes it and the others read it) and read at every start.
"""

from __future__ import annotations

import os
import secrets
import time

from .store import StateUnavailable

_KEY_BYTES = 32


def instance_key(data_dir: str, name: str) -> bytes:
    """The key ``name`` of this instance, created on first use (mode 0600)."""
    path = os.path.join(data_dir, name)
    try:
        os.makedirs(data_dir, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read(path)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(_KEY_BYTES))
        return _read(path)
    except OSError as exc:
        raise StateUnavailable(f"The key {name} cannot be kept in {data_dir}.") from exc


def _read(path: str) -> bytes:
    # Another worker may have created the file a moment ago and not written it yet.
    for _ in range(50):
        with open(path) as file:
            text = file.read().strip()
        if len(text) == 2 * _KEY_BYTES:
            return text.encode()
        time.sleep(0.01)
    raise StateUnavailable(f"The key file {path} is damaged: remove it to make a new one.")
