"""Adaptive latency timing inside a measurement child.

Warm-up runs blocks of ``warmup_block`` calls until two consecutive block medians agree within
``warmup_tolerance`` (bounded by ``warmup_max_s``): lazy initialisation, allocator growth and
caches settle before anything counts. Measurement then times every call separately with
``time.perf_counter_ns`` around ``run()`` + ``synchronize()``, and stops once ``min_iters`` and
``min_time_s`` are both reached and the running median moved by at most ``stable_tolerance``
since the previous check (checks are spaced so that at least a fifth of the samples are new), or
at ``max_time_s`` / ``max_iters``, whichever comes first. Samples are milliseconds per call.

Only the call sits between the two clock reads; the bookkeeping runs outside them, and the
garbage collector is paused while timing so that a collection does not land inside a sample.

The report also says how long the process's threads sat runnable but waiting for a CPU while the
calls were timed (the scheduler's run-queue delay, /proc/self/task/*/schedstat): on a runner
where other work shares the timed CPU, that wait is part of every sample, and the verdict treats
such a round as contended rather than as the model's own speed (grader/verify/checks.py).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from grader.course.model import LatencySettings
from grader.harness.jobs import TimingReport

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
CHECK_GROWTH = 1.25  # a new stability check once the sample count has grown by a quarter

Clock = Callable[[], int]
TASKS = Path("/proc/self/task")


def run_queue_wait_s() -> float | None:
    """Seconds this process's threads have waited runnable for a CPU so far (the second field of
    each thread's schedstat); None where the kernel does not say (no schedstats, not Linux)."""
    total = 0
    try:
        for task in TASKS.iterdir():
            fields = (task / "schedstat").read_text().split()
            total += int(fields[1])
    except (OSError, IndexError, ValueError):
        return None
    return total / NS_PER_S


def time_calls(call: Callable[[], object], n: int, clock: Clock = time.perf_counter_ns) -> list[int]:
    """Nanoseconds of ``n`` calls, each timed on its own."""
    out: list[int] = []
    append = out.append
    for _ in range(n):
        start = clock()
        call()
        append(clock() - start)
    return out


def warm_up(
    call: Callable[[], object], settings: LatencySettings, clock: Clock = time.perf_counter_ns
) -> tuple[int, float, bool]:
    """Run blocks until consecutive block medians agree. Returns (calls, seconds, converged)."""
    started = clock()
    limit = settings.warmup_max_s * NS_PER_S
    previous: float | None = None
    calls = 0
    while True:
        block = time_calls(call, settings.warmup_block, clock)
        calls += len(block)
        median = statistics.median(block)
        if previous is not None and abs(median - previous) <= settings.warmup_tolerance * previous:
            return calls, (clock() - started) / NS_PER_S, True
        if clock() - started >= limit:
            return calls, (clock() - started) / NS_PER_S, False
        previous = median


def measure(
    call: Callable[[], object],
    settings: LatencySettings,
    *,
    timer: str = "perf_counter",
    clock: Clock = time.perf_counter_ns,
) -> TimingReport:
    """Warm up, then time calls until the median is stable or a bound is reached."""
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        warmup_iters, warmup_s, converged = warm_up(call, settings, clock)
        waited_before = run_queue_wait_s()
        samples, stable, reason, measure_s = _measure_loop(call, settings, clock)
        waited_after = run_queue_wait_s()
    finally:
        if gc_was_enabled:
            gc.enable()
    return TimingReport(
        samples_ms=[s / NS_PER_MS for s in samples],
        warmup_iters=warmup_iters,
        warmup_s=warmup_s,
        warmup_converged=converged,
        stable=stable,
        stop_reason=reason,
        timer=timer,
        measure_s=measure_s,
        waited_s=None if waited_before is None or waited_after is None else waited_after - waited_before,
    )


def _measure_loop(
    call: Callable[[], object], settings: LatencySettings, clock: Clock
) -> tuple[list[int], bool, str, float]:
    samples: list[int] = []
    append = samples.append
    min_ns = settings.min_time_s * NS_PER_S
    max_ns = settings.max_time_s * NS_PER_S
    min_iters, max_iters = settings.min_iters, settings.max_iters
    next_check = min_iters
    last_median: float | None = None
    started = clock()
    while True:
        start = clock()
        call()
        end = clock()
        append(end - start)
        n = len(samples)
        elapsed = end - started
        if n >= next_check and elapsed >= min_ns:
            median = statistics.median(samples)
            if (
                last_median is not None
                and abs(median - last_median) <= settings.stable_tolerance * last_median
            ):
                return samples, True, "stable", (clock() - started) / NS_PER_S
            last_median = median
            next_check = max(n + 1, int(n * CHECK_GROWTH))
        if elapsed >= max_ns:
            return samples, False, "max_time_s", (clock() - started) / NS_PER_S
        if n >= max_iters:
            return samples, False, "max_iters", (clock() - started) / NS_PER_S
