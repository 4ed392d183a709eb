"""CPU time of process trees from /proc (Linux), and what machine this is."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is field 3, the state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of each live process of ``root``'s tree, all its threads.

    Each process also counts its children that have exited and been waited for (cutime and
    cstime), so a worker that died and was reaped by the master is still in the master's figure.
    """
    times = {}
    for pid in descendants(root):
        fields = _stat(pid)
        if fields is not None:
            # utime, stime, cutime, cstime are fields 14-17
            times[pid] = sum(int(x) for x in fields[11:15]) / TICKS
    return times


def tree_cpu(root: int) -> float:
    return sum(cpu_seconds(root).values())


def tree_cpu_split(root: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``root``'s tree, reaped children included."""
    user = system = 0.0
    for pid in descendants(root):
        fields = _stat(pid)
        if fields is not None:
            user += (int(fields[11]) + int(fields[13])) / TICKS
            system += (int(fields[12]) + int(fields[14])) / TICKS
    return user, system


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return (
        f"{usable} cores usable ({os.cpu_count()} online), {model}{memory}; "
        f"Python {platform.python_version()} ({sys.implementation.name}), "
        f"{platform.system()} {platform.release()}"
    )


def connection_owners(pids: list[int], server_port: int) -> dict[int, int]:
    """Which of ``pids`` holds each accepted TCP connection to ``server_port`` (IPv4).

    Keyed by the client's port: from /proc/net/tcp (the connection's socket inode) and each
    process's file descriptors.
    """
    inode_of_client: dict[str, int] = {}
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return {}
    for line in lines:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.rsplit(":", 1)[1], 16) == server_port and inode != "0":
            inode_of_client[f"socket:[{inode}]"] = int(remote.rsplit(":", 1)[1], 16)
    return {
        inode_of_client[target]: pid
        for pid, target in _descriptors(pids)
        if target in inode_of_client
    }


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pids: list[int]) -> int:
    """Resident set size of ``pids`` added up (pages shared after fork count once per process)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):  # gone
            pass
    return total


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size of ``pids`` added up: shared pages split between their users."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, IndexError, ValueError):
            pass
    return total


_ESTABLISHED = "01"


def sockets_to(remote_port: int) -> set[str]:
    """``socket:[inode]`` of every ESTABLISHED IPv4 TCP connection to ``remote_port``."""
    try:
        text = Path("/proc/net/tcp").read_text()
    except OSError:
        return set()
    suffix = f":{remote_port:04X}"
    found = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if fields[3] == _ESTABLISHED and fields[2].endswith(suffix) and fields[9] != "0":
            found.add(f"socket:[{fields[9]}]")
    return found


def sockets_held(pids: list[int], sockets: set[str]) -> set[str]:
    """Which of ``sockets`` (``socket:[inode]``) one of ``pids`` has a descriptor of."""
    return {target for _, target in _descriptors(pids) if target in sockets}


def _descriptors(pids: list[int]) -> Iterator[tuple[int, str]]:
    """(pid, what the descriptor points to) for every open descriptor of ``pids``; processes
    and descriptors that vanish meanwhile are skipped."""
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            yield pid, target
