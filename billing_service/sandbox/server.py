"""HTTP plumbing of the sandbox: parsing, routing, token check, faults and the server object."""

from __future__ import annotations

import io
import json
import socket
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

from . import admin, cards, faults, iamport, schedules
from .notices import Notices, valid_url
from .state import DEFAULT_TOKEN_TTL, SandboxState
from .wire import Context, Reply, Request, Route, envelope, json_reply

DEFAULT_API_KEY = "imp_sandbox_key"
DEFAULT_API_SECRET = "imp_sandbox_secret"
MAX_BODY_BYTES = 1 << 20

MSG_BAD_BODY = "요청 본문을 해석할 수 없습니다."  # sandbox wording; real text unknown


def _match(
    routes: tuple[Route, ...], method: str, path: str
) -> tuple[Route | None, str | None, dict[str, str], list[str]]:
    """Return (route, template, params, allowed methods) for a path; route None means 404/405."""
    template: str | None = None
    allowed: list[str] = []
    for route in routes:
        match = route.pattern.fullmatch(path)
        if match is None:
            continue
        params = {name: unquote(value) for name, value in match.groupdict().items()}
        if route.method == method:
            return route, route.template, params, allowed
        template = route.template
        allowed.append(route.method)
    return None, template, {}, allowed


def _extract_token(headers: Any) -> tuple[str | None, str | None]:
    """Return (token, scheme). I'mport accepts `Bearer x`, a raw `x` (the original 2015 design,
    still sent by the official Python/Java/Go clients) and the legacy `X-ImpTokenHeader`;
    Authorization wins when both are present."""
    authorization = (headers.get("Authorization") or "").strip()
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return rest.strip(), "bearer"
        return authorization, "raw"
    legacy = (headers.get("X-ImpTokenHeader") or "").strip()
    if legacy:
        return legacy, "x-imptokenheader"
    return None, None


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """JSON or form-encoded body as a dict (both are accepted by I'mport); None if unreadable."""
    if not raw.strip():
        return {}
    if "application/x-www-form-urlencoded" in content_type.lower():
        # Flat keys only: nested form params arrive literally as `extra[requester]`.
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class _Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive, silent, every answer has a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = "iamport-sandbox"
    # Buffered writes: headers and body leave in one segment (flushed per request by the base
    # class). With TCP_NODELAY this avoids the Nagle/delayed-ACK 40 ms stall on keep-alive.
    wbufsize = -1
    server: _HTTPServer

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
        return self.server_version

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
        if self.server.ctx.stopping.is_set():
            self.close_connection = True  # shutdown() skipped it as busy: no keep-alive after

    def _dispatch_read(self, path: str, query_string: str, body: dict[str, Any] | None) -> None:
        if path.startswith(admin.PREFIX):
            self._send(self._admin(path, query_string, body))
            return
        ctx = self.server.ctx
        match = _match(iamport.ROUTES, self.command, path)
        # In flight from here until answered or reset: lets a test act while a call is slow.
        key = ctx.state.call_started(self.command, match[1])
        try:
            self._answer(ctx, match, path, query_string, body)
        finally:
            ctx.state.call_ended(key)

    def _answer(
        self,
        ctx: Context,
        match: tuple[Route | None, str | None, dict[str, str], list[str]],
        path: str,
        query_string: str,
        body: dict[str, Any] | None,
    ) -> None:
        route, template, params, allowed = match
        token, scheme = _extract_token(self.headers)
        # Taken as the call arrives, whatever then becomes of it: a queued fault strikes the
        # next call of its route, and only one call (see SandboxState.take_fault).
        fault = ctx.state.take_fault(route.key) if route is not None else None
        config = ctx.state.config
        delay_ms = config.latency_ms
        if route is not None and route.token_call:
            delay_ms += config.token_latency_ms
        reply: Reply | None
        if delay_ms and ctx.stopping.wait(delay_ms / 1000):
            reply = None  # shutting down mid-delay
        elif route is None:
            reply = self._no_route(allowed)
        elif fault in faults.BEFORE:
            reply = faults.before(fault)
        elif fault == faults.STALL and ctx.stopping.wait(ctx.hang_seconds):
            reply = None  # shut down while stalled: never processed
        elif route.auth and (
            ctx.state.config.unauthorized or token is None or not ctx.state.token_valid(token)
        ):
            reply = iamport.UNAUTHORIZED_REPLY
        elif body is None:
            reply = envelope(400, -1, MSG_BAD_BODY)
        else:
            request = Request(self.command, path, params, dict(parse_qsl(query_string)), body)
            reply = route.handler(ctx, request)
        if fault not in faults.BEFORE:
            reply = faults.after(fault, reply, ctx.hang_seconds)
        # Recorded before answering so a caller that got its response already sees the call.
        ctx.state.record_call(
            self.command,
            template,
            path,
            reply.status if reply is not None else None,
            scheme,
            self.headers.get("X-Request-ID"),
            cards.card_shapes(body),
        )
        if reply is not None and reply.delay and ctx.stopping.wait(reply.delay):
            reply = None  # woken by shutdown: the call happened, its answer is lost
        if reply is None:
            self._reset_connection()
        elif reply.trickle or reply.head_trickle:
            self._send_trickle(reply, ctx.stopping)
        else:
            self._send(reply)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def _admin(self, path: str, query_string: str, body: dict[str, Any] | None) -> Reply:
        route, _, params, allowed = _match(admin.ROUTES, self.command, path)
        if route is None:
            status = 405 if allowed else 404
            return json_reply(status, {"error": "no such sandbox endpoint or method"})
        if body is None:
            return json_reply(400, {"error": "body must be a JSON object"})
        request = Request(self.command, path, params, dict(parse_qsl(query_string)), body)
        reply = route.handler(self.server.ctx, request)
        assert reply is not None  # admin handlers never reset the connection
        return reply

    @staticmethod
    def _no_route(allowed: list[str]) -> Reply:
        if allowed:
            headers = (("Allow", ", ".join(allowed)),)
            return envelope(405, -1, "Method Not Allowed", headers=headers)
        return envelope(404, -1, "Not Found")

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
        return _parse_body(raw, self.headers.get("Content-Type") or "")

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


