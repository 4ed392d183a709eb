"""The HTTP server every provider's fake runs behind: reading, routing, faults, answering.

Standard library only: keep-alive, silent, every answer has a Content-Length. What an answer
says is the provider's (`provider.Fake`); when and how it goes out (latency, route faults,
hang, trickle, reset) is decided here, the same for every provider.
"""

from __future__ import annotations

import io
import socket
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from . import admin, faults
from .provider import Sandbox
from .wire import Match, Reply, Request, json_reply, match, parse_body

MAX_BODY_BYTES = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive, silent, every answer has a Content-Length."""

    protocol_version = "HTTP/1.1"
    # Buffered writes: headers and body leave in one segment (flushed per request by the base
    # class). With TCP_NODELAY this avoids the Nagle/delayed-ACK 40 ms stall on keep-alive.
    wbufsize = -1
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def version_string(self) -> str:
        return self.server.sandbox.fake.name

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox is a latency floor for benchmarks."""

    def _dispatch(self) -> None:
        path, _, query_string = self.path.partition("?")
        body = self._read_body()
        self.server.set_busy(self.connection, True)
        try:
            self._dispatch_read(path, query_string, body)
        finally:
            self.server.set_busy(self.connection, False)
        if self.server.sandbox.shared.stopping.is_set():
            self.close_connection = True  # shutdown() skipped it as busy: no keep-alive after

    def _dispatch_read(self, path: str, query_string: str, body: dict[str, Any] | None) -> None:
        if path.startswith(admin.PREFIX):
            self._send(self._admin(path, query_string, body))
            return
        calls = self.server.sandbox.shared.calls
        found = match(self.server.sandbox.fake.routes, self.command, path)
        # In flight from here until answered or reset: lets a test act while a call is slow.
        key = calls.started(self.command, found.template)
        try:
            self._answer(found, path, query_string, body)
        finally:
            calls.ended(key)

    def _answer(
        self, found: Match[Any], path: str, query_string: str, body: dict[str, Any] | None
    ) -> None:
        shared, fake = self.server.sandbox.shared, self.server.sandbox.fake
        route = found.route
        credential, scheme = fake.credentials(self.headers)
        # Taken as the call arrives, whatever then becomes of it: a queued fault strikes the
        # next call of its route, and only one call (see FaultQueue.take).
        fault = shared.faults.take(route.key) if route is not None else None
        delay = fake.latency(route)
        reply: Reply | None
        if delay and shared.stopping.wait(delay):
            reply = None  # shutting down mid-delay
        elif route is None:
            reply = fake.no_route(found.allowed)
        elif fault in faults.BEFORE:
            reply = fake.fault_reply(fault)
        elif fault == faults.STALL and shared.stopping.wait(shared.hang_seconds):
            reply = None  # shut down while stalled: never processed
        else:
            request = None
            if body is not None:
                query = dict(parse_qsl(query_string))
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Request(self.command, path, found.params, query, body, headers)
            reply = fake.answer(route, credential, request)
        if fault not in faults.BEFORE:
            reply = faults.after(fault, reply, shared.hang_seconds)
        # Recorded before answering so a caller that got its response already sees the call.
        shared.calls.record(
            self.command,
            found.template,
            path,
            reply.status if reply is not None else None,
            scheme,
            self.headers.get("X-Request-ID"),
            fake.shapes(body),
        )
        if reply is not None and reply.delay and shared.stopping.wait(reply.delay):
            reply = None  # woken by shutdown: the call happened, its answer is lost
        if reply is None:
            self._reset_connection()
        elif reply.trickle or reply.head_trickle:
            self._send_trickle(reply, shared.stopping)
        else:
            self._send(reply)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def _admin(self, path: str, query_string: str, body: dict[str, Any] | None) -> Reply:
        """A provider-neutral admin endpoint, else one of the fake's own."""
        sandbox = self.server.sandbox
        found: Match[Any] = match(admin.ROUTES, self.command, path)
        neutral = found.template is not None
        if not neutral:
            found = match(sandbox.fake.admin_routes, self.command, path)
        if found.route is None:
            status = 405 if found.allowed else 404
            return json_reply(status, {"error": "no such sandbox endpoint or method"})
        if body is None:
            return json_reply(400, {"error": "body must be a JSON object"})
        request = Request(self.command, path, found.params, dict(parse_qsl(query_string)), body)
        if neutral:
            reply = found.route.handler(sandbox, request)
        else:
            reply = sandbox.fake.admin(found.route, request)
        assert reply is not None  # admin handlers never reset the connection
        return reply

    def _read_body(self) -> dict[str, Any] | None:
        """Always consume the body (keep-alive framing depends on it); None if unusable."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = self._read_chunked()
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True  # framing is lost: answer, then hang up
                return None
            raw = self.rfile.read(length)
        if raw is None:
            return None
        return parse_body(raw, self.headers.get("Content-Type") or "")

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                return None
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # optional trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)  # CRLF after each chunk

    def _send(self, reply: Reply) -> None:
        self._send_head(reply)
        self.wfile.write(reply.body)

    def _send_head(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()

    def _send_trickle(self, reply: Reply, stopping: threading.Event) -> None:
        """Send the head, then the body, each at once or one byte per interval.

        ``reply.head_trickle`` paces the status line and headers, ``reply.trickle`` the body.
        Every byte comes well within a read timeout, the whole answer long after it: only a
        total deadline on the client side ends the call. Shutdown cuts it short with a reset; a
        client that gave up makes the next write fail, which ends the thread quietly.
        """
        if self._trickle(self._head_bytes(reply), reply.head_trickle, stopping):
            self._trickle(reply.body, reply.trickle, stopping)

    def _head_bytes(self, reply: Reply) -> bytes:
        """The status line and headers `_send` would write, as bytes, so they can be paced.

        BaseHTTPRequestHandler writes them to `wfile` only; a stand-in file catches them.
        """
        wfile, self.wfile = self.wfile, io.BytesIO()
        try:
            self._send_head(reply)
            return self.wfile.getvalue()
        finally:
            self.wfile = wfile

    def _trickle(self, data: bytes, interval: float, stopping: threading.Event) -> bool:
        """Write `data` at once (interval 0) or a byte per interval; False if cut by shutdown."""
        if not interval:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        for i in range(len(data)):
            if stopping.wait(interval):
                self._reset_connection()
                return False
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
        return True

    def _reset_connection(self) -> None:
        """Hang up with a TCP RST (SO_LINGER on, 0 s) and no answer, like a crashed proxy."""
        self.close_connection = True
        # Out of shutdown()'s reach: its FIN, sent before finish() really closes the fd, would
        # turn the RST into a clean close.
        self.server.untrack(self.connection)
        try:
            linger = struct.pack("ii", 1, 0)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        # The fd really closes (sending the RST) when finish() closes rfile/wfile; the later
        # shutdown(SHUT_WR) of socketserver then fails quietly, so no FIN precedes the RST.
        self.connection.close()


class HTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open connections so shutdown() can cut idle keep-alives."""

    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()  # between a request read and its answer
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall
        # for seconds in containers; the name is only used for CGI, so skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)
            self._busy.discard(connection)

    def set_busy(self, connection: socket.socket, busy: bool) -> None:
        with self._connections_lock:
            if not busy:
                self._busy.discard(connection)
            elif connection in self._connections:  # not one already reset
                self._busy.add(connection)

    def close_connections(self) -> None:
        """Cut the connections that wait for a request (or read one).

        A connection busy with a request is left to its thread: woken by `stopping`, it resets
        the connection itself, and a FIN sent from here first would make that a clean close.
        """
        with self._connections_lock:
            connections = list(self._connections - self._busy)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # wakes threads blocked in recv()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanishing (timeouts, our own resets, shutdown) are normal here: stay quiet.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)
