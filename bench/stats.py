"""Small statistics and the readers of what processes leave behind (logs, /proc)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Celery's trace logger, one line per finished task at INFO:
#   Task alerting.ingest[<uuid>] succeeded in 0.0123s: 'created'
_SUCCEEDED = re.compile(r"Task (?P<name>[\w.:-]+)\[[^\]]+\] succeeded in (?P<secs>[0-9.eE+-]+)s")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``q`` in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    mean: float
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(values),
            sum(values) / len(values),
            percentile(values, 50),
            percentile(values, 99),
            max(values),
        )


def task_runtimes(log: str) -> dict[str, list[float]]:
    """Seconds per finished task, by task name, as the worker measured them.

    This is the time inside the pool process from the task's start to its return: it excludes
    broker round trips, prefetch waits and the parent's bookkeeping, which is exactly what
    makes it comparable across task types.
    """
    found: dict[str, list[float]] = {}
    for match in _SUCCEEDED.finditer(log):
        found.setdefault(match["name"], []).append(float(match["secs"]))
    return found


# --- CPU time per process group, from /proc (Linux; elsewhere the table is left out) ---

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")
#: Process names of the services, whichever process started them (system or embedded).
SERVICE_COMMS: Mapping[str, str] = {"postgres": "postgres", "redis-server": "redis"}

CpuSnapshot = dict[str, dict[int, float]]
#: Group holding the whole machine's busy CPU time, to show what other processes took.
MACHINE = "machine"


def cpu_available() -> bool:
    return (_PROC / "self" / "stat").is_file()


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds user+system)."""
    table: dict[int, tuple[int, str, float]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # The command name is in parentheses and may contain spaces and parentheses itself.
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ppid = int(fields[1])
        ticks = int(fields[11]) + int(fields[12])
        table[int(entry.name)] = (ppid, comm, ticks / _CLOCK_TICKS)
    return table


def _machine_busy() -> float:
    """CPU seconds all CPUs spent busy since boot (everything but idle and iowait)."""
    fields = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user).
    return (sum(fields[:8]) - fields[3] - fields[4]) / _CLOCK_TICKS


def _tree(table: Mapping[int, tuple[int, str, float]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table and pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_snapshot(trees: Mapping[str, int], own: str = "bench") -> CpuSnapshot:
    """CPU seconds so far of each named process tree, of this process alone (``own``: the
    workers and the sandbox are its children, so its tree would count them twice) and of the
    Postgres/Redis servers."""
    if not cpu_available():
        return {}
    table = _processes()
    snap: CpuSnapshot = {}
    for group, root in trees.items():
        # The root apart from its descendants: for a Celery worker that separates the consumer
        # (broker I/O, acks, events, logging) from the pool processes that run the tasks.
        pids = _tree(table, root)
        snap[group] = {pid: table[pid][2] for pid in pids if pid == root}
        snap[f"{group} pool"] = {pid: table[pid][2] for pid in pids if pid != root}
    me = os.getpid()
    snap[own] = {me: table[me][2]} if me in table else {}
    snap[MACHINE] = {0: _machine_busy()}
    for pid, (_, comm, seconds) in table.items():
        service = SERVICE_COMMS.get(comm)
        if service is not None:
            snap.setdefault(service, {})[pid] = seconds
    return snap


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds each group used between two snapshots (new processes count from zero)."""
    used: dict[str, float] = {}
    for group, pids in after.items():
        earlier = before.get(group, {})
        used[group] = sum(seconds - earlier.get(pid, 0.0) for pid, seconds in pids.items())
    return used
