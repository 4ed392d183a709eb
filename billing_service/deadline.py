"""An outgoing call's total deadline, down where urllib3 connects and reads.

urllib3's timeouts bound each wait, not a whole call: a peer that trickles its answer a byte at
a time, or a slow resolver, could hold a thread forever. The caller sets ``DEADLINE`` around a
call; the pools of ``POOL_CLASSES`` resolve the host's name and read the answer (status line,
headers and body, and a proxy's answer to CONNECT) by it. Not bounded by it, only wait by wait
by the connect timeout: the connect to each address and the TLS handshake.

Shared by the gateway's transport (calls to I'mport) and the event consumer (deliveries to
subscribers); imports nothing of the service.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import urllib3
import urllib3.connection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# The deadline (time.monotonic) of the call in progress, set by Transport.request around it. A
# context variable because urllib3 passes nothing of ours down to where the answer is read.
DEADLINE: ContextVar[float | None] = ContextVar("DEADLINE", default=None)


class _DeadlineReader(io.RawIOBase):
    """A socket's reader whose every wait ends by the call's deadline.

    The socket timeout bounds one wait for the next bytes; cut to the time left before each
    wait, it bounds them all together, so a peer trickling its status line, headers or body a
    byte at a time is cut off at the deadline as a socket timeout, which urllib3 reports as
    ReadTimeoutError. No thread or timer (a watchdog would cost locks and a thread per process
    and race the pool over who owns the socket): a normal answer costs one clock read per
    socket read, one or two of them, and nothing once it is buffered.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("The call's deadline has passed.")
        timeout = self._sock.gettimeout()
        if timeout is None or left < timeout:
            # urllib3 sets the socket's timeout again before the connection's next use.
            self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # the socket's reader: the socket closes once all its users have
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's answer, read through a _DeadlineReader during a call of Transport's."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        deadline = DEADLINE.get()
        if deadline is not None:
            # detach: the buffer (nothing is read yet) goes, its socket reader stays open.
            self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, deadline))


def _connect_by_deadline(
    conn: urllib3.connection.HTTPConnection, connect: Callable[[], socket.socket]
) -> socket.socket:
    """Open ``conn``'s socket with ``connect`` (urllib3's own), its host's name resolved by the
    call's deadline first, then each of its addresses tried in turn (as urllib3 would)."""
    deadline = DEADLINE.get()
    name = conn._dns_host  # what urllib3 resolves (the host without a trailing dot)
    if deadline is None or _is_address(name):
        return connect()
    addresses = _resolve(conn, name, deadline)
    error: Exception | None = None
    try:
        for address in addresses:
            conn._dns_host = address
            try:
                return connect()
            # Refused, unreachable or timed out (NewConnectionError is one): the next one.
            except ConnectTimeoutError as exc:
                error = exc
    finally:
        conn._dns_host = name
    raise error or NewConnectionError(conn, f"{name} has no address.")


def _resolve(conn: urllib3.connection.HTTPConnection, name: str, deadline: float) -> list[str]:
    """``name``'s addresses, resolved by ``deadline`` (time.monotonic).

    getaddrinfo blocks in C with the resolver's own timeouts (per process, from resolv.conf),
    so it runs in a daemon thread of its own and the call waits for it only until the deadline.
    Only a new connection resolves: a kept-alive one costs nothing here.
    """
    found: list[list[str] | BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(name, conn.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
            found.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except BaseException as exc:  # handed to the caller, which raises it in its thread
            found.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="resolve", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise ConnectTimeoutError(conn, f"Resolving {name} took past the call's deadline.")
    [result] = found
    if isinstance(result, socket.gaierror):
        raise NameResolutionError(conn.host, conn, result) from result
    if isinstance(result, BaseException):
        raise NewConnectionError(conn, f"Resolving {name} failed: {result}") from result
    return result


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


# urllib3's own classes, but answers are read through _DeadlineResponse (response_class is where
# http.client, and urllib3's CONNECT to a proxy, make the answer), and names resolved by the
# deadline.
class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _DeadlineResponse

    def _new_conn(self) -> socket.socket:
        return _connect_by_deadline(self, super()._new_conn)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _DeadlineResponse

    def _new_conn(self) -> socket.socket:
        return _connect_by_deadline(self, super()._new_conn)


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# For a pool to I'mport, and for a ProxyManager's pools (to the proxy, or tunnels through it).
POOL_CLASSES: dict[str, type[urllib3.HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}
