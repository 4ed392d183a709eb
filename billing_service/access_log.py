"""gunicorn's access logger, with anything that looks like a card number masked.

Card data belongs in request bodies only, but a caller can still put it in a path by mistake
(``/subscriptions/4242424242424242``); the access log must not keep it.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# 12 or more digits, possibly separated by single spaces or dashes (also when percent-encoded).
_CARD_LIKE = re.compile(r"[0-9](?:(?:[ -]|%20)?[0-9]){11,}")
# (The request id needs no masking: one a caller sends with a card-like number is replaced.)
_MASKED_ATOMS = ("U", "r", "q")


def mask_card_numbers(text: str) -> str:
    return _CARD_LIKE.sub("[masked]", text)


class AccessLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type information
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in _MASKED_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = mask_card_numbers(atoms[name])
        return atoms
