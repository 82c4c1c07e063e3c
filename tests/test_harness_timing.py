"""The adaptive timing loop, on a fake clock that advances only inside the timed call, so every
sample is known exactly; plus the noise figure the gate judges."""

from __future__ import annotations

import gc
import itertools
import statistics
from collections.abc import Iterator

import pytest

from grader.course.model import LatencySettings
from grader.harness.stats import robust_cv
from grader.harness.timing import NS_PER_MS, measure, warm_up

MS = NS_PER_MS


class FakeModel:
    """A clock plus a call that takes the next duration from a script (in ms)."""

    def __init__(self, durations_ms: Iterator[float]) -> None:
        self.now = 0
        self.calls = 0
        self.durations = durations_ms

    def clock(self) -> int:
        return self.now

    def call(self) -> None:
        self.calls += 1
        self.now += int(next(self.durations) * MS)


def settings(**overrides: float) -> LatencySettings:
    base = {
        "warmup_block": 5,
        "warmup_tolerance": 0.05,
        "warmup_max_s": 10.0,
        "min_iters": 20,
        "min_time_s": 0.1,
        "max_time_s": 30.0,
        "max_iters": 10_000,
        "stable_tolerance": 0.02,
    }
    return LatencySettings.model_validate(base | overrides)


def test_warm_up_runs_until_block_medians_agree() -> None:
    # 3 slow blocks (lazy init), then steady: the first agreeing pair is blocks 4 and 5.
    script = itertools.chain([50.0] * 5, [30.0] * 5, [20.0] * 5, itertools.repeat(10.0))
    model = FakeModel(script)
    calls, seconds, converged = warm_up(model.call, settings(), model.clock)
    assert converged
    assert calls == 25
    assert seconds == pytest.approx((250 + 150 + 100 + 50 + 50) / 1000)


def test_warm_up_gives_up_at_its_time_bound() -> None:
    model = FakeModel(itertools.cycle([1.0, 100.0]))  # blocks of 3: medians 1, 100, 1, 100 ...
    calls, seconds, converged = warm_up(model.call, settings(warmup_max_s=2.0, warmup_block=3), model.clock)
    assert not converged
    assert seconds >= 2.0
    assert calls < 100


def test_samples_are_the_calls_alone_in_milliseconds() -> None:
    durations = [3.0, 3.5, 2.5, 3.25]
    model = FakeModel(itertools.cycle(durations))
    report = measure(
        model.call,
        settings(warmup_tolerance=0.5, min_iters=8, min_time_s=0.0, stable_tolerance=1.0),
        clock=model.clock,
    )
    skipped = report.warmup_iters  # the warm-up consumed these calls of the cycle
    expected = [durations[(skipped + i) % 4] for i in range(len(report.samples_ms))]
    assert report.samples_ms == expected
    assert report.timer == "perf_counter"
    assert report.stable and report.stop_reason == "stable"


def test_stops_once_min_iters_min_time_and_a_stable_median_are_reached() -> None:
    model = FakeModel(itertools.repeat(10.0))
    report = measure(model.call, settings(min_iters=20, min_time_s=1.0), clock=model.clock)
    assert report.stable and report.stop_reason == "stable"
    n = len(report.samples_ms)
    # 1 s of 10 ms calls is 100 samples; then one more check a quarter later confirms the median.
    assert 100 <= n <= 130
    assert statistics.median(report.samples_ms) == 10.0
    assert report.warmup_converged


def test_a_drifting_model_is_not_called_stable() -> None:
    # Every call 1 % slower than the last: the running median never settles within 0.1 %.
    model = FakeModel(10.0 * 1.01**i for i in itertools.count())
    report = measure(
        model.call,
        settings(min_iters=10, min_time_s=0.0, max_iters=300, stable_tolerance=0.001),
        clock=model.clock,
    )
    assert not report.stable
    assert report.stop_reason in ("max_iters", "max_time_s")


def test_max_iters_bounds_the_run() -> None:
    model = FakeModel(itertools.cycle([1.0, 5.0]))
    report = measure(
        model.call,
        settings(min_iters=10, min_time_s=100.0, max_iters=50, max_time_s=1000.0),
        clock=model.clock,
    )
    assert len(report.samples_ms) == 50
    assert report.stop_reason == "max_iters" and not report.stable


def test_max_time_bounds_a_slow_model() -> None:
    model = FakeModel(itertools.repeat(400.0))  # 0.4 s per call, min_iters 30 would take 12 s
    report = measure(model.call, settings(min_iters=30, max_time_s=2.0, warmup_max_s=0.5), clock=model.clock)
    assert report.stop_reason == "max_time_s"
    assert len(report.samples_ms) == 5  # the fifth call ends at 2.0 s
    assert not report.stable


def test_garbage_collector_is_paused_while_timing_and_restored() -> None:
    states: list[bool] = []
    model = FakeModel(itertools.repeat(1.0))

    def call() -> None:
        states.append(gc.isenabled())
        model.call()

    assert gc.isenabled()
    measure(call, settings(min_iters=5, min_time_s=0.0, stable_tolerance=1.0), clock=model.clock)
    assert states and not any(states)
    assert gc.isenabled()


def test_a_real_busy_wait_is_read_from_above_and_close() -> None:
    import time

    def spin() -> None:
        end = time.perf_counter_ns() + 2 * MS
        while time.perf_counter_ns() < end:
            pass

    report = measure(spin, settings(min_iters=10, min_time_s=0.05, warmup_max_s=0.2, max_time_s=2.0))
    assert min(report.samples_ms) >= 2.0
    assert min(report.samples_ms) < 2.0 * 1.05  # some call escapes preemption even on a busy machine


# --- the noise figure -------------------------------------------------------------------------


def test_noise_ignores_a_few_outliers_that_would_inflate_std() -> None:
    calm = [10.0 + 0.01 * (i % 5) for i in range(200)]
    spiky = calm[:-4] + [100.0] * 4  # four interrupts
    assert statistics.stdev(spiky) / statistics.fmean(spiky) > 0.5
    assert robust_cv(spiky) < 0.01


def test_noise_sees_a_wide_distribution() -> None:
    wide = [5.0, 10.0, 15.0, 20.0] * 50
    assert robust_cv(wide) > 0.3
