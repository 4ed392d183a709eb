"""PortOne V2: the provider package behind ``gateway``'s ``PaymentGateway`` protocol.

- ``client``: ``PortOneClient``, every operation, its calls grouped over one another:
  ``session`` (the transport, the ``PortOne <secret>`` header, the store, each call's
  Idempotency-Key and read timeout), ``billing_keys``, ``payments`` (charges and lookups),
  ``cancels``, ``schedules`` (each charge its own V2 schedule, all or nothing for the caller),
  ``moves`` (a re-issuance's schedules to the new key);
- ``answer``: V2's answers read (the resource on 2xx, the typed ``{type, message}`` refusal
  on 4xx and 502); ``parsing``: V2's resources into the models in V1's words; ``cards``: V2's
  card issuers as V1's names and codes;
- ``directory``: the protocol through which the host remembers V2's ids behind the caller's
  (``customer_uid`` → ``billingKey``, ``imp_uid`` → ``paymentId``, ``paymentId`` → schedule id,
  the schedule a move is moving).

Imports the shared gateway modules (``http``, ``models``, ``exceptions``, ``outcomes``,
``call_context``, ``fields``), never ``iamport_v1``; nothing outside ``gateway`` (but the app
factory that builds the client) imports it.
"""

from .client import PortOneClient
from .directory import Directory

__all__ = ["Directory", "PortOneClient"]
