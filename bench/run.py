"""`make bench`: the floor, the seed-literal implementation and the service, side by side.

One run starts the I'mport sandbox, then the seed-literal app and the service, each under
gunicorn with the service's gunicorn.conf.py and the same environment (real-mode credentials
pointing at the sandbox, caller keys set, rate limits out of the way). For each I'mport latency
(default 20 ms, then 0 ms; the sandbox's ``latency_ms``) it sends the same issuance requests,
one unique ``customer_uid`` each, at a fixed concurrency over keep-alive connections, to:

1. the floor: the sandbox's ``POST /subscribe/customers/{uid}`` with a valid token;
2. the seed-literal app (bench/seed_literal.py);
3. the service (``wsgi:app``).

It measures p50/p99 latency, requests per second, the CPU time of each target's process tree
(gunicorn master and workers, from /proc) per issuance, and the I'mport token calls per 1000
issuances (the sandbox's call counts), then prints a table per latency with the targets of
issue 5 as ratios from the same run. Finally it profiles the service at 0 ms latency with
py-spy (when installed) and prints where its CPU goes. It always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO

from . import load, procs
from .sampler import TreeSampler

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output" / "bench"

SANDBOX_KEY, SANDBOX_SECRET = "imp_sandbox_key", "imp_sandbox_secret"  # its defaults
CALLER_SECRET = "bench-caller-secret"
TOKEN_ROUTE = "POST /users/getToken"
ISSUE_ROUTE = "POST /subscribe/customers/{customer_uid}"
CARD = {"card_number": "4242-4242-4242-4242", "expiry": "2035-12", "birth": "880101"}
PWD = "12"
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
CAPACITY_TARGETS = ("floor", "seed", "service")

# Issue 5's targets, all ratios from the same run.
P50_VS_FLOOR_MAX = 1.10  # at 20 ms
THROUGHPUT_VS_SEED_MIN = 3.0  # at 0 ms
CPU_VS_SEED_MAX = 1 / 3  # at 0 ms
CPU_VS_BARE_MAX = 1.4  # at 0 ms: the service against the bare Flask floor of its own stack
# The capacity phase (200 ms, 64 and 256 callers).
CAPACITY_RATE_MIN = {64: 0.95, 256: 0.6}  # service req/s / floor req/s
CAPACITY_P50_MAX = {64: 1.05}  # service p50 / floor p50
NEW_CONNECTIONS_MAX = 1.0  # per 1000 upstream calls, once warm
RSS_MAX_MB = 250.0  # the instance (master + workers) with 256 in flight
RSS_AT = 256


@dataclass
class Phase:
    """One measured workload against one target at one latency."""

    target: str
    latency_ms: int
    requests: int
    failures: dict[str, int]
    elapsed: float
    rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_s: float  # the target's process tree (the sandbox's own process for the floor)
    cpu_by_process: dict[str, float]
    sandbox_cpu_s: float
    loadgen_cpu_s: float
    token_calls: int  # measured window only
    issue_calls: int
    warmup_token_calls: int
    spread: list[int]  # keep-alive connections per worker process
    other_cpu_s: float  # CPU used meanwhile by every other process on the machine
    concurrency: int = 0
    # Capacity phases only (bench/sampler.py): the tree's memory and upstream connections.
    rss_peak_mb: float | None = None  # master + workers, added up, highest sample
    pss_mb: float | None = None  # at the end of the window
    new_connections: int | None = None  # to the sandbox, opened during the window
    new_connections_closed: int | None = None  # of those, closed again by its end
    sampler_cpu_s: float = 0.0

    @property
    def upstream_calls(self) -> int:
        return self.token_calls + self.issue_calls

    @property
    def new_connections_per_1000(self) -> float | None:
        if self.new_connections is None or not self.upstream_calls:
            return None
        return 1000 * self.new_connections / self.upstream_calls

    @property
    def cpu_ms_per_issue(self) -> float:
        return 1000 * self.cpu_s / self.requests

    @property
    def tokens_per_1000(self) -> float:
        return 1000 * self.token_calls / self.requests


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


# --- the requests -------------------------------------------------------------------------------


def _issue_body(uid: str) -> bytes:
    return json.dumps({**CARD, "pwd_2digit": PWD, "customer_uid": uid}).encode()


def make_factory(target: str, tag: str, floor_token: str) -> load.RequestFactory:
    """Request number i for ``target``; every request has its own customer_uid."""
    if target == "floor":
        headers = {"Authorization": f"Bearer {floor_token}", "Content-Type": "application/json"}
        card = json.dumps({**CARD, "pwd_2digit": PWD}).encode()

        def floor(i: int) -> tuple[str, str, bytes, dict[str, str]]:
            return "POST", f"/subscribe/customers/{tag}_{i}", card, headers

        return floor
    headers = {"Content-Type": "application/json"}
    if target == "service":
        headers["Authorization"] = f"Bearer {CALLER_SECRET}"

    def issue(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        return "POST", "/subscriptions/issue-billing", _issue_body(f"{tag}_{i}"), headers

    return issue


def check_for(target: str) -> load.Check:
    def floor(status: int, body: bytes) -> bool:
        return status == 200 and json.loads(body).get("code") == 0

    def issued(status: int, body: bytes) -> bool:
        return status == 200 and json.loads(body).get("status") == "success"

    return floor if target == "floor" else issued


# --- one phase ----------------------------------------------------------------------------------


def measure(
    target: str,
    port: int,
    root_pid: int,
    sandbox: Sandbox,
    *,
    latency_ms: int,
    count: int,
    warmup: int,
    concurrency: int,
    floor_token: str,
    tag: str,
    balance: bool,
    sample: bool = False,
) -> Phase:
    """One workload against one target; with ``sample``, its memory and upstream connections
    are sampled too (bench/sampler.py, every quarter of the latency)."""
    factory = make_factory(target, tag, floor_token)
    check = check_for(target)
    spread: dict[str, Any] = {}
    if balance and target != "floor":
        spread = dict(zip(("owners", "processes"), owners_of(root_pid, port), strict=True))
    before_warmup = sandbox.counts()
    if warmup:
        load.run("127.0.0.1", port, factory, warmup, concurrency, check, first=0, **spread)
    counts_before = sandbox.counts()
    sampler = None
    if sample:
        upstream = None if target == "floor" else sandbox.port
        sampler = TreeSampler(root_pid, upstream, interval=max(0.01, latency_ms / 4000))
        sampler.start()
    cpu_before = procs.cpu_seconds(root_pid)
    sandbox_before = procs.tree_cpu(sandbox.proc.pid)
    busy_before = procs.machine_busy()
    result = load.run("127.0.0.1", port, factory, count, concurrency, check, first=warmup, **spread)
    busy = procs.machine_busy() - busy_before
    sandbox_after = procs.tree_cpu(sandbox.proc.pid)
    cpu_after = procs.cpu_seconds(root_pid)
    if sampler is not None:
        sampler.stop()
    counts_after = sandbox.counts()

    def delta(route: str, a: dict[str, int], b: dict[str, int]) -> int:
        return b.get(route, 0) - a.get(route, 0)

    by_process = {str(pid): cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    # A process that ended during the phase is in its parent's cutime/cstime (when reaped).
    cpu = sum(cpu_after.values()) - sum(cpu_before.values())
    accounted = result.cpu_self + sandbox_after - sandbox_before
    if target != "floor":
        accounted += cpu
    sampler_cpu = sampler.cpu_s if sampler is not None else 0.0
    return Phase(
        target=target,
        latency_ms=latency_ms,
        requests=result.requests,
        failures=dict(result.failures),
        elapsed=result.elapsed,
        rate=result.rate,
        p50_ms=1000 * result.percentile(50),
        p90_ms=1000 * result.percentile(90),
        p99_ms=1000 * result.percentile(99),
        max_ms=1000 * max(result.latencies),
        cpu_s=cpu,
        cpu_by_process=by_process,
        sandbox_cpu_s=sandbox_after - sandbox_before,
        loadgen_cpu_s=result.cpu_self - sampler_cpu,
        token_calls=delta(TOKEN_ROUTE, counts_before, counts_after),
        issue_calls=delta(ISSUE_ROUTE, counts_before, counts_after),
        warmup_token_calls=delta(TOKEN_ROUTE, before_warmup, counts_before),
        spread=result.spread,
        other_cpu_s=max(0.0, busy - accounted),
        concurrency=concurrency,
        rss_peak_mb=sampler.rss_peak / 2**20 if sampler else None,
        pss_mb=sampler.pss_end / 2**20 if sampler else None,
        new_connections=sampler.new_connections if sampler and target != "floor" else None,
        new_connections_closed=sampler.new_closed if sampler and target != "floor" else None,
        sampler_cpu_s=sampler_cpu,
    )


def owners_of(root_pid: int, port: int) -> tuple[load.Owners, int]:
    """Which worker of the gunicorn at ``root_pid`` holds each client port; how many workers."""
    workers = [pid for pid in procs.descendants(root_pid) if pid != root_pid]

    def owners(ports: list[int]) -> dict[int, int]:
        held = procs.connection_owners(workers, port)
        return {p: held[p] for p in ports if p in held}

    return owners, len(workers)


# --- the report ---------------------------------------------------------------------------------


def _median(phases: list[Phase], attr: str) -> float:
    return statistics.median(float(getattr(p, attr)) for p in phases)


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report(
    latency_ms: int,
    results: dict[str, list[Phase]],
    *,
    concurrency: int,
    gunicorn_desc: str,
) -> dict[str, Any]:
    """Print the table of one latency; return its figures and verdicts."""
    rounds = max(len(v) for v in results.values())
    first = next(iter(results.values()))[0]
    print()
    print(
        f"== I'mport latency {latency_ms} ms · {first.requests} issuances per target"
        f"{f' × {rounds} rounds (medians)' if rounds > 1 else ''} · concurrency {concurrency}"
        f" · {gunicorn_desc}"
    )
    header = (
        f"{'target':<16}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'req/s':>8}"
        f"{'CPU ms/iss':>11}{'token/1000':>11}{'sandbox':>9}{'loadgen':>9}{'other':>7}"
        f"{'fail':>6}"
    )
    print(header)
    print("-" * len(header))
    figures: dict[str, Any] = {}
    for target in TARGETS:
        phases = results.get(target)
        if not phases:
            continue
        row = {
            attr: _median(phases, attr)
            for attr in (
                "p50_ms",
                "p99_ms",
                "max_ms",
                "rate",
                "cpu_ms_per_issue",
                "tokens_per_1000",
            )
        }
        row["sandbox_ms_per_issue"] = statistics.median(
            1000 * p.sandbox_cpu_s / p.requests for p in phases
        )
        row["loadgen_ms_per_issue"] = statistics.median(
            1000 * p.loadgen_cpu_s / p.requests for p in phases
        )
        row["other_cores"] = statistics.median(p.other_cpu_s / p.elapsed for p in phases)
        row["failures"] = sum(sum(p.failures.values()) for p in phases)
        figures[target] = row
        cpu = "—" if target == "floor" else f"{row['cpu_ms_per_issue']:.2f}"
        print(
            f"{LABELS[target]:<16}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
            f"{row['max_ms']:>8.1f}{row['rate']:>8.1f}{cpu:>11}"
            f"{row['tokens_per_1000']:>11.1f}{row['sandbox_ms_per_issue']:>9.2f}"
            f"{row['loadgen_ms_per_issue']:>9.2f}{row['other_cores']:>7.2f}{row['failures']:>6}"
        )
    print(
        "  CPU ms/iss: the target's gunicorn master + workers (user + system) per issuance. "
        "sandbox, loadgen:\n  the I'mport sandbox's and this load generator's CPU ms per "
        "issuance in the same window (they share\n  the cores). other: cores busy with any "
        "other process meanwhile (should be ~0)."
    )
    busiest = max(row["other_cores"] for row in figures.values())
    if busiest > 0.15:
        print(
            f"  ⚠ other processes kept up to {busiest:.2f} cores busy during these runs: the "
            "figures are disturbed; run again on a quiet machine."
        )
    for target in TARGETS:
        for phase in results.get(target, []):
            for failure, n in phase.failures.items():
                print(f"  ! {LABELS[target]}: {n} × {failure}")
            if phase.issue_calls != phase.requests:
                print(
                    f"  ! {LABELS[target]}: {phase.issue_calls} issuance calls reached the "
                    f"sandbox for {phase.requests} requests"
                )
    verdicts: dict[str, Any] = {}
    floor, seed, bare, service = (figures.get(t) for t in TARGETS)
    print("ratios:")
    if floor and service:
        ratio = service["p50_ms"] / floor["p50_ms"]
        line = f"  service p50 / floor p50         = {ratio:5.2f}×"
        if latency_ms == 20:
            verdicts["p50_vs_floor"] = {"value": ratio, "met": ratio <= P50_VS_FLOOR_MAX}
            line += f"   target ≤ {P50_VS_FLOOR_MAX:.2f}× at 20 ms: {_verdict(ratio <= 1.10)}"
        print(line)
        print(f"  service p99 / floor p99         = {service['p99_ms'] / floor['p99_ms']:5.2f}×")
        print(f"  service req/s / floor req/s     = {service['rate'] / floor['rate']:5.2f}×")
    if seed and service:
        ratio = service["rate"] / seed["rate"]
        line = f"  service req/s / seed req/s      = {ratio:5.2f}×"
        if latency_ms == 0:
            ok = ratio >= THROUGHPUT_VS_SEED_MIN
            verdicts["throughput_vs_seed"] = {"value": ratio, "met": ok}
            line += f"   target ≥ {THROUGHPUT_VS_SEED_MIN:.2f}× at 0 ms:  {_verdict(ok)}"
        print(line)
        ratio = service["cpu_ms_per_issue"] / seed["cpu_ms_per_issue"]
        line = f"  service CPU / seed CPU per iss. = {ratio:5.2f}× (1/{1 / ratio:.2f})"
        if latency_ms == 0:
            ok = ratio <= CPU_VS_SEED_MAX
            verdicts["cpu_vs_seed"] = {"value": ratio, "met": ok}
            line += f"   target ≤ 1/3 at 0 ms: {_verdict(ok)}"
        print(line)
        print(f"  service p50 / seed p50          = {service['p50_ms'] / seed['p50_ms']:5.2f}×")
    if bare and service:
        ratio = service["cpu_ms_per_issue"] / bare["cpu_ms_per_issue"]
        line = f"  service CPU / bare Flask CPU    = {ratio:5.2f}×"
        if latency_ms == 0:
            ok = ratio <= CPU_VS_BARE_MAX
            verdicts["cpu_vs_bare"] = {"value": ratio, "met": ok}
            line += f"   target ≤ {CPU_VS_BARE_MAX:.2f}× at 0 ms: {_verdict(ok)}"
        print(line)
        print(f"  service p50 / bare Flask p50    = {service['p50_ms'] / bare['p50_ms']:5.2f}×")
    return {"figures": figures, "verdicts": verdicts}


def capacity_report(
    latency_ms: int, concurrency: int, phases: dict[str, list[Phase]], *, gunicorn_desc: str
) -> dict[str, Any]:
    """Print the capacity table of one concurrency; return its figures and verdicts."""
    first = next(iter(phases.values()))[0]
    print()
    print(
        f"== Capacity: I'mport latency {latency_ms} ms · {concurrency} callers · "
        f"{first.requests} issuances per target · {gunicorn_desc}"
    )
    header = (
        f"{'target':<16}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'req/s':>8}"
        f"{'CPU ms/iss':>11}{'RSS MB':>8}{'PSS MB':>8}{'conn/1000':>10}{'sandbox':>9}"
        f"{'loadgen':>9}{'other':>7}{'fail':>6}"
    )
    print(header)
    print("-" * len(header))
    figures: dict[str, Any] = {}
    for target in TARGETS:
        runs = phases.get(target)
        if not runs:
            continue
        row: dict[str, Any] = {
            attr: _median(runs, attr)
            for attr in ("p50_ms", "p99_ms", "max_ms", "rate", "cpu_ms_per_issue")
        }
        row["rss_mb"] = max(p.rss_peak_mb or 0.0 for p in runs)
        row["pss_mb"] = max(p.pss_mb or 0.0 for p in runs)
        conns = [p.new_connections_per_1000 for p in runs]
        row["new_connections_per_1000"] = None if None in conns else max(conns)  # type: ignore
        row["sandbox_ms_per_issue"] = statistics.median(
            1000 * p.sandbox_cpu_s / p.requests for p in runs
        )
        row["loadgen_ms_per_issue"] = statistics.median(
            1000 * p.loadgen_cpu_s / p.requests for p in runs
        )
        row["other_cores"] = statistics.median(p.other_cpu_s / p.elapsed for p in runs)
        row["failures"] = sum(sum(p.failures.values()) for p in runs)
        row["missing_calls"] = sum(max(0, p.requests - p.issue_calls) for p in runs)
        figures[target] = row
        cpu = "—" if target == "floor" else f"{row['cpu_ms_per_issue']:.2f}"
        per_1000 = row["new_connections_per_1000"]
        print(
            f"{LABELS[target]:<16}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}"
            f"{row['max_ms']:>8.1f}{row['rate']:>8.1f}{cpu:>11}{row['rss_mb']:>8.1f}"
            f"{row['pss_mb']:>8.1f}{'—' if per_1000 is None else f'{per_1000:.1f}':>10}"
            f"{row['sandbox_ms_per_issue']:>9.2f}{row['loadgen_ms_per_issue']:>9.2f}"
            f"{row['other_cores']:>7.2f}{row['failures']:>6}"
        )
    print(
        "  RSS MB: the target's processes' resident sets added up (gunicorn master + workers; "
        "the sandbox for\n  the floor), highest sample; PSS MB: the same with shared pages "
        "split, at the end. conn/1000:\n  TCP connections to the sandbox the target opened "
        "during the measured window per 1000 I'mport calls\n  (token + issuance), from "
        "/proc/net/tcp and the processes' descriptors (bench/sampler.py)."
    )
    busiest = max(row["other_cores"] for row in figures.values())
    if busiest > 0.15:
        print(
            f"  ⚠ other processes kept up to {busiest:.2f} cores busy during these runs: the "
            "figures are disturbed; run again on a quiet machine."
        )
    for target, runs in phases.items():
        for phase in runs:
            for failure, n in phase.failures.items():
                print(f"  ! {LABELS[target]}: {n} × {failure}")
    verdicts: dict[str, Any] = {}
    floor, service = figures.get("floor"), figures.get("service")
    print("ratios and targets:")
    if floor and service:
        ratio = service["rate"] / floor["rate"]
        line = f"  service req/s / floor req/s     = {ratio:5.2f}×"
        if concurrency in CAPACITY_RATE_MIN:
            ok = ratio >= CAPACITY_RATE_MIN[concurrency]
            verdicts["rate_vs_floor"] = {"value": ratio, "met": ok}
            line += f"   target ≥ {CAPACITY_RATE_MIN[concurrency]:.2f}×: {_verdict(ok)}"
        print(line)
        ratio = service["p50_ms"] / floor["p50_ms"]
        line = f"  service p50 / floor p50         = {ratio:5.2f}×"
        if concurrency in CAPACITY_P50_MAX:
            ok = ratio <= CAPACITY_P50_MAX[concurrency]
            verdicts["p50_vs_floor"] = {"value": ratio, "met": ok}
            line += f"   target ≤ {CAPACITY_P50_MAX[concurrency]:.2f}×: {_verdict(ok)}"
        print(line)
        print(
            f"  service p99 / floor p99         = {service['p99_ms'] / floor['p99_ms']:5.2f}×"
            f"   (service p99 {service['p99_ms']:.0f} ms)"
        )
    if service:
        errors = service["failures"] + service["missing_calls"]
        ok = errors == 0
        verdicts["errors"] = {"value": errors, "met": ok}
        print(f"  service errors                  = {errors:5d}    target 0: {_verdict(ok)}")
        per_1000 = service["new_connections_per_1000"]
        runs = phases["service"]
        opened = sum(p.new_connections or 0 for p in runs)
        closed = sum(p.new_connections_closed or 0 for p in runs)
        print(
            f"  service: {opened} upstream connection(s) opened in the window, {closed} of them "
            "closed again by its end (closed ones are churn; open ones, a pool still growing)"
        )
        if per_1000 is not None:
            ok = per_1000 <= NEW_CONNECTIONS_MAX
            verdicts["new_connections"] = {"value": per_1000, "met": ok}
            print(
                f"  service new upstream conn./1000 = {per_1000:5.2f}    target ≤ "
                f"{NEW_CONNECTIONS_MAX:.0f} once warm: {_verdict(ok)}"
            )
        line = f"  service RSS (master + workers)  = {service['rss_mb']:5.0f} MB"
        if concurrency == RSS_AT:
            ok = service["rss_mb"] <= RSS_MAX_MB
            verdicts["rss"] = {"value": service["rss_mb"], "met": ok}
            line += f" target ≤ {RSS_MAX_MB:.0f} MB at {RSS_AT} in flight: {_verdict(ok)}"
        print(line)
    return {"figures": figures, "verdicts": verdicts}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--latency-ms",
        default=os.environ.get("LATENCY_MS") or "20,0",
        help="comma-separated I'mport latencies to run (default 20,0; env LATENCY_MS)",
    )
    parser.add_argument("--requests", type=int, default=int(os.environ.get("REQUESTS", 2000)))
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CONCURRENCY", 8)))
    parser.add_argument(
        "--rounds", type=int, default=3, help="repeat each workload (default 3); medians"
    )
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for both gunicorns")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS for both gunicorns")
    parser.add_argument(
        "--balance",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="spread the keep-alive connections evenly over the gunicorn workers (default on)",
    )
    parser.add_argument("--service-app", default="wsgi:app", help="WSGI app of the service")
    parser.add_argument(
        "--service-dir",
        type=Path,
        help="run the service from another checkout (its gunicorn.conf.py and billing_service, "
        "e.g. a patched copy, to measure a change before making it)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("PROFILE", "1") != "0",
        help="profile the service at 0 ms with py-spy afterwards (default on when installed)",
    )
    parser.add_argument("--profile-requests", type=int, default=3000)
    parser.add_argument(
        "--capacity-latency-ms",
        type=int,
        default=int(os.environ.get("CAPACITY_LATENCY_MS", 200)),
        help="I'mport latency of the capacity phase (default 200; 0: no capacity phase)",
    )
    parser.add_argument(
        "--capacity-concurrency",
        default=os.environ.get("CAPACITY_CONCURRENCY") or "64,256",
        help="comma-separated caller counts of the capacity phase (default 64,256)",
    )
    parser.add_argument(
        "--capacity-requests",
        type=int,
        default=int(os.environ.get("CAPACITY_REQUESTS", 2000)),
        help="issuances per target and caller count in the capacity phase (default 2000)",
    )
    parser.add_argument("--capacity-rounds", type=int, default=1)
    args = parser.parse_args(argv)
    latencies = [int(x) for x in str(args.latency_ms).split(",") if x.strip()]
    targets = [t for t in args.targets.split(",") if t]

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
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
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)

    print(f"machine: {procs.machine()}")
    sandbox = Sandbox(latencies[0])
    env["IAMPORT_API_URL"] = sandbox.url
    settings = gunicorn_settings(env)
    workers = int(settings["workers"])
    gunicorn_desc = (
        f"gunicorn {version('gunicorn')} {settings['worker_class']}, {workers} workers × "
        f"{settings['threads']} threads, worker_connections {settings['worker_connections']}, "
        f"access log {settings['accesslog']!r}"
    )
    print(
        f"software: Flask {version('flask')}, flask-smorest {version('flask-smorest')}, "
        f"marshmallow {version('marshmallow')}, requests {version('requests')}, "
        f"urllib3 {version('urllib3')}; {gunicorn_desc}"
    )
    floor_token, token_lifetime = sandbox.token()
    servers = {name: Gunicorn(log, app, env) for name, (log, app) in APPS.items()}
    servers["service"] = Gunicorn("service", args.service_app, env)
    if args.service_dir:
        service_dir = args.service_dir.resolve()
        servers["service"] = Gunicorn(
            "service", args.service_app, {**env, "PYTHONPATH": str(service_dir)}, service_dir
        )
        print(f"service from {service_dir}")
    run_id = f"{int(time.time()) % 100000:05d}"
    all_phases: list[Phase] = []
    summary: dict[str, Any] = {"machine": procs.machine(), "gunicorn": settings, "latencies": {}}
    service_tokens = 0
    capacity = [int(x) for x in str(args.capacity_concurrency).split(",") if x.strip()]
    if not args.capacity_latency_ms:
        capacity = []
    capacity_targets = [t for t in CAPACITY_TARGETS if t in targets]
    try:
        for name, server in servers.items():
            if name in targets or (capacity and name in capacity_targets):
                server.start(workers)
        service_started = time.monotonic()
        per_latency: dict[int, dict[str, list[Phase]]] = {}
        for latency_ms in latencies:
            sandbox.set_latency(latency_ms)
            results: dict[str, list[Phase]] = {}
            for round_no in range(args.rounds):
                for target in targets:
                    port, root = (
                        (sandbox.port, sandbox.proc.pid)
                        if target == "floor"
                        else (servers[target].port, servers[target].pid)
                    )
                    print(
                        f"… {latency_ms} ms: {LABELS[target]}"
                        f"{f' (round {round_no + 1})' if args.rounds > 1 else ''}",
                        end="",
                        flush=True,
                    )
                    phase = measure(
                        target,
                        port,
                        root,
                        sandbox,
                        latency_ms=latency_ms,
                        count=args.requests,
                        warmup=args.warmup,
                        concurrency=args.concurrency,
                        floor_token=floor_token,
                        tag=f"b{run_id}_{target}_{latency_ms}_{round_no}",
                        balance=args.balance,
                    )
                    spread = f", connections per worker {'/'.join(map(str, phase.spread))}"
                    print(f" {phase.elapsed:.1f} s{spread if phase.spread else ''}")
                    results.setdefault(target, []).append(phase)
                    all_phases.append(phase)
                    if target == "service":
                        service_tokens += phase.token_calls + phase.warmup_token_calls
            per_latency[latency_ms] = results
        per_capacity: dict[int, dict[str, list[Phase]]] = {}
        if capacity:
            sandbox.set_latency(args.capacity_latency_ms)
        for callers in capacity:
            results = {}
            for round_no in range(args.capacity_rounds):
                for target in capacity_targets:
                    port, root = (
                        (sandbox.port, sandbox.proc.pid)
                        if target == "floor"
                        else (servers[target].port, servers[target].pid)
                    )
                    print(
                        f"… capacity {args.capacity_latency_ms} ms, {callers} callers: "
                        f"{LABELS[target]}"
                        f"{f' (round {round_no + 1})' if args.capacity_rounds > 1 else ''}",
                        end="",
                        flush=True,
                    )
                    phase = measure(
                        target,
                        port,
                        root,
                        sandbox,
                        latency_ms=args.capacity_latency_ms,
                        count=args.capacity_requests,
                        # Enough for every caller's connection and for the pools behind
                        # them to grow to their peak (2 × callers left 27 of 256 to open).
                        warmup=max(args.warmup, 4 * callers),
                        concurrency=callers,
                        floor_token=floor_token,
                        tag=f"b{run_id}_{target}_cap{callers}_{round_no}",
                        balance=args.balance,
                        sample=True,
                    )
                    spread = f", connections per worker {'/'.join(map(str, phase.spread))}"
                    print(f" {phase.elapsed:.1f} s{spread if phase.spread else ''}")
                    results.setdefault(target, []).append(phase)
                    all_phases.append(phase)
                    if target == "service":
                        service_tokens += phase.token_calls + phase.warmup_token_calls
            per_capacity[callers] = results
        service_elapsed = time.monotonic() - service_started

        for latency_ms, results in per_latency.items():
            summary["latencies"][str(latency_ms)] = report(
                latency_ms,
                results,
                concurrency=args.concurrency,
                gunicorn_desc=gunicorn_desc,
            )
        summary["capacity"] = {}
        for callers, results in per_capacity.items():
            summary["capacity"][str(callers)] = capacity_report(
                args.capacity_latency_ms, callers, results, gunicorn_desc=gunicorn_desc
            )
        if "service" in targets:
            lifetimes = max(1, math.ceil(service_elapsed / token_lifetime))
            allowed = workers * lifetimes
            ok = service_tokens <= allowed
            print()
            print(
                f"token fetches by the service since it started: {service_tokens} in "
                f"{service_elapsed:.0f} s ({workers} worker processes, token lifetime "
                f"{token_lifetime} s → at most {allowed}): "
                f"target ≤ 1 per worker per lifetime: {_verdict(ok)}"
            )
            summary["token_fetches"] = {
                "service": service_tokens,
                "allowed": allowed,
                "seconds": service_elapsed,
                "met": ok,
            }
            _print_balance(all_phases)
        if args.profile and "service" in targets:
            from . import profile

            summary["profile"] = profile.run(
                servers["service"],
                sandbox,
                make_factory("service", f"b{run_id}_profile", floor_token),
                check_for("service"),
                count=args.profile_requests,
                concurrency=args.concurrency,
                out=OUT,
            )
    finally:
        for server in servers.values():
            server.stop()
        sandbox.stop()
    summary["phases"] = [
        {
            **asdict(p),
            "cpu_ms_per_issue": p.cpu_ms_per_issue,
            "new_connections_per_1000": p.new_connections_per_1000,
        }
        for p in all_phases
    ]
    (OUT / "results.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    tables = [*summary["latencies"].values(), *summary.get("capacity", {}).values()]
    verdicts = [v["met"] for table in tables for v in table["verdicts"].values()]
    if "token_fetches" in summary:
        verdicts.append(summary["token_fetches"]["met"])
    print()
    print(
        f"targets met: {sum(verdicts)} of {len(verdicts)} · whole run "
        f"{time.monotonic() - started:.0f} s · details in {OUT.relative_to(ROOT)}/results.json"
    )
    return 0


def _print_balance(phases: list[Phase]) -> None:
    """How the service's CPU split between its processes (master last), per latency."""
    splits: dict[int, list[str]] = {}
    for phase in phases:
        if phase.target == "service":
            shares = sorted(phase.cpu_by_process.values(), reverse=True)
            total = sum(shares) or 1
            splits.setdefault(phase.latency_ms, []).append(
                "/".join(f"{100 * s / total:.0f}" for s in shares)
            )
    for latency_ms, split in splits.items():
        print(
            f"  service CPU split between its processes (%) at {latency_ms} ms: {', '.join(split)}"
        )


if __name__ == "__main__":
    sys.exit(main())
