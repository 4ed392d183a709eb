"""I'mport (PortOne V1): the provider package behind ``gateway``'s ``PaymentGateway`` protocol.

- ``client``: ``IamportClient``, every operation, its calls grouped over one another:
  ``session`` (the transport, the access token, the channel), ``billing_keys``, ``payments``
  (charges and cancels), ``schedules``;
- ``envelope``: I'mport's ``{code, message, response}`` envelope read off each answer (V1 only:
  a refusal comes as HTTP 200 with ``code != 0``);
- ``token``: the access token and its cache; ``parsing``: I'mport's answers read into the models;
- what is V1-only stays here: telling a refusal apart by asking I'mport, or from its Korean
  message (``payments.DUPLICATE_HINTS``).

Imports the shared gateway modules (``http``, ``models``, ``exceptions``, ``outcomes``,
``call_context``); nothing outside ``gateway`` (but ``extensions``, which builds the client)
imports it.
"""

from .client import IamportClient
from .schedules import SCHEDULE_HORIZON, SCHEDULE_WINDOW

__all__ = ["SCHEDULE_HORIZON", "SCHEDULE_WINDOW", "IamportClient"]
