"""The capacity phase: a real network's I'mport (200 ms) and many callers, and its report.

Floor, seed-literal, bare Flask view and service each get 64, then 256 closed-loop callers
(``--capacity-*``), sampled for memory and upstream connections (bench/sampler.py); one table per
caller count with the service's ratios to the floor and to the bare Flask view, and the capacity
targets. The yardstick is the bare view under the same gunicorn settings: on 2 cores shared with
the load generator and the sandbox, it reaches only about half of the floor at 256 callers.
"""

from __future__ import annotations

import os
from typing import Any

from .phase import Phase, Runner
from .report import add_shared_figures, median, print_failures, verdict, warn_if_disturbed
from .targets import LABELS, TARGETS

CAPACITY_TARGETS = ("floor", "seed", "bare", "service")
# Issue 17's, against the bare Flask view (same run, same gunicorn settings).
CAPACITY_RATE_MIN = {64: 0.9, 256: 0.7}  # service req/s / bare req/s
CAPACITY_P50_MAX = {64: 1.1}  # service p50 / bare p50
CAPACITY_P99_MAX = {256: 2.0}  # service p99 / bare p99
NEW_CONNECTIONS_MAX = 1.0  # per 1000 upstream calls, once warm
RSS_MAX_MB = 250.0  # the instance (master + workers) with 256 in flight
RSS_AT = 256


def measure_all(
    runner: Runner,
    *,
    latency_ms: int,
    callers: list[int],
    targets: list[str],
    requests: int,
    warmup: int,
    rounds: int,
    run_id: str,
) -> dict[int, dict[str, list[Phase]]]:
    """Every capacity phase: each caller count, round and target in turn."""
    per_capacity: dict[int, dict[str, list[Phase]]] = {}
    if callers:
        runner.sandbox.set_latency(latency_ms)
    for concurrency in callers:
        results: dict[str, list[Phase]] = {}
        for round_no in range(rounds):
            for target in targets:
                phase = runner.run(
                    target,
                    f"capacity {latency_ms} ms, {concurrency} callers: ",
                    round_no,
                    rounds,
                    latency_ms=latency_ms,
                    count=requests,
                    # Enough for every caller's connection and for the pools behind
                    # them to grow to their peak (2 × callers left 27 of 256 to open).
                    warmup=max(warmup, 4 * concurrency),
                    concurrency=concurrency,
                    tag=f"b{run_id}_{target}_cap{concurrency}_{round_no}",
                    sample=True,
                )
                results.setdefault(target, []).append(phase)
        per_capacity[concurrency] = results
    return per_capacity


def report(
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
            attr: median(runs, attr)
            for attr in ("p50_ms", "p99_ms", "max_ms", "rate", "cpu_ms_per_issue")
        }
        row["rss_mb"] = max(p.rss_peak_mb or 0.0 for p in runs)
        row["pss_mb"] = max(p.pss_mb or 0.0 for p in runs)
        conns = [p.new_connections_per_1000 for p in runs]
        row["new_connections_per_1000"] = None if None in conns else max(conns)  # type: ignore
        add_shared_figures(row, runs)
        row["missing_calls"] = sum(max(0, p.requests - p.issue_calls) for p in runs)
        row["busy_cores"] = median(runs, "busy_cores")
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
    warn_if_disturbed(figures)
    for target, runs in phases.items():
        for phase in runs:
            print_failures(target, phase)
    verdicts: dict[str, Any] = {}
    floor, bare, service = (figures.get(t) for t in ("floor", "bare", "service"))
    print("ratios and targets:")
    if bare and service:
        for name, attr, limits, at_least in (
            ("req/s", "rate", CAPACITY_RATE_MIN, True),
            ("p50", "p50_ms", CAPACITY_P50_MAX, False),
            ("p99", "p99_ms", CAPACITY_P99_MAX, False),
        ):
            ratio = service[attr] / bare[attr]
            line = f"  service {name} / bare Flask {name:<5} = {ratio:5.2f}×"
            if concurrency in limits:
                limit = limits[concurrency]
                ok = ratio >= limit if at_least else ratio <= limit
                verdicts[f"{attr}_vs_bare"] = {"value": ratio, "met": ok}
                line += f"   target {'≥' if at_least else '≤'} {limit:.2f}×: {verdict(ok)}"
            print(line)
    if floor and service:
        print(
            f"  service req/s / floor req/s     = {service['rate'] / floor['rate']:5.2f}×"
            f"   p50 {service['p50_ms'] / floor['p50_ms']:.2f}×, p99 "
            f"{service['p99_ms'] / floor['p99_ms']:.2f}× (service p99 {service['p99_ms']:.0f} ms)"
        )
    if bare and service:
        cores = len(os.sched_getaffinity(0))
        print(
            f"  machine busy meanwhile          = bare Flask {bare['busy_cores']:.2f}, service "
            f"{service['busy_cores']:.2f} of {cores} cores (all processes; near {cores}: "
            "CPU-bound)"
        )
    if service:
        errors = service["failures"] + service["missing_calls"]
        ok = errors == 0
        verdicts["errors"] = {"value": errors, "met": ok}
        print(f"  service errors                  = {errors:5d}    target 0: {verdict(ok)}")
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
                f"{NEW_CONNECTIONS_MAX:.0f} once warm: {verdict(ok)}"
            )
        line = f"  service RSS (master + workers)  = {service['rss_mb']:5.0f} MB"
        if concurrency == RSS_AT:
            ok = service["rss_mb"] <= RSS_MAX_MB
            verdicts["rss"] = {"value": service["rss_mb"], "met": ok}
            line += f" target ≤ {RSS_MAX_MB:.0f} MB at {RSS_AT} in flight: {verdict(ok)}"
        print(line)
    return {"figures": figures, "verdicts": verdicts}
