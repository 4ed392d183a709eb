"""The fake of I'mport (PortOne V1): what it answers and remembers, behind the shared server.

`fake.py` is what the server drives (`IamportV1`, the route table, `start_sandbox`);
`wire.py` the `{code, message, response}` envelope and the handlers' Context; the endpoints
in `billing_keys.py` (getToken, issue / look up / delete a key), `payments.py` (`again`,
lookups, cancel), `schedules.py` (schedule, look up, list, unschedule, execute) and
`admin.py` (its own `/__sandbox__/` endpoints, with `checkout.py`); `records.py` what a
Payment looks like; `cards.py` the card rules and magic numbers; `state.py`, `tokens.py` and
`config.py` what it remembers; `notices.py` the webhook sender.
"""

from .fake import DEFAULT_API_KEY, DEFAULT_API_SECRET, IamportV1, start_sandbox

__all__ = ["DEFAULT_API_KEY", "DEFAULT_API_SECRET", "IamportV1", "start_sandbox"]
