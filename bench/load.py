"""A small closed-loop load generator: threads, each with one keep-alive http.client connection.

It is deliberately light (about 0.1 ms of CPU per request): on a 2-core machine it competes for
the CPU with what it measures. Each thread sends its next request as soon as the previous answer
is read, so ``concurrency`` requests are in flight at all times.
"""

from __future__ import annotations

import http.client
import itertools
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

# (method, path, body, headers) of request number i.
RequestFactory = Callable[[int], tuple[str, str, bytes, dict[str, str]]]
# Whether an answer (status, body) counts as a success.
Check = Callable[[int, bytes], bool]
# The client ports of the open connections -> which server process accepted each.
Owners = Callable[[list[int]], dict[int, int]]


@dataclass
class LoadResult:
    requests: int
    elapsed: float  # seconds, first request sent to last answer read
    latencies: list[float]  # seconds, of every request (successes and failures)
    failures: Counter[str] = field(default_factory=Counter)
    cpu_self: float = 0.0  # CPU seconds this process (the load generator) spent
    spread: list[int] = field(default_factory=list)  # connections per server process

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]


def run(
    host: str,
    port: int,
    make_request: RequestFactory,
    count: int,
    concurrency: int,
    check: Check,
    *,
    first: int = 0,
    timeout: float = 60.0,
    owners: Owners | None = None,
    processes: int = 1,
    seconds: float | None = None,
    ready: Callable[[], object] | None = None,
) -> LoadResult:
    """Send requests ``first`` .. ``first + count - 1`` with ``concurrency`` connections.

    With ``owners``, the connections are first spread evenly over the server's ``processes``
    (see ``_spread``). With ``seconds``, no request is sent after that long (two runs in
    parallel load their targets for the same time); ``ready`` is called once the connections
    are open (a barrier's ``wait``, so that two runs start together).
    """
    numbers = itertools.count(first)  # next() on a count is atomic under the GIL
    end = first + count
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    failures: Counter[str] = Counter()
    failures_lock = threading.Lock()

    def connect() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.connect()
        return conn

    conns = [connect() for _ in range(concurrency)]
    spread = _spread(conns, connect, owners, processes) if owners else []

    stop_at = float("inf")

    def worker(latencies: list[float], conn: http.client.HTTPConnection) -> None:
        perf = time.perf_counter
        while (i := next(numbers)) < end and perf() < stop_at:
            method, path, body, headers = make_request(i)
            started = perf()
            outcome = None
            try:
                conn.request(method, path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                if not check(resp.status, data):
                    outcome = f"HTTP {resp.status}: {data[:160]!r}"
                if resp.will_close:
                    conn.close()
                    conn = connect()
            except (OSError, http.client.HTTPException) as exc:
                outcome = f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = connect()
            latencies.append(perf() - started)
            if outcome is not None:
                with failures_lock:
                    failures[outcome] += 1
        conn.close()

    threads = [
        threading.Thread(target=worker, args=(per_thread[n], conns[n]), daemon=True)
        for n in range(concurrency)
    ]
    if ready is not None:
        ready()
    cpu_before = _cpu_self()
    started = time.perf_counter()
    if seconds is not None:
        stop_at = started + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = [x for chunk in per_thread for x in chunk]
    return LoadResult(
        requests=len(latencies),
        elapsed=elapsed,
        latencies=latencies,
        failures=failures,
        cpu_self=_cpu_self() - cpu_before,
        spread=spread,
    )


def _spread(
    conns: list[http.client.HTTPConnection],
    connect: Callable[[], http.client.HTTPConnection],
    owners: Owners,
    processes: int,
    attempts: int = 60,
) -> list[int]:
    """Reopen connections until no server process holds more than its share of them.

    gunicorn's workers share one listening socket and whichever wakes first accepts: a burst of
    keep-alive connections often lands mostly on one worker, which then serves that whole
    workload alone, with one GIL. Many callers' pools would even out; this load generator's
    handful of connections must be spread on purpose, or a run measures the lottery. Returns
    the connections per process, busiest first.
    """
    share = -(-len(conns) // processes)  # ceil
    counts: Counter[int] = Counter()
    for _ in range(attempts):
        by_port = {conn.sock.getsockname()[1]: i for i, conn in enumerate(conns) if conn.sock}
        deadline = time.monotonic() + 2
        while True:  # until every connection has been accepted
            seen = owners(list(by_port))
            if len(seen) >= len(by_port) or time.monotonic() > deadline:
                break
            time.sleep(0.002)
        counts = Counter(seen.values())
        if not counts:  # nothing to tell the processes apart by
            break
        if max(counts.values()) <= share and len(seen) == len(by_port):
            break
        # Every process above its share gives up its excess at once (one by one would take
        # hundreds of rounds for a few hundred connections); the reopened ones land anywhere.
        excess = {pid: held - share for pid, held in counts.items() if held > share}
        for client_port, pid in seen.items():
            if excess.get(pid, 0) > 0:
                excess[pid] -= 1
                victim = by_port[client_port]
                conns[victim].close()
                conns[victim] = connect()
    return sorted(counts.values(), reverse=True) + [0] * (processes - len(counts))


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
