"""One phase: one workload against one target at one latency, and what is measured meanwhile.

The requests (the same issuance, a unique ``customer_uid`` each; straight to the sandbox for the
floor), the check of each answer, and the figures of the measured window (latencies, rate, CPU of
the target's process tree, of the sandbox, of the load generator and of every other process,
I'mport calls; with ``sample``, memory and upstream connections from bench/sampler.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import load, procs
from .sampler import TreeSampler
from .targets import CALLER_SECRET, LABELS, Gunicorn, Sandbox

TOKEN_ROUTE = "POST /users/getToken"
ISSUE_ROUTE = "POST /subscribe/customers/{customer_uid}"
CARD = {"card_number": "4242-4242-4242-4242", "expiry": "2035-12", "birth": "880101"}
PWD = "12"


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
    busy_cpu_s: float  # CPU the whole machine used meanwhile (all processes, all cores)
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
    def busy_cores(self) -> float:
        return self.busy_cpu_s / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms_per_issue(self) -> float:
        return 1000 * self.cpu_s / self.requests

    @property
    def tokens_per_1000(self) -> float:
        return 1000 * self.token_calls / self.requests


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
        busy_cpu_s=busy,
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


@dataclass
class Runner:
    """Runs phases against the started targets, saying each on one line; keeps every phase."""

    sandbox: Sandbox
    servers: dict[str, Gunicorn]
    floor_token: str
    balance: bool
    phases: list[Phase] = field(default_factory=list)

    def run(
        self,
        target: str,
        progress: str,
        round_no: int,
        rounds: int,
        *,
        latency_ms: int,
        count: int,
        warmup: int,
        concurrency: int,
        tag: str,
        sample: bool = False,
    ) -> Phase:
        """Measure round ``round_no`` of ``rounds``; ``progress`` goes before the target's name."""
        port, root = (
            (self.sandbox.port, self.sandbox.proc.pid)
            if target == "floor"
            else (self.servers[target].port, self.servers[target].pid)
        )
        print(
            f"… {progress}{LABELS[target]}{f' (round {round_no + 1})' if rounds > 1 else ''}",
            end="",
            flush=True,
        )
        phase = measure(
            target,
            port,
            root,
            self.sandbox,
            latency_ms=latency_ms,
            count=count,
            warmup=warmup,
            concurrency=concurrency,
            floor_token=self.floor_token,
            tag=tag,
            balance=self.balance,
            sample=sample,
        )
        spread = f", connections per worker {'/'.join(map(str, phase.spread))}"
        print(f" {phase.elapsed:.1f} s{spread if phase.spread else ''}")
        self.phases.append(phase)
        return phase
