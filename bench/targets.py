"""The targets a run measures and how they are started: the I'mport sandbox, a gunicorn per app.

The floor is the sandbox itself; the seed-literal app, the bare Flask app and the service each run
under their own gunicorn with the service's gunicorn.conf.py and the same environment
(``bench_env``: real-mode credentials pointing at the sandbox, a caller key, limits out of the
way), so only the WSGI app differs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output" / "bench"

SANDBOX_KEY, SANDBOX_SECRET = "imp_sandbox_key", "imp_sandbox_secret"  # its defaults
CALLER_SECRET = "bench-caller-secret"
# Far above what a run sends, in the window of the production defaults (per hour), so the
# limiter keeps as many counters alive as it would in production.
NO_LIMIT = "1000000000/hour"

TARGETS = ("floor", "seed", "bare", "service")
LABELS = {
    "floor": "floor (sandbox)",
    "seed": "seed-literal",
    "bare": "bare Flask",
    "service": "service",
}
# The gunicorn of each target but the floor: (log name, WSGI app).
APPS = {
    "seed": ("seed-literal", "bench.seed_literal:app"),
    "bare": ("bare-flask", "bench.bare_flask:app"),
}


def bench_env(*, workers: int | None, threads: int | None) -> dict[str, str]:
    """The environment of every gunicorn (``IAMPORT_API_URL`` is added once the sandbox runs)."""
    env = {
        **os.environ,
        "IAMPORT_API_KEY": SANDBOX_KEY,
        "IAMPORT_API_SECRET": SANDBOX_SECRET,
        "BILLING_API_KEYS": f"bench:{CALLER_SECRET}",
        "BILLING_RATELIMIT_STORAGE": "memory://",
        "BILLING_CARD_FINGERPRINT_KEY": "bench-fingerprint-key-" + "0" * 32,
        "BILLING_LIMIT_ISSUE_PER_CALLER": NO_LIMIT,
        "BILLING_LIMIT_ISSUE_PER_CUSTOMER": NO_LIMIT,
        "BILLING_LIMIT_ISSUE_PER_CARD": NO_LIMIT,
        "BILLING_LIMIT_REFUSALS_PER_CALLER": NO_LIMIT,
    }
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    return env


@dataclass
class Gunicorn:
    """One gunicorn master (with its workers) started with gunicorn.conf.py."""

    name: str
    app: str
    env: dict[str, str]
    cwd: Path = ROOT
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    _log: TextIO | None = None

    def start(self, workers: int) -> None:
        self.port = _free_port()
        self.log_path = OUT / f"{self.name}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", self.app],
            cwd=self.cwd,
            env={**self.env, "PORT": str(self.port)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while self.log_path.read_text().count("Booting worker") < workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        _wait_for_port(self.port)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()


class Sandbox:
    def __init__(self, latency_ms: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "billing_service.sandbox", "--port", "0"]
            + ["--latency-ms", str(latency_ms)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.url = line.rsplit(" ", 1)[-1].strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.port = int(self.url.rsplit(":", 1)[1])

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}/__sandbox__/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.admin("GET", "calls")["counts"]
        return counts

    def set_latency(self, latency_ms: int) -> None:
        self.admin("POST", "config", {"latency_ms": latency_ms})

    def token(self) -> tuple[str, int]:
        req = urllib.request.Request(
            f"{self.url}/users/getToken",
            data=json.dumps({"imp_key": SANDBOX_KEY, "imp_secret": SANDBOX_SECRET}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.load(resp)["response"]
        return answer["access_token"], answer["expired_at"] - answer["now"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """What gunicorn.conf.py resolves to in ``env`` (read by running it, as gunicorn does)."""
    code = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: c.get(k) for k in "
        "('workers', 'threads', 'worker_class', 'worker_connections', 'keepalive', "
        "'accesslog')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    settings: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return settings
