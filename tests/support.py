"""Test support: constants, the sandbox handle (of either provider), the live gunicorn service,
a canned I'mport stand-in and requests run in the background."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis as redis_client
import requests

from billing_service.config import DEFAULT_LIMITS
from billing_service.sandbox import DEFAULT_API_KEY, DEFAULT_API_SECRET, portone_v2

ROOT = Path(__file__).resolve().parent.parent
CALLER_KEY = "test-caller-key-checkout"
OTHER_CALLER_KEY = "test-caller-key-ops"
# Real-mode settings need a card fingerprint key from the environment (32+ characters).
FINGERPRINT_KEY = "test-card-fingerprint-key-0123456789"
# Sandbox mode (no I'mport credentials): only when asked for.
SANDBOX_MODE = {"BILLING_SANDBOX": "true"}

# Distinctive test cards (Luhn-valid): the log scans look for exactly these digits.
CARD = "4242424242424242"
CORPORATE_CARD = "5555555555554444"
REJECTED_CARD = "4000000000000002"

VALID_BODY = {
    "card_number": "4242-4242-4242-4242",
    "expiry": "2031-07",
    "birth": "880101",
    "pwd_2digit": "47",
    "customer_uid": "gildong_0001_1234",
}


def envelope(response: object = None, code: int = 0, message: str | None = None) -> dict:
    """An answer of I'mport's: every one, errors included, comes in this envelope."""
    return {"code": code, "message": message, "response": response}


# I'mport's answer to getToken, for canned servers: a token valid for 30 minutes.
TOKEN_ANSWER = envelope({"access_token": "a" * 40, "now": 0, "expired_at": 1800})


# The two providers behind the same API (BILLING_PROVIDER). A module marked
# `pytestmark = pytest.mark.both_providers` runs each test using the `provider` fixture (through
# `sandbox`, `app`, `client`...) once per provider; elsewhere `provider` is I'mport V1.
V1, V2 = PROVIDERS = ("iamport_v1", "portone_v2")

# Each provider's sandbox routes (as its call log names them) for what the service asks.
ROUTES = {
    V1: {
        "issue": "POST /subscribe/customers/{customer_uid}",
        "key": "GET /subscribe/customers/{customer_uid}",
        "delete": "DELETE /subscribe/customers/{customer_uid}",
        "charge": "POST /subscribe/payments/again",
        "payment": "GET /payments/{imp_uid}",
        "cancel": "POST /payments/cancel",
    },
    V2: {
        "issue": "POST /billing-keys",
        "key": "GET /billing-keys/{billingKey}",
        "delete": "DELETE /billing-keys/{billingKey}",
        "charge": "POST /payments/{paymentId}/billing-key",
        "payment": "GET /payments/{paymentId}",
        "cancel": "POST /payments/{paymentId}/cancel",
    },
}


def v1_only(provider: str, why: str) -> None:
    """Skip the running test under PortOne V2: what it checks is I'mport's alone."""
    if provider != V1:
        pytest.skip(f"V1 only: {why}")


class Sandbox:
    """Test-side handle on a running sandbox: its URL, its provider and its admin endpoints."""

    def __init__(self, url: str, provider: str = V1) -> None:
        self.url = url
        self.provider = provider

    def route(self, name: str) -> str:
        """This provider's route for ``name`` (ROUTES: "issue", "charge", "cancel"...)."""
        return ROUTES[self.provider][name]

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment of a service in real mode against this sandbox."""
        if self.provider == V1:
            return service_env(self.url, **overrides)
        return v2_service_env(self.url, **overrides)

    def admin(self, method: str, path: str, **json: object) -> dict:
        resp = requests.request(method, f"{self.url}/__sandbox__/{path}", json=json or None)
        resp.raise_for_status()
        return resp.json()

    def counts(self) -> dict[str, int]:
        return self.admin("GET", "calls")["counts"]

    def count(self, route: str) -> int:
        return self.counts().get(route, 0)

    def wait_in_flight(self, route: str, timeout: float = 10) -> None:
        """Poll until a call to ``route`` has reached the sandbox and is not answered yet."""
        deadline = time.monotonic() + timeout
        while not self.admin("GET", "calls")["in_flight"].get(route):
            assert time.monotonic() < deadline, f"no call to {route} came in time"
            time.sleep(0.01)

    def calls(self, route: str) -> list[dict]:
        """The calls made to ``route`` ("METHOD /template"), oldest first."""
        calls = self.admin("GET", "calls")["calls"]
        return [c for c in calls if f"{c['method']} {c['route']}" == route]


# Rate limits out of the way, for tests that send many requests from one caller for one card.
NO_LIMITS = {name: "1000000/minute" for name in DEFAULT_LIMITS}

TOKEN_ROUTE = "POST /users/getToken"
ISSUE_ROUTE = "POST /subscribe/customers/{customer_uid}"


def service_env(sandbox_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a service using real-mode settings against the sandbox."""
    return {
        "IAMPORT_API_URL": sandbox_url,
        "IAMPORT_API_KEY": DEFAULT_API_KEY,
        "IAMPORT_API_SECRET": DEFAULT_API_SECRET,
        "BILLING_API_KEYS": f"checkout:{CALLER_KEY},ops:{OTHER_CALLER_KEY}",
        "IAMPORT_READ_TIMEOUT": "2",
        "BILLING_CARD_FINGERPRINT_KEY": FINGERPRINT_KEY,
        # Each service its own state store: counters and records never leak between tests.
        "BILLING_DATA_DIR": tempfile.mkdtemp(prefix="billing-test-"),
        **overrides,
    }


