"""Signed events to internal subscribers: the outbox that keeps them and the consumer that sends
them.

- ``outbox``: the durable outbox of events and jobs (``rules``: what every outbox offers and
  how an outcome is recorded; ``embedded``: its tables in the embedded store's SQLite file;
  ``shared``: its keys in the shared store's Redis, each step a Lua script of ``outbox/lua/``);
- ``delivery``: ``EventConsumer``, one thread per process that claims due deliveries from the
  outbox, signs each at send time (Standard Webhooks) and POSTs it, or runs a job by its kind,
  then records the outcome (delivered, retried on the schedule, failed); ``check_secret``.

Plain Python, no Flask or prometheus_client. May import ``state``, ``config`` and ``deadline``
only (nothing of ``gateway``), the standard library, ``urllib3``, ``certifi`` and
``standardwebhooks``.
"""

from .delivery import EventConsumer, check_secret

__all__ = ["EventConsumer", "check_secret"]
