"""The one way to a payment provider: every call goes through ``Transport.request``.

It owns what every call needs, whatever the provider and the operation: one pool of kept-alive
connections per process (or a proxy manager), connect and read timeouts and a total deadline,
the size cap on answers, the classification of every failure to get an answer into the
gateway's exceptions, the request id header, and the observer that is told about each call.
What an answer means (its status, a provider's envelope) is the provider's: each gives the
transport its ``AnswerReader`` (I'mport's is ``iamport_v1.envelope.read_answer``, PortOne
V2's ``portone_v2.answer.read_answer``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import certifi
import urllib3
import urllib3.connection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as TransportError

from ..deadline import DEADLINE, POOL_CLASSES
from .call_context import REQUEST_ID, SENT_CALLS, CallObserver
from .exceptions import GatewayError, GatewayTimeout, GatewayUnavailable, UnexpectedResponse

logger = logging.getLogger(__name__)

# What calls go through: a pool of connections to the provider, or a manager of pools to a proxy.
_Connections = urllib3.HTTPConnectionPool | urllib3.ProxyManager
# Reads a whole answer (its HTTP status and body) into what the call returns, or raises the
# gateway's exception for it: the provider's rules (its statuses, its envelope).
AnswerReader = Callable[[int, bytes], Any]


class Transport:
    """Sends calls to one provider and reads their answers; nothing is ever retried here.

    ``read_answer`` reads each answer the provider's way; ``provider`` names the provider in the
    failures' messages ("I'mport could not be reached.").

    ``observer`` (optional) is told about every call and token fetch (see ``call_context``); every
    call carries ``call_context.REQUEST_ID`` as ``X-Request-ID`` when it is set.
    """

    def __init__(
        self,
        base_url: str,
        read_answer: AnswerReader,
        *,
        provider: str,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        proxy_url: str | None = None,
        ca_bundle: str | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._read_answer = read_answer
        self._provider = provider
        self._path_prefix = urllib3.util.parse_url(self.base_url).path or ""
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._proxy_url = proxy_url
        self._ca_bundle = ca_bundle
        # (pid, connections, what goes before a call's path): one attribute, read in one step.
        self._connections_of: tuple[int, _Connections, str] | None = None
        self._observer = observer

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> Any:
        """Send one request and return what the provider's ``read_answer`` reads of its answer.

        ``operation`` names the call for the observer (a fixed, low-cardinality name);
        ``token`` is sent as a Bearer token, ``headers`` (a provider's own: PortOne V2's
        ``Authorization`` scheme, an ``Idempotency-Key``) as they are; ``read_timeout``, when
        given, replaces the transport's for this call (PortOne V2 waits longer for calls that
        move money than for lookups).
        """
        read_timeout = self._read_timeout if read_timeout is None else read_timeout
        timeout = urllib3.Timeout(connect=self._connect_timeout, read=read_timeout)
        # time.monotonic, not the injected clock: that one measures token lifetimes (tests freeze
        # it), this one measures real waiting.
        started = time.monotonic()
        # The read timeout bounds each wait for the next bytes, not the whole answer: a provider
        # (or a proxy) that trickles bytes could hold a call, and a gunicorn thread, forever.
        # Every call must end within this total instead, set where the answer's reader is made,
        # in this thread, inside urllib3 (see deadline.py).
        deadline_set = DEADLINE.set(started + self._connect_timeout + read_timeout)
        status: int | None = None
        outcome = "error"
        sent = True  # unless the connection failed before the request was written
        try:
            resp = self._send(method, path, body, params, _headers(token, headers), timeout)
            status = resp.status
            try:
                raw_body = _read_body(resp, self._provider)
            finally:
                # A body read to its end has already put the connection back in the pool
                # (urllib3 does so at EOF) and close() leaves it alone. Any other way out
                # (deadline, size cap, broken connection) close() shuts the socket, so a
                # connection with unread bytes in it is never reused, and release_conn() gives
                # the pool its slot back (it reconnects on the slot's next use).
                resp.close()
                resp.release_conn()
            result = self._read_answer(status, raw_body)
            outcome = "ok"
            return result
        except GatewayError as exc:
            outcome, sent = type(exc).__name__, exc.request_sent
            raise
        finally:
            DEADLINE.reset(deadline_set)
            # A provider runs no call whose credentials it refused (401): that one was not sent.
            if sent and status != 401 and (sent_calls := SENT_CALLS.get()) is not None:
                sent_calls.add(operation)
            if self._observer is not None:
                self._notify(
                    self._observer.on_call,
                    operation,
                    outcome,
                    status,
                    time.monotonic() - started,
                )

    def token_fetched(self) -> None:
        """Tell the observer that an access token is being fetched."""
        if self._observer is not None:
            self._notify(self._observer.on_token_fetch)

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        timeout: urllib3.Timeout,
    ) -> urllib3.BaseHTTPResponse:
        """Send the request and return once the answer's status line and headers are in.

        urllib3 directly, not requests over it: requests' per-call work (merging session
        settings, cookies and hooks, scanning the environment for proxies) cost more CPU than
        everything else the service does for an issuance, and none of it is needed by a fixed
        JSON API with no cookies or redirects (the proxy is read once, by config.py).
        """
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, allow_nan=False).encode()
        connections, prefix = self._connections()
        url = prefix + path + (f"?{urlencode(params)}" if params else "")
        try:
            return connections.urlopen(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=timeout,
                # Never sent twice behind the gateway's back: a charge must not run twice.
                retries=False,
                # A redirect would re-post card data to another host (OWASP API10).
                redirect=False,
                # Return once the headers are in: the body is read by the caller, against a size
                # cap. The status line and headers (and a proxy's answer to CONNECT) are read in
                # here, the body there, both by the call's deadline, as is the resolution of
                # the provider's name (deadline.py). Not bounded by it, only wait by wait by the
                # connect timeout: the connect to each address and the TLS handshake.
                preload_content=False,
            )
        except NewConnectionError as exc:  # refused, unreachable, unknown host: nothing was sent
            raise GatewayUnavailable(_unreachable(self._provider), request_sent=False) from exc
        except ConnectTimeoutError as exc:  # connect, or name resolution, took too long
            raise GatewayTimeout(_too_slow(self._provider), request_sent=False) from exc
        except ReadTimeoutError as exc:  # the read timeout or the deadline, once it was sent
            raise GatewayTimeout(_too_slow(self._provider)) from exc
        except (TransportError, OSError) as exc:  # reset, closed, TLS failure: maybe received
            raise GatewayUnavailable(_unreachable(self._provider)) from exc

    def _notify(self, event: Callable[..., None], *args: Any) -> None:
        """Tell the observer; its failure must never change what a call returns or raises."""
        try:
            event(*args)
        except Exception:
            logger.exception("The %s call observer failed", self._provider)

    def _connections(self) -> tuple[_Connections, str]:
        # A forked worker must not share its parent's sockets: one pool per process. Two threads
        # that both find none open one each, and the last one stays: no lock, so none can be
        # held across a fork. The pool itself is thread-safe and lends each call a connection.
        current = self._connections_of
        if current is None or current[0] != os.getpid():
            current = self._connections_of = (os.getpid(), *self._open_connections())
        return current[1], current[2]

    def _open_connections(self) -> tuple[_Connections, str]:
        options: dict[str, Any] = {"maxsize": max_idle_connections(), "block": False}
        url = urllib3.util.parse_url(self.base_url)
        scheme = "https" if url.scheme == "https" else "http"  # as urllib3.connection_from_url
        if scheme == "https":
            # certifi: the trust store requests would use, the same in every image.
            options["ca_certs"] = self._ca_bundle or certifi.where()
        if self._proxy_url is None:
            port = url.port or urllib3.connection.port_by_scheme[scheme]
            pool = POOL_CLASSES[scheme](url.host or "", port, **options)
            return pool, self._path_prefix
        # The manager tunnels https through the proxy (CONNECT) and asks it for plain http URLs
        # whole, with the proxy's credentials from its URL; calls name the whole URL.
        proxy = urllib3.util.parse_url(self._proxy_url)
        headers = urllib3.make_headers(proxy_basic_auth=proxy.auth) if proxy.auth else None
        manager = urllib3.ProxyManager(
            self._proxy_url, num_pools=1, proxy_headers=headers, **options
        )
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager, self.base_url


def _headers(token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """A call's headers: the fixed ones, its credentials, the request id, the provider's own."""
    headers = dict(_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request_id = REQUEST_ID.get()
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    headers.update(extra or {})
    return headers


# Sent on every call. gzip: the body is read through urllib3's decoder, against the size cap.
_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "billing-service",
}
# Connections are opened as calls need them (block=False: a call never waits for one); the pool's
# maxsize bounds how many stay open between calls. It must be at least the calls one process can
# have in flight, one per gunicorn thread, or every call beyond it opens a connection that is
# closed again on return ("Connection pool is full, discarding connection"): a TCP (and, to the
# real I'mport, TLS) handshake per call. So it follows the thread count, read where gunicorn.conf.py
# reads it: GUNICORN_THREADS, which gunicorn.conf.py also sets (to its default) in the master
# before forking, so the workers see the count gunicorn runs with. A few more for the worker's own
# background threads (the events consumer). Read when a process opens its pool (after the fork).
# Outside gunicorn (tests, `flask run`) GUNICORN_THREADS is unset: 32 then.
_THREADS_ENV = "GUNICORN_THREADS"
_EXTRA_IDLE_CONNECTIONS = 4
_MAX_IDLE_CONNECTIONS = 32  # without GUNICORN_THREADS


def max_idle_connections() -> int:
    """The pool's maxsize: a process's gunicorn threads (GUNICORN_THREADS) plus a few."""
    threads = os.environ.get(_THREADS_ENV, "").strip()
    if not threads.isdigit() or int(threads) < 1:
        return _MAX_IDLE_CONNECTIONS
    return int(threads) + _EXTRA_IDLE_CONNECTIONS


# The most we read of one answer (after decompression); I'mport's largest real answers, a payment
# with its cancel history, are a few KiB.
MAX_RESPONSE_BYTES = 1 << 20
_READ_SIZE = 64 * 1024


def _read_body(resp: urllib3.BaseHTTPResponse, provider: str) -> bytes:
    """Read the whole body, at most MAX_RESPONSE_BYTES of it; by the deadline (_DeadlineReader).

    ``read1`` returns whatever has arrived (at most one socket read) instead of waiting for a
    full buffer, so the size is checked between every few bytes a peer sends. A normal answer
    is already buffered with its headers and costs two read1 calls.
    """
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise UnexpectedResponse(f"{provider}'s answer is too large.")
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = resp.read1(min(_READ_SIZE, MAX_RESPONSE_BYTES + 1 - size), decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise UnexpectedResponse(f"{provider}'s answer is too large.")
            chunks.append(chunk)
    except ReadTimeoutError as exc:  # the read timeout or the deadline
        raise GatewayTimeout(_too_slow(provider)) from exc
    except TransportError as exc:  # connection reset or closed mid-body, bad chunking or gzip
        raise GatewayUnavailable(f"{provider}'s answer was cut off.") from exc


def _unreachable(provider: str) -> str:
    return f"{provider} could not be reached."


def _too_slow(provider: str) -> str:
    return f"{provider} did not answer in time."
