"""The fake of PortOne V2 (`api.portone.io`): what it answers and remembers, behind the shared
server, with the same magic cards and order-id prefixes as the I'mport fake.

`fake.py` is what the server drives (`PortOneV2`, the route table, auth, Idempotency-Key,
`start_sandbox`); `wire.py` the `{type, message}` errors, RFC 3339 times and the handlers'
Context; the endpoints in `login.py` (Bearer tokens), `billing_keys.py` (issue, look up,
delete), `search.py` (`GET /billing-keys`, `GET /payments`, `GET /payment-schedules`),
`payments.py` (charge, look up), `cancels.py` and `schedules.py` (schedule, look up, revoke,
the scheduler thread); `webhooks.py` the signed webhooks and their sender thread; `admin.py`
its own `/__sandbox__/` endpoints; `records.py` what a billing key,
a payment and a cancellation look like; `cards.py` the V2 card credential and `Card`;
`channels.py` the store and channels; `state.py`, `tokens.py`, `idempotency.py` and `config.py`
what it remembers.
"""

from .channels import CHANNEL_KEYS, DEFAULT_CHANNEL_KEY, DEFAULT_STORE_ID, MERCHANT_ID
from .fake import DEFAULT_API_SECRET, PortOneV2, start_sandbox

__all__ = [
    "CHANNEL_KEYS",
    "DEFAULT_API_SECRET",
    "DEFAULT_CHANNEL_KEY",
    "DEFAULT_STORE_ID",
    "MERCHANT_ID",
    "PortOneV2",
    "start_sandbox",
]
