"""Where the service's CPU goes: py-spy on its gunicorn workers while issuances run at 0 ms.

py-spy samples the master and its workers (``--subprocesses``) without pausing them
(``--nonblocking``: on 2 cores a pausing sampler halves the throughput it measures), and only the
thread that holds the GIL (``--gil``): py-spy's idle detection does not see threads blocked in
a queue or a socket read here, so without ``--gil`` waiting looks like work. A share is then the
part of the workers' Python CPU time spent in a function; times the CPU per issuance measured in
the same window it gives milliseconds. (Time in system calls with the GIL released, such as
socket writes, is in the system CPU figure, not in the samples.)

``python -m bench.profile FILE [CPU_MS]`` re-reads a saved raw profile.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from . import load, procs

# Stdlib modules worth a line of their own; other stdlib frames count for their caller.
_OWN_STDLIB = {"logging", "json", "socket", "selectors", "ssl", "http.client", "email", "uuid"}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")
# Frames left out of the call tree: thread start-up, and decorator wrappers that only call on
# (their own time, always tiny, goes to their caller).
_PLUMBING = re.compile(
    r"^(Thread\.|_worker \(concurrent|_WorkItem\.run|"
    r"Parser\.use_args\.<locals>|ArgumentsMixin\.arguments\.<locals>|"
    r"ResponseMixin\.response\.<locals>|View\.as_view\.<locals>|"
    r"MethodView\.dispatch_request|Flask\.__call__ )"
)


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def run(
    server: Any,
    sandbox: Any,
    factory: load.RequestFactory,
    check: load.Check,
    *,
    count: int,
    concurrency: int,
    out: Path,
) -> dict[str, Any]:
    print()
    print("== Profile: the service at 0 ms I'mport latency (py-spy --gil, not in the table above)")
    spy = py_spy()
    if spy is None:
        print("  py-spy is not installed (pip install py-spy): no profile.")
        return {"skipped": "py-spy not installed"}
    sandbox.set_latency(0)
    raw = out / "profile-service.txt"
    raw.unlink(missing_ok=True)
    load.run("127.0.0.1", server.port, factory, 200, concurrency, check, first=0)
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(server.pid), "--subprocesses", "--nonblocking", "--gil"]
        + ["--rate", "150", "--nolineno", "--format", "raw", "--output", str(raw)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    messages: list[str] = []
    reader = threading.Thread(target=lambda: messages.extend(proc.stdout or ()), daemon=True)
    reader.start()
    time.sleep(1.5)  # attached to the master and found its workers
    if proc.poll() is not None:
        reader.join(timeout=5)
        print("  py-spy could not attach (it needs ptrace: CAP_SYS_PTRACE or ptrace_scope 0):")
        print("  " + "  ".join(messages[-5:]))
        return {"skipped": "".join(messages[-5:])}
    user_before, system_before = procs.tree_cpu_split(server.pid)
    result = load.run("127.0.0.1", server.port, factory, count, concurrency, check, first=200)
    user_after, system_after = procs.tree_cpu_split(server.pid)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(timeout=5)
    if not raw.exists():
        print("  py-spy wrote nothing:", "".join(messages[-5:]))
        return {"skipped": "".join(messages[-5:])}
    user_ms = 1000 * (user_after - user_before) / result.requests
    system_ms = 1000 * (system_after - system_before) / result.requests
    print(
        f"  {result.requests} issuances at {result.rate:.0f} req/s while sampled; service CPU "
        f"per issuance {user_ms + system_ms:.2f} ms = user {user_ms:.2f} + system "
        f"{system_ms:.2f};\n  raw stacks in {raw.relative_to(out.parent.parent)}; ms below = "
        f"share × {user_ms:.2f} ms (user time)"
    )
    summary = analyse(raw, user_ms)
    summary.update(user_ms=user_ms, system_ms=system_ms, rate=result.rate)
    return summary


def _package(path: str) -> tuple[str, bool]:
    """(package, is_stdlib) of a py-spy frame's file, e.g. ``requests/sessions.py``."""
    if path.startswith("<"):
        return path, True
    parts = path.removesuffix(".py").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    if parts[0] == "billing_service" and len(parts) > 1:
        return "billing_service." + parts[1], False
    if parts[0] in ("http", "concurrent", "email", "urllib", "importlib") and len(parts) > 1:
        return f"{parts[0]}.{parts[1]}", True
    # py-spy shows a file relative to its sys.path entry; stdlib modules are known to Python.
    return parts[0], parts[0] in sys.stdlib_module_names


def _owner(frames: list[str]) -> str:
    """The package a sample belongs to: its leaf's, or for a stdlib helper its caller's."""
    for frame in reversed(frames):
        match = _FRAME.match(frame)
        package, stdlib = _package(match["file"]) if match else (frame, False)
        if not stdlib or package in _OWN_STDLIB:
            return package
    return "stdlib"


class _Node:
    __slots__ = ("count", "children")

    def __init__(self) -> None:
        self.count = 0
        self.children: dict[str, _Node] = {}


def analyse(raw: Path, cpu_ms: float, *, threshold: float = 0.02) -> dict[str, Any]:
    total = 0
    self_time: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    tree = _Node()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        self_time[frames[-1]] += count
        by_package[_owner(frames)] += count
        node = tree
        node.count += count
        for frame in frames:
            if _PLUMBING.match(frame):
                continue
            node = node.children.setdefault(frame, _Node())
            node.count += count
    if not total:
        print("  no samples")
        return {"samples": 0}

    def share(n: int) -> str:
        return f"{100 * n / total:5.1f}% {cpu_ms * n / total:5.2f} ms"

    print(f"  {total} samples (GIL holder). By package (stdlib helpers count for their caller):")
    packages = by_package.most_common()
    for i in range(0, min(len(packages), 18), 3):
        print(
            "   "
            + "".join(f"{share(n)}  {name:<26.26}" for name, n in packages[i : i + 3]).rstrip()
        )
    print(f"  Call tree (inclusive; nodes ≥ {100 * threshold:.0f}%; wrapper frames folded):")
    lines: list[str] = []

    def walk(node: _Node, depth: int) -> None:
        for frame, child in sorted(node.children.items(), key=lambda kv: -kv[1].count):
            if child.count < threshold * total:
                continue
            kids = sum(c.count for c in child.children.values())
            own = f" [self {100 * (child.count - kids) / total:.1f}%]" if kids else ""
            lines.append(f"    {share(child.count)}  {'  ' * depth}{_short(frame)}{own}")
            walk(child, depth + 1)

    walk(tree, 0)
    print("\n".join(lines))
    print("  Top self time:")
    for frame, n in self_time.most_common(12):
        print(f"    {share(n)}  {_short(frame)}")
    return {
        "samples": total,
        "by_package": {k: v / total for k, v in packages},
        "tree": lines,
        "self": {k: v / total for k, v in self_time.most_common(40)},
    }


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return f"{match['func']} ({path})"


if __name__ == "__main__":
    analyse(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
