"""`SandboxServer`: one provider's fake behind the shared HTTP server, started and stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .calls import CallLog
from .clock import Clock
from .faults import FaultQueue
from .httpd import HTTPServer
from .provider import Fake, Sandbox, Shared


class SandboxServer:
    """A running fake: `.url`, `.port`, `.state`, `.shutdown()`; a context manager.

    `make_fake` builds the provider's fake from the shared parts (clock, faults, call log); it
    may refuse its arguments with ValueError before any port is bound.
    """

    def __init__(
        self,
        make_fake: Callable[[Shared], Fake],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        hang_seconds: float = 60.0,
    ) -> None:
        self._stopping = threading.Event()
        shared = Shared(Clock(), FaultQueue(), CallLog(), self._stopping, hang_seconds)
        self.fake = make_fake(shared)
        self._httpd = HTTPServer((host, port), Sandbox(shared, self.fake))
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def state(self) -> Any:
        """What the fake remembers (for tests that look inside)."""
        return self.fake.state

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; the socket is already listening, so this returns at once.

        Also starts the fake's background threads (the scheduler, the notice sender).
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("sandbox server already shut down")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._httpd.serve_forever,
                    kwargs={"poll_interval": 0.05},  # shutdown() latency, not request latency
                    name=f"{self.fake.name}-{self.port}",
                    daemon=True,
                )
                self._thread.start()
                self.fake.start(self.port)
        return self

    def shutdown(self) -> None:
        """Stop serving, wake hanging/delayed requests, cut idle connections, close the socket;
        stop the fake's background threads (notices still queued are not sent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stopping.set()
        self.fake.close()
        if thread is not None:
            self._httpd.shutdown()
            thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<SandboxServer {self.url}>"