def v2_service_env(sandbox_url: str, **overrides: str) -> dict[str, str]:
    """service_env's twin for PortOne V2 (no IAMPORT_* set: mixing stops the service). The
    overrides' I'mport timeouts become PortOne's, so a test's short read timeout still holds."""
    renamed = {"IAMPORT_READ_TIMEOUT": "PORTONE_READ_TIMEOUT"}
    renamed["IAMPORT_CONNECT_TIMEOUT"] = "PORTONE_CONNECT_TIMEOUT"
    env = {
        name: value
        for name, value in service_env(sandbox_url).items()
        if not name.startswith("IAMPORT_")
    }
    return {
        **env,
        "BILLING_PROVIDER": V2,
        "PORTONE_API_URL": sandbox_url,
        "PORTONE_API_SECRET": portone_v2.DEFAULT_API_SECRET,
        "PORTONE_STORE_ID": portone_v2.DEFAULT_STORE_ID,
        "PORTONE_CHANNEL_KEY": portone_v2.DEFAULT_CHANNEL_KEY,
        "PORTONE_READ_TIMEOUT": "2",
        **{renamed.get(name, name): value for name, value in overrides.items()},
    }


def poll(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``condition`` held before ``timeout`` s passed (asked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveService:
    """gunicorn running wsgi:app with gunicorn.conf.py, as `make run` starts it.

    Its output (JSON lines: one per request, gunicorn's log, the app's events) is collected line
    by line, so tests can wait for a line to appear and scan everything the process wrote.
    """

    def __init__(self, env: dict[str, str], *, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env={**_base_env(), "PORT": str(self.port), "WEB_CONCURRENCY": str(workers), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so its workers can be killed too
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # Each worker starts its event consumer once its app is loaded (post_worker_init): from
        # then on it answers at once. ("Booting worker" comes before the app is loaded.)
        self.wait_for("The event consumer started", count=workers)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 30) -> None:
        def seen() -> bool:
            return sum(text in line for line in self.lines) >= count or self.proc.poll() is not None

        with self._changed:
            self._changed.wait_for(seen, timeout)
        if sum(text in line for line in self.lines) < count:
            raise RuntimeError(f"gunicorn never logged {text!r}:\n{self.log()}")

    def log(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def entries(self) -> list[dict]:
        """Every line written, parsed: each must be one JSON object."""
        return [json.loads(line) for line in self.log().splitlines()]

    def request_entries(self) -> list[dict]:
        """The service's line per request (logger billing_service.access), in order."""
        return [e for e in self.entries() if e["logger"] == "billing_service.access"]

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a worker stuck in start-up: don't leave it behind
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}


def card_numbers_in(text: str) -> list[str]:
    """Luhn-valid runs of 13-19 digits (spaces or dashes allowed) standing on their own: not
    the tail of a word such as an id (imps_113343930706 followed by a status, " 401", is no
    card written down)."""
    hits = []
    for match in re.finditer(r"(?<![0-9A-Za-z_])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z_])", text):
        digits = re.sub(r"[ -]", "", match.group())
        total = sum(
            d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d)
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            hits.append(match.group())
    return hits


def known_cards_in(text: str) -> list[str]:
    """Each test card number found in ``text``, whatever separators were put between digits."""
    return [
        card
        for card in (CARD, CORPORATE_CARD, REJECTED_CARD)
        if re.search("[ -]?".join(card), text)
    ]


class RedisServer:
    """A throwaway redis-server on a free loopback port (Debian's redis-server package)."""

    def __init__(self, port: int | None = None, args: Sequence[str] = ()) -> None:
        """``args``: more redis-server options (``--maxmemory-policy allkeys-lru``); given
        last, they override the defaults here."""
        self.port = port or free_port()  # a port: the one of a server stopped, to restart it
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until redis says it is ready
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """The Redis that .ci/run started (emptied first), else one of our own."""
    if url := os.environ.get("BILLING_TEST_REDIS_URL"):
        redis_client.Redis.from_url(url).flushdb()
        yield url
        return
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis tests: .ci/run installs redis-server")
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.stop()


class CannedServer:
    """A minimal HTTP server answering every request with the next canned response.

    A response may be delayed, may stop halfway through its body (``stall``) until the server
    is shut down, may be sent in chunks of 64 KiB without a Content-Length (``chunked``), or
    may have its status line and headers sent a byte every 0.05 s (``trickle_headers``).
    """

    def __init__(self) -> None:
        self.responses: list[dict] = []
        self.paths: list[str] = []
        self.bodies: list[bytes] = []
        self.peers: list[int] = []  # the client's port of each request: its connection
        self.headers: list[dict[str, str]] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with canned._lock:
                    canned.paths.append(self.path)
                    canned.bodies.append(body)
                    canned.peers.append(self.client_address[1])
                    canned.headers.append({k.lower(): v for k, v in self.headers.items()})
                    answer = canned.responses.pop(0)
                if answer["delay"]:
                    canned.released.wait(answer["delay"])
                body = answer["body"]
                self.send_response(answer["status"])
                for name, value in answer["headers"].items():
                    self.send_header(name, value)
                if answer["chunked"]:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 65536):
                        piece = body[i : i + 65536]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(body)))
                if answer["trickle_headers"]:
                    self._headers_buffer.append(b"\r\n")  # what end_headers would add and send
                    head = b"".join(self._headers_buffer)
                    self._headers_buffer = []
                    try:
                        for i in range(len(head)):
                            if canned.released.wait(0.05):  # the server is closing
                                return
                            self.wfile.write(head[i : i + 1])
                    except OSError:  # the client gave up and closed the connection
                        self.close_connection = True
                        return
                else:
                    self.end_headers()
                if answer["stall"]:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    canned.released.wait(30)
                    return
                self.wfile.write(body)

            do_GET = do_DELETE = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def add(
        self,
        status: int,
        body: object,
        headers: dict[str, str] | None = None,
        *,
        delay: float = 0,
        stall: bool = False,
        chunked: bool = False,
        trickle_headers: bool = False,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.responses.append(
            {
                "status": status,
                "headers": {"Content-Type": "application/json", **(headers or {})},
                "body": raw,
                "delay": delay,
                "stall": stall,
                "chunked": chunked,
                "trickle_headers": trickle_headers,
            }
        )

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class InFlight:
    """Runs one request in a thread; records its response (or error) and how long it took."""

    def __init__(self, send: Callable[[], requests.Response]) -> None:
        self.response: requests.Response | None = None
        self.error: BaseException | None = None
        self.elapsed = 0.0
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(send,), daemon=True).start()

    def _run(self, send: Callable[[], requests.Response]) -> None:
        started = time.monotonic()
        try:
            self.response = send()
        except BaseException as exc:  # noqa: BLE001 - reported by result()
            self.error = exc
        finally:
            self.elapsed = time.monotonic() - started
            self.done.set()

    def result(self, timeout: float) -> requests.Response:
        assert self.done.wait(timeout), "the request never ended"
        assert self.error is None, repr(self.error)
        assert self.response is not None
        return self.response
