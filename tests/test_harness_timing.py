"""The adaptive timing loop, on a fake clock that advances only inside the timed call, so every
sample is known exactly; plus the noise figure the gate judges."""

from __future__ import annotations

import gc
import itertools
import statistics
from collections.abc import Callable, Iterator

import pytest

from grader.course.model import LatencySettings
from grader.harness.stats import robust_cv, round_figure
from grader.harness.timing import NS_PER_MS, Timed, measure, measure_turns, warm_up

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


# --- several models in one child, turn by turn ------------------------------------------------------


class SharedHost:
    """One clock for several fake models, as one vCPU is: a call's duration is the model's own
    time, multiplied by the host's slowdown at the moment the call starts."""

    def __init__(self, slowdown: Callable[[float], float] = lambda t: 1.0) -> None:
        self.now = 0
        self.slowdown = slowdown
        self.log: list[str] = []  # which model made each call, in order

    def clock(self) -> int:
        return self.now

    def model(self, name: str, ms: float) -> Timed:
        def call() -> None:
            self.log.append(name)
            self.now += int(ms * self.slowdown(self.now / 1e9) * MS)

        return Timed(call=call, clock=self.clock)


def _runs(log: list[str]) -> list[tuple[str, int]]:
    return [(name, len(list(group))) for name, group in itertools.groupby(log)]


def test_turns_alternate_every_25_ms_until_each_model_has_its_time() -> None:
    host = SharedHost()
    a, b = host.model("a", 1.0), host.model("b", 0.1)
    reports = measure_turns([a, b], settings(min_iters=20, min_time_s=0.5, warmup_max_s=0.05))
    host.log = host.log[-(len(reports[0].samples_ms) + len(reports[1].samples_ms)) :]  # the timed calls
    runs = _runs(host.log)
    assert [name for name, _ in runs[:4]] == ["a", "b", "a", "b"]
    # a turn is the calls that first reach 25 ms: 25 calls of 1 ms, 250 of 0.1 ms
    assert {n for name, n in runs if name == "a"} == {25}
    assert {n for name, n in runs if name == "b"} == {250}
    for report in reports:
        assert report.stable and report.stop_reason == "stable"
        assert report.measure_s >= 0.5
    assert statistics.median(reports[0].samples_ms) == 1.0
    assert statistics.median(reports[1].samples_ms) == pytest.approx(0.1)


def test_a_slow_stretch_of_the_host_falls_on_every_model_alike() -> None:
    # The host runs 1.8x slow from 0.14 s to 0.7 s. Timed one after the other (A until 0.135 s),
    # B lands wholly in the slow stretch and A outside it; turn by turn, the quietest blocks of
    # both lie outside it and their ratio is the models' own, 2.
    def slowdown(t: float) -> float:
        return 1.8 if 0.14 <= t < 0.7 else 1.0

    alone = SharedHost(slowdown)
    a = measure(alone.model("a", 1.0).call, settings(min_time_s=0.1, max_time_s=0.2), clock=alone.clock)
    b = measure(alone.model("b", 0.5).call, settings(min_time_s=0.1, max_time_s=0.2), clock=alone.clock)
    assert round_figure(a.samples_ms) / round_figure(b.samples_ms) == pytest.approx(2 / 1.8, rel=0.01)

    shared = SharedHost(slowdown)
    both = measure_turns(
        [shared.model("a", 1.0), shared.model("b", 0.5)], settings(min_time_s=0.5, max_time_s=0.6)
    )
    assert round_figure(both[0].samples_ms) / round_figure(both[1].samples_ms) == pytest.approx(2.0)


def test_a_model_that_never_settles_ends_the_round_at_max_time() -> None:
    host = SharedHost()
    steady = host.model("steady", 1.0)
    drift_ms = (1.0 * 1.002**i for i in itertools.count())
    drifting = Timed(call=lambda: setattr(host, "now", host.now + int(next(drift_ms) * MS)), clock=host.clock)
    reports = measure_turns(
        [steady, drifting], settings(min_time_s=0.1, max_time_s=0.4, stable_tolerance=0.001)
    )
    assert reports[0].stable and reports[0].stop_reason == "stable"
    assert not reports[1].stable and reports[1].stop_reason == "max_time_s"
    assert 0.4 <= reports[1].measure_s < 0.45
