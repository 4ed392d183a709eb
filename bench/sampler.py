"""What a target's process tree holds while a capacity phase runs: memory, upstream connections.

A thread of the load generator's process samples, every ``interval`` seconds:

- the tree's resident set size (gunicorn master + workers; the sandbox for the floor), added
  up, peak kept; its proportional set size (shared pages split between the processes that share
  them) once at the end;
- the ESTABLISHED TCP connections to the sandbox's port (/proc/net/tcp) held by a process of
  the tree (its descriptors, /proc/<pid>/fd): each connection has a socket inode of its own,
  never reused, so the distinct inodes seen are the connections opened. Only new inodes are
  looked up in the descriptors, so a warm pool costs one read of /proc/net/tcp per sample.

A connection can only be missed if it opens and closes between two samples; each one carries at
least one call, which lasts the sandbox's latency, so an interval below that latency (the
capacity phase's is a quarter of it) sees every one. The sampler's own CPU time is measured
(``cpu_s``) and left out of the load generator's figure.
"""

from __future__ import annotations

import threading
import time

from . import procs


class TreeSampler:
    def __init__(self, root_pid: int, upstream_port: int | None, interval: float) -> None:
        self._root = root_pid
        self._port = upstream_port
        self._interval = interval
        self._pids = procs.descendants(root_pid)
        self._pids_at = time.monotonic()
        self._owned: set[str] = set()  # upstream connections of the tree, ever seen
        self._foreign: set[str] = set()  # upstream connections of other processes
        self._at_start: set[str] = set()
        self._open: set[str] = set()  # the tree's upstream connections at the last sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rss_peak = 0
        self.pss_end = 0
        self.samples = 0
        self.cpu_s = 0.0

    def start(self) -> None:
        started = time.thread_time()
        self._sample()
        self._at_start = set(self._owned)
        self.cpu_s += time.thread_time() - started
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        started = time.thread_time()
        self._sample()
        self.pss_end = procs.pss_bytes(self._pids)
        self.cpu_s += time.thread_time() - started

    @property
    def new_connections(self) -> int:
        """Upstream connections the tree opened since ``start``."""
        return len(self._owned - self._at_start)

    @property
    def new_closed(self) -> int:
        """Of those, how many were closed again by ``stop`` (churn, not a pool growing)."""
        return len(self._owned - self._at_start - self._open)

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.wait(self._interval):
            self._sample()
        self.cpu_s += time.thread_time() - started

    def _sample(self) -> None:
        self.samples += 1
        if time.monotonic() - self._pids_at > 1.0:  # a worker may have been replaced
            self._pids = procs.descendants(self._root)
            self._pids_at = time.monotonic()
        self.rss_peak = max(self.rss_peak, procs.rss_bytes(self._pids))
        if self._port is None:
            return
        current = procs.sockets_to(self._port)
        new = current - self._owned - self._foreign
        if new:
            owned = procs.sockets_held(self._pids, new)
            self._owned |= owned
            self._foreign |= new - owned
        self._open = current & self._owned
