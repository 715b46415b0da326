"""Readings of processes from ``/proc`` (Linux): resident memory, its peak, CPU seconds, children.

Shared by the benchmarks that meter a process of their own (bench/collect, bench/export: peak RSS
of one measurement per child process) and those that meter the service's (bench/load).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def peak_mib() -> float:
    """Peak RSS of this process so far (``ru_maxrss``, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def self_cpu() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def status_mib(field: str, pid: int | str = "self", default: float = 0.0) -> float:
    """A memory figure of ``/proc/PID/status`` (VmRSS, VmHWM...) in MiB; ``default`` if unread."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return default


def reset_peak() -> bool:
    """Reset this process's RSS high-water mark to its RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def children(pid: int) -> list[int]:
    """The direct children of process ``pid`` (none when it is gone)."""
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int | str = "self", tid: int | None = None) -> float:
    """CPU seconds (user + system) of process ``pid``, or of its thread ``tid``; 0 if unread."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0
