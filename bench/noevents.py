"""What gunicorn.conf.py's worker hooks expect of an app, for the bench's other WSGI apps.

gunicorn.conf.py starts ``app.extensions["events"].consumer`` in ``post_worker_init`` and stops
it in ``worker_exit`` (the service's event consumer). The seed-literal app and the bare Flask
floor have no events: they get this consumer that does nothing, so they run under the very same
gunicorn.conf.py as the service.
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


def install(app: Any) -> None:
    app.extensions.setdefault("events", _NoEvents())
