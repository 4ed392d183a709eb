"""The paired phase: the bare Flask view and the service loaded at the same moment, at 0 ms.

This machine's speed drifts from second to second (other processes, frequency, the host), so
two phases run one after the other can differ by more than what separates the two apps: CPU
per issuance measured in alternating rows scattered the service-to-bare ratio between 2.3 and
2.7. Here both gunicorns get the same number of closed-loop callers for the same number of
seconds, and each tree's CPU is read over that one window: whatever slows the machine slows
both. Each target's callers run in a process of their own (forked, started together at one
barrier): in one process the two sets of threads shared one GIL, and the faster target's
answers kept it, so the service got a fifth of the bare view's requests instead of about its
share of the CPU. One line per round, and the median of the rounds' ratios against issue 17's
target.
"""

from __future__ import annotations

import multiprocessing
import statistics
from typing import Any

from . import load, procs
from .phase import Runner, check_for, make_factory, owners_of
from .report import verdict
from .targets import LABELS

PAIR = ("bare", "service")
CPU_VS_BARE_MAX = 1.5  # service CPU per issuance / bare Flask's, same window


def measure(
    runner: Runner, *, concurrency: int, seconds: float, rounds: int, warmup: int, run_id: str
) -> list[dict[str, Any]]:
    """Each round: both targets loaded for ``seconds`` at once; their figures per target."""
    runner.sandbox.set_latency(0)
    results = []
    for round_no in range(rounds):
        print(
            f"… paired 0 ms: {' + '.join(LABELS[t] for t in PAIR)}, {concurrency} callers each"
            f"{f' (round {round_no + 1})' if rounds > 1 else ''}",
            end="",
            flush=True,
        )
        results.append(_round(runner, concurrency, seconds, warmup, f"b{run_id}_pair{round_no}"))
        print(f" {seconds:.0f} s")
    return results


def _round(
    runner: Runner, concurrency: int, seconds: float, warmup: int, tag: str
) -> dict[str, Any]:
    servers = {t: runner.servers[t] for t in PAIR}
    factories = {t: make_factory(t, f"{tag}_{t}", runner.floor_token) for t in PAIR}
    spreads: dict[str, dict[str, Any]] = {}
    for target, server in servers.items():
        if runner.balance:
            owners, processes = owners_of(server.pid, server.port)
            spreads[target] = {"owners": owners, "processes": processes}
        load.run(
            "127.0.0.1", server.port, factories[target], warmup, concurrency, check_for(target)
        )
    # Both runs open (and spread) their connections, then start at once; the CPU is read
    # around both, so each tree's CPU and requests come from the same window.
    fork = multiprocessing.get_context("fork")
    ready = fork.Barrier(len(PAIR) + 1)
    results = fork.SimpleQueue()

    def drive(target: str) -> None:
        result = load.run(
            "127.0.0.1",
            servers[target].port,
            factories[target],
            10**9,
            concurrency,
            check_for(target),
            first=warmup,
            seconds=seconds,
            ready=ready.wait,
            **spreads.get(target, {}),
        )
        results.put((target, result))

    children = [fork.Process(target=drive, args=(t,), daemon=True) for t in PAIR]
    for child in children:
        child.start()
    ready.wait()
    cpu_before = {t: procs.tree_cpu(s.pid) for t, s in servers.items()}
    sandbox_before = procs.tree_cpu(runner.sandbox.proc.pid)
    busy_before = procs.machine_busy()
    outcome: dict[str, load.LoadResult] = dict(results.get() for _ in children)
    for child in children:
        child.join()
    busy = procs.machine_busy() - busy_before
    sandbox_cpu = procs.tree_cpu(runner.sandbox.proc.pid) - sandbox_before
    cpu = {t: procs.tree_cpu(s.pid) - cpu_before[t] for t, s in servers.items()}
    loadgen = sum(r.cpu_self for r in outcome.values())
    elapsed = max(r.elapsed for r in outcome.values())
    figures: dict[str, Any] = {
        t: {
            "requests": r.requests,
            "rate": r.rate,
            "p50_ms": 1000 * r.percentile(50),
            "cpu_ms_per_issue": 1000 * cpu[t] / r.requests,
            "failures": sum(r.failures.values()),
            "spread": r.spread,
        }
        for t, r in outcome.items()
    }
    figures["ratio"] = figures["service"]["cpu_ms_per_issue"] / figures["bare"]["cpu_ms_per_issue"]
    accounted = sum(cpu.values()) + sandbox_cpu + loadgen
    figures["other_cores"] = max(0.0, busy - accounted) / elapsed
    return figures


def report(rounds: list[dict[str, Any]], *, concurrency: int, seconds: float) -> dict[str, Any]:
    """Print the paired table; return its figures and verdict."""
    print()
    print(
        f"== Paired: {LABELS['bare']} and service loaded at the same moment · I'mport latency "
        f"0 ms · {concurrency} callers each · {seconds:.0f} s × {len(rounds)} round(s)"
    )
    header = (
        f"{'round':<7}{'bare req/s':>11}{'bare CPU':>10}{'svc req/s':>11}{'svc CPU':>10}"
        f"{'CPU ratio':>11}{'other':>7}{'fail':>6}"
    )
    print(header)
    print("-" * len(header))
    for n, row in enumerate(rounds, 1):
        bare, service = row["bare"], row["service"]
        print(
            f"{n:<7}{bare['rate']:>11.1f}{bare['cpu_ms_per_issue']:>10.2f}"
            f"{service['rate']:>11.1f}{service['cpu_ms_per_issue']:>10.2f}"
            f"{row['ratio']:>10.2f}×{row['other_cores']:>7.2f}"
            f"{bare['failures'] + service['failures']:>6}"
        )
    print(
        "  CPU: each gunicorn's master + workers, user + system, ms per issuance, over the same "
        "window;\n  other: cores busy with any other process meanwhile."
    )
    ratio = statistics.median(row["ratio"] for row in rounds)
    ok = ratio <= CPU_VS_BARE_MAX
    print(
        f"  service CPU / bare Flask CPU    = {ratio:5.2f}× (median)   target ≤ "
        f"{CPU_VS_BARE_MAX:.2f}× at 0 ms, same moment: {verdict(ok)}"
    )
    return {"rounds": rounds, "verdicts": {"cpu_vs_bare": {"value": ratio, "met": ok}}}
