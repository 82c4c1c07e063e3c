"""Less noise at the source: one CPU per latency child, and what that CPU went through.

With one intra-op thread a latency child needs one CPU. Left to the scheduler it migrates
between CPUs (cold caches each time) and shares its CPU with the grader's own threads, which
wake up to read the child's events. So, when the course runs one thread and the runner has at
least two CPUs, each latency child is pinned to the last allowed CPU and the grader's process
(every one of its threads) keeps to the others while the latency phase runs.

Each round also records what the pinned CPU went through: the hypervisor's steal time from
/proc/stat (time the VM wanted the CPU and another guest had it) and the CPU's frequency
governor, printed beside a result that could not be decided.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
STEAL_FIELD = 8  # cpuN user nice system idle iowait irq softirq steal guest guest_nice


def allowed_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set()


def latency_cpu(intra_op_threads: int, enabled: bool = True) -> int | None:
    """The CPU latency children are pinned to, or None when pinning would not help: more than
    one thread per child, a single CPU (the grader would have to share it anyway), not Linux."""
    cpus = allowed_cpus()
    if not enabled or intra_op_threads != 1 or len(cpus) < 2:
        return None
    return max(cpus)


def pin_self(cpu: int | None) -> None:
    """In a child, before any thread pool starts: run on ``cpu`` only."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _threads() -> list[int]:
    try:
        return [int(path.name) for path in Path("/proc/self/task").iterdir()]
    except OSError:
        return [0]


def _set_all_threads(cpus: set[int]) -> None:
    # sched_setaffinity(0) moves only the calling thread; the runner's reader threads must move too.
    for tid in _threads():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cpus)


@contextlib.contextmanager
def keep_off(cpu: int | None) -> Iterator[None]:
    """While the block runs, every thread of this process avoids ``cpu`` (restored afterwards)."""
    before = allowed_cpus()
    others = before - {cpu} if cpu is not None else set()
    if not others:
        yield
        return
    _set_all_threads(others)
    try:
        yield
    finally:
        _set_all_threads(before)


def steal_seconds(cpu: int | None) -> float | None:
    """The CPU's steal time so far (all CPUs together for None), in seconds; None where
    /proc/stat does not say."""
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    name = "cpu" if cpu is None else f"cpu{cpu}"
    for line in lines:
        fields = line.split()
        if fields and fields[0] == name and len(fields) > STEAL_FIELD:
            return int(fields[STEAL_FIELD]) / os.sysconf("SC_CLK_TCK")
    return None


def governor(cpu: int | None) -> str | None:
    path = Path(f"/sys/devices/system/cpu/cpu{cpu or 0}/cpufreq/scaling_governor")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass
class StealWatch:
    """Steal time of one CPU (all CPUs for None) from construction to `seconds()`."""

    cpu: int | None

    def __post_init__(self) -> None:
        self._start = steal_seconds(self.cpu)

    def seconds(self) -> float | None:
        end = steal_seconds(self.cpu)
        return None if end is None or self._start is None else max(0.0, end - self._start)
