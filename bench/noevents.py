"""What gunicorn.conf.py's worker hooks expect of an app, for the bench's other WSGI apps.

gunicorn.conf.py starts ``app.extensions["events"].consumer`` and ``app.extensions["readiness"]``
in ``post_worker_init`` and stops the consumer in ``worker_exit`` (the service's event consumer
and readiness checks). The seed-literal app and the bare Flask floor have neither: they get ones
that do nothing, so they run under the very same gunicorn.conf.py as the service.
"""

from __future__ import annotations

from typing import Any


class _Consumer:
    def start(self) -> None:
        pass

    def stop(self, timeout: float | None = None) -> None:
        pass


class _NoEvents:
    consumer = _Consumer()


class _NoReadiness:
    def start(self) -> None:
        pass


def install(app: Any) -> None:
    app.extensions.setdefault("events", _NoEvents())
    app.extensions.setdefault("readiness", _NoReadiness())
