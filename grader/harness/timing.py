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
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.model import LatencySettings
from grader.harness.jobs import TimingReport

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
CHECK_GROWTH = 1.25  # a new stability check once the sample count has grown by a quarter
# A shared round's turn: a model's calls until this much time has passed, then the next model's.
# As long as the blocks that grader.harness.stats.round_figure cuts a round into, so that a block
# holds the calls of one or two turns, timed in the same stretch of the host's speed as its peers'.
TURN_MS = 25.0

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


# --- several models in one child, turn by turn ---------------------------------------------------


@dataclass
class Timed:
    """One model of a shared latency round: what to time and the clock that times it."""

    call: Callable[[], object]
    timer: str = "perf_counter"
    clock: Clock = time.perf_counter_ns


@dataclass
class _Turns:
    """The running state of one model's samples in `measure_turns`."""

    samples: list[int] = field(default_factory=list)
    timed_ns: int = 0  # call time plus the clock reads around each call, summed over its turns
    next_check: int = 0
    last_median: float | None = None
    stable: bool = False


def measure_turns(models: list[Timed], settings: LatencySettings) -> list[TimingReport]:
    """Time several models in one process, turn by turn: A for ≥ TURN_MS, then B, then C, then A
    again, until each has ``min_time_s`` of calls and a stable median, or one has ``max_time_s``.

    Why: a shared host slows a vCPU to 1.3–2× for stretches of 25 ms to seconds. Rounds timed in
    separate children half a second apart land in different stretches, and their ratio carries
    the host's state; turns of 25 ms put every model into the same stretches, so a speed-up
    compares the models, not the moments they ran at. Each model warms up first, on its own.
    """
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        warmups = [warm_up(m.call, settings, m.clock) for m in models]
        waited_before = run_queue_wait_s()
        turns = [_Turns(next_check=settings.min_iters) for _ in models]
        _turn_loop(models, turns, settings)
        waited_after = run_queue_wait_s()
    finally:
        if gc_was_enabled:
            gc.enable()
    waited = None if waited_before is None or waited_after is None else waited_after - waited_before
    total_ns = sum(t.timed_ns for t in turns) or 1
    return [
        TimingReport(
            samples_ms=[s / NS_PER_MS for s in state.samples],
            warmup_iters=calls,
            warmup_s=seconds,
            warmup_converged=converged,
            stable=state.stable,
            stop_reason=_turns_stop_reason(state, settings),
            timer=model.timer,
            measure_s=state.timed_ns / NS_PER_S,
            # the process's wait, shared out by each model's part of the timed time
            waited_s=None if waited is None else waited * state.timed_ns / total_ns,
        )
        for model, state, (calls, seconds, converged) in zip(models, turns, warmups, strict=True)
    ]


def _turn_loop(models: list[Timed], turns: list[_Turns], settings: LatencySettings) -> None:
    min_ns, max_ns = settings.min_time_s * NS_PER_S, settings.max_time_s * NS_PER_S
    turn_ns = TURN_MS * NS_PER_MS
    while True:
        for model, state in zip(models, turns, strict=True):
            if len(state.samples) < settings.max_iters:
                _one_turn(model, state, turn_ns, settings.max_iters)
        for state in turns:
            if not state.stable and len(state.samples) >= state.next_check and state.timed_ns >= min_ns:
                median = statistics.median(state.samples)
                last = state.last_median
                state.stable = last is not None and abs(median - last) <= settings.stable_tolerance * last
                state.last_median = median
                state.next_check = max(len(state.samples) + 1, int(len(state.samples) * CHECK_GROWTH))
        if all(s.stable or len(s.samples) >= settings.max_iters for s in turns):
            return
        if any(s.timed_ns >= max_ns for s in turns):
            return


def _one_turn(model: Timed, state: _Turns, turn_ns: float, max_iters: int) -> None:
    call, clock, append = model.call, model.clock, state.samples.append
    begun = clock()
    while True:
        start = clock()
        call()
        end = clock()
        append(end - start)
        if end - begun >= turn_ns or len(state.samples) >= max_iters:
            state.timed_ns += end - begun
            return


def _turns_stop_reason(state: _Turns, settings: LatencySettings) -> str:
    if state.stable:
        return "stable"
    return "max_iters" if len(state.samples) >= settings.max_iters else "max_time_s"
