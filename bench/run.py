"""`make bench`: the floor, the seed-literal implementation, the bare Flask view and the service.

One run starts the I'mport sandbox, then the seed-literal app, the bare Flask view and the
service, each under gunicorn with the service's gunicorn.conf.py and the same environment
(real-mode credentials pointing at the sandbox, caller keys set, rate limits out of the way).
For each I'mport latency (default 20 ms, then 0 ms; the sandbox's ``latency_ms``) it sends the
same issuance requests, one unique ``customer_uid`` each, at a fixed concurrency over keep-alive
connections, to:

1. the floor: the sandbox's ``POST /subscribe/customers/{uid}`` with a valid token;
2. the seed-literal app (bench/seed_literal.py);
3. the bare Flask view (bench/bare_flask.py);
4. the service (``wsgi:app``).

It measures p50/p99 latency, requests per second, the CPU time of each target's process tree
(gunicorn master and workers, from /proc) per issuance, and the I'mport token calls per 1000
issuances (the sandbox's call counts), then prints a table per latency with the targets as
ratios from the same run. Then the paired phase loads the bare view and the service at the same
moment (their CPU ratio), the capacity phase runs at 200 ms with 64 and 256 callers, and a
py-spy profile of the service at 0 ms shows where its CPU goes. It always exits 0: it is a
report.

This module is the command line and the run's order; the targets and how they start are in
targets.py, one measured phase in phase.py, the tables in report.py, paired.py and capacity.py,
the profile in profile.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import capacity, paired, procs, report
from .phase import Phase, Runner, check_for, make_factory
from .targets import (
    APPS,
    OUT,
    ROOT,
    TARGETS,
    Gunicorn,
    Sandbox,
    bench_env,
    gunicorn_settings,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    parser.add_argument(
        "--paired-seconds",
        type=float,
        default=float(os.environ.get("PAIRED_SECONDS", 10)),
        help="seconds of each round of the paired phase: bare Flask and service loaded at once "
        "at 0 ms, --concurrency callers each (default 10; 0: no paired phase)",
    )
    parser.add_argument("--paired-rounds", type=int, default=3)
    return parser.parse_args(argv)


def measure_latencies(
    runner: Runner,
    latencies: list[int],
    targets: list[str],
    args: argparse.Namespace,
    run_id: str,
) -> dict[int, dict[str, list[Phase]]]:
    """Every phase of the latency tables: each latency, round and target in turn."""
    per_latency: dict[int, dict[str, list[Phase]]] = {}
    for latency_ms in latencies:
        runner.sandbox.set_latency(latency_ms)
        results: dict[str, list[Phase]] = {}
        for round_no in range(args.rounds):
            for target in targets:
                phase = runner.run(
                    target,
                    f"{latency_ms} ms: ",
                    round_no,
                    args.rounds,
                    latency_ms=latency_ms,
                    count=args.requests,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                    tag=f"b{run_id}_{target}_{latency_ms}_{round_no}",
                )
                results.setdefault(target, []).append(phase)
        per_latency[latency_ms] = results
    return per_latency


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    latencies = [int(x) for x in str(args.latency_ms).split(",") if x.strip()]
    targets = [t for t in args.targets.split(",") if t]

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = bench_env(workers=args.workers, threads=args.threads)

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
    runner = Runner(sandbox, servers, floor_token, args.balance)
    summary: dict[str, Any] = {"machine": procs.machine(), "gunicorn": settings, "latencies": {}}
    callers = [int(x) for x in str(args.capacity_concurrency).split(",") if x.strip()]
    if not args.capacity_latency_ms:
        callers = []
    capacity_targets = [t for t in capacity.CAPACITY_TARGETS if t in targets]
    try:
        for name, server in servers.items():
            if name in targets or (callers and name in capacity_targets):
                server.start(workers)
        service_started = time.monotonic()
        per_latency = measure_latencies(runner, latencies, targets, args, run_id)
        pair_rounds = []
        if args.paired_seconds > 0 and all(t in targets for t in paired.PAIR):
            pair_rounds = paired.measure(
                runner,
                concurrency=args.concurrency,
                seconds=args.paired_seconds,
                rounds=args.paired_rounds,
                warmup=args.warmup,
                run_id=run_id,
            )
        per_capacity = capacity.measure_all(
            runner,
            latency_ms=args.capacity_latency_ms,
            callers=callers,
            targets=capacity_targets,
            requests=args.capacity_requests,
            warmup=args.warmup,
            rounds=args.capacity_rounds,
            run_id=run_id,
        )
        service_elapsed = time.monotonic() - service_started

        for latency_ms, results in per_latency.items():
            summary["latencies"][str(latency_ms)] = report.report(
                latency_ms,
                results,
                concurrency=args.concurrency,
                gunicorn_desc=gunicorn_desc,
            )
        if pair_rounds:
            summary["paired"] = paired.report(
                pair_rounds, concurrency=args.concurrency, seconds=args.paired_seconds
            )
        summary["capacity"] = {}
        for concurrency, results in per_capacity.items():
            summary["capacity"][str(concurrency)] = capacity.report(
                args.capacity_latency_ms, concurrency, results, gunicorn_desc=gunicorn_desc
            )
        if "service" in targets:
            service_tokens = sum(
                p.token_calls + p.warmup_token_calls for p in runner.phases if p.target == "service"
            )
            summary["token_fetches"] = report.token_fetches(
                service_tokens, service_elapsed, workers, token_lifetime
            )
            report.print_balance(runner.phases)
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
        for p in runner.phases
    ]
    (OUT / "results.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    tables = [
        *summary["latencies"].values(),
        *([summary["paired"]] if "paired" in summary else []),
        *summary.get("capacity", {}).values(),
    ]
    verdicts = [v["met"] for table in tables for v in table["verdicts"].values()]
    if "token_fetches" in summary:
        verdicts.append(summary["token_fetches"]["met"])
    print()
    print(
        f"targets met: {sum(verdicts)} of {len(verdicts)} · whole run "
        f"{time.monotonic() - started:.0f} s · details in {OUT.relative_to(ROOT)}/results.json"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
