"""Signed events to internal subscribers: the consumer that sends what the outbox keeps.

- ``delivery``: ``EventConsumer``, one thread per process that claims due deliveries from the
  outbox (``state.outbox``), signs each at send time (Standard Webhooks) and POSTs it, then
  records the outcome (delivered, retried on the schedule, failed); ``check_secret``.

Plain Python, no Flask or prometheus_client. May import ``state``, ``config`` and ``deadline``
only (nothing of ``gateway``), the standard library, ``urllib3``, ``certifi`` and
``standardwebhooks``.
"""

from .delivery import EventConsumer, check_secret

__all__ = ["EventConsumer", "check_secret"]