class _HTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open connections so shutdown() can cut idle keep-alives."""

    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], ctx: Context) -> None:
        self.ctx = ctx
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


class SandboxServer:
    """A running fake I'mport: `.url`, `.port`, `.state`, `.shutdown()`; a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        latency: float = 0.0,
        hang_seconds: float = 60.0,
        webhook_url: str | None = None,
    ) -> None:
        if webhook_url is not None and not valid_url(webhook_url):
            raise ValueError(f"webhook_url must be an http(s) URL, not {webhook_url!r}")
        self.state = SandboxState(
            api_key,
            api_secret,
            token_ttl=token_ttl,
            latency_ms=round(latency * 1000),
            webhook_url=webhook_url,
        )
        self._stopping = threading.Event()
        self.notices = Notices(self.state)
        self._ctx = Context(self.state, self._stopping, hang_seconds, self.notices)
        self._httpd = _HTTPServer((host, port), self._ctx)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._scheduler: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; the socket is already listening, so this returns at once.

        Also starts the scheduler thread (executes schedules when due) and the notice sender.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("sandbox server already shut down")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._httpd.serve_forever,
                    kwargs={"poll_interval": 0.05},  # shutdown() latency, not request latency
                    name=f"iamport-sandbox-{self.port}",
                    daemon=True,
                )
                self._thread.start()
                self.notices.start(f"iamport-sandbox-notices-{self.port}")
                self._scheduler = threading.Thread(
                    target=schedules.run_scheduler,
                    args=(self._ctx,),
                    name=f"iamport-sandbox-scheduler-{self.port}",
                    daemon=True,
                )
                self._scheduler.start()
        return self

    def shutdown(self) -> None:
        """Stop serving, wake hanging/delayed requests, cut idle connections, close the socket;
        stop the scheduler and the notice sender (notices still queued are not sent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            scheduler = self._scheduler
        self._stopping.set()
        self.state.schedules_changed.set()
        self.notices.close()  # also wakes `notices/wait` calls
        if scheduler is not None:
            scheduler.join(5)
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


def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str = DEFAULT_API_KEY,
    api_secret: str = DEFAULT_API_SECRET,
    token_ttl: int = DEFAULT_TOKEN_TTL,
    latency: float = 0.0,
    hang_seconds: float = 60.0,
    webhook_url: str | None = None,
) -> SandboxServer:
    """Bind and start a sandbox in a daemon thread; port 0 picks a free port (see `.url`).

    `webhook_url` is where notices go for payments without a `notice_url` (None: nowhere).
    """
    server = SandboxServer(
        host,
        port,
        api_key=api_key,
        api_secret=api_secret,
        token_ttl=token_ttl,
        latency=latency,
        hang_seconds=hang_seconds,
        webhook_url=webhook_url,
    )
    return server.start()
