"""A background sender's lifecycle, shared by each provider's webhook fake (V1's notices, V2's
webhooks): one daemon thread, one condition guarding its state, a generation a reset bumps
(jobs queued before it are dropped), the count of attempts since the reset a test waits on,
and the one POST in flight, cut by `close()` so shutdown never waits on a slow receiver.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlsplit


class Sender:
    """Start, close and wait on a sender thread; subclasses give `_run` and `snapshot`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()  # reentrant: `wait` reads `snapshot` under it
        self._attempted = 0  # since the last reset (the wait endpoints count these)
        self._generation = 0  # a reset drops the jobs queued before it
        self._closed = False
        self._connection: http.client.HTTPConnection | None = None  # the one being sent
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stop the sender (cutting a delivery in progress) and wake every waiter."""
        with self._cond:
            self._closed = True
            connection, thread = self._connection, self._thread
            self._cond.notify_all()
        if connection is not None and connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked connect/recv
            except OSError:
                pass
        if thread is not None:
            thread.join(5)

    def wait(self, count: int, timeout: float) -> tuple[bool, list[dict[str, Any]]]:
        """Block until `count` attempts since the reset (or `timeout` seconds, or shutdown);
        return (reached, the record)."""
        with self._cond:
            self._cond.wait_for(lambda: self._attempted >= count or self._closed, timeout)
            return self._attempted >= count, self.snapshot()

    def snapshot(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def reset(self) -> None:
        """Drop what is queued and recorded (the sandbox's reset)."""
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _post(
        self,
        url: str,
        payload: bytes,
        headers: dict[str, str],
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> int | None:
        """POST once (no retry); the receiver's HTTP status, or None on any error."""
        parts = urlsplit(url)
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        try:
            connection = connection_type(parts.hostname or "", parts.port, timeout=connect_timeout)
        except (OSError, ValueError):
            return None
        with self._cond:
            if self._closed:
                return None
            self._connection = connection
        try:
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(read_timeout)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", target, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            with self._cond:
                self._connection = None
            connection.close()
