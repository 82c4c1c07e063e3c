"""Speed verdicts on confidence intervals (grader.harness.stats, Tolerance.judge_interval, and the
checks in grader.verify.checks): synthetic rounds with a known ratio and a known noise, so the
interval's coverage and the three verdicts are checked against the truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grader.course.model import IntervalVerdict, SpeedSettings, Tolerance
from grader.harness.stats import median_interval, ratio_interval, t_quantile

TOLERANCE = Tolerance(rel=0.20)


def _rounds(rng: np.random.Generator, rounds: int, ratio: float, noise: float) -> tuple[dict, dict]:
    """Round medians of a baseline and a candidate that is ``ratio``× faster: each round shares a
    machine state (both slowed alike) plus each process's own lognormal scatter of ``noise``."""
    machine = rng.lognormal(0.0, noise, size=rounds)
    base = 1.0 * machine * rng.lognormal(0.0, noise, size=rounds)
    cand = (1.0 / ratio) * machine * rng.lognormal(0.0, noise, size=rounds)
    return dict(enumerate(base, 1)), dict(enumerate(cand, 1))


@pytest.mark.parametrize("rounds", [6, 12])
def test_the_speedup_interval_covers_the_true_ratio_95_times_in_100(rounds: int) -> None:
    rng = np.random.default_rng(7)
    trials, true_ratio = 4000, 1.84
    covered = 0
    for _ in range(trials):
        base, cand = _rounds(rng, rounds, true_ratio, noise=0.08)
        interval = ratio_interval(base, cand, 0.95)
        assert interval is not None
        covered += interval.low <= true_ratio <= interval.high
    # Yuen's interval covers about 94 % of normal rounds at 6 rounds and 94.5 % at 12 (a point
    # under nominal, as Wilcox's tables have it); Binomial(4000, 0.94) lies within ±1.1 % of that.
    assert 0.93 <= covered / trials <= 0.965


def test_one_slowed_round_neither_moves_nor_widens_the_interval() -> None:
    """A shared host slowed the baseline's whole round 4 by 1.8×: trimmed, the ratio is still the
    model's, known to a few per cent, where the plain mean and t would say ±20 % around 2.2×."""
    rng = np.random.default_rng(5)
    base = {r: 1.0 * float(rng.lognormal(0.0, 0.005)) for r in range(1, 7)}
    cand = {r: 0.5 * float(rng.lognormal(0.0, 0.005)) for r in range(1, 7)}
    base[4] *= 1.8
    interval = ratio_interval(base, cand, 0.95)
    assert interval is not None
    assert interval.estimate == pytest.approx(2.0, rel=0.01)
    assert interval.half_width < 0.03
    logs = np.log([base[r] / cand[r] for r in range(1, 7)])
    plain = t_quantile(0.95, 5) * logs.std(ddof=1) / math.sqrt(6)
    assert plain > 0.2  # what the plain t interval would have made of the same rounds


def test_the_percentile_bootstrap_would_cover_too_little_with_six_rounds() -> None:
    """Why t: the same trials, with the percentile bootstrap of rounds, fall clearly short."""
    rng = np.random.default_rng(11)
    trials, covered = 600, 0
    for _ in range(trials):
        base, cand = _rounds(rng, 6, 1.0, noise=0.08)
        logs = np.log(np.array(list(base.values())) / np.array(list(cand.values())))
        means = rng.choice(logs, size=(500, logs.size)).mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        covered += low <= 0.0 <= high
    assert covered / trials < 0.91


def test_pairing_cancels_what_a_round_shares() -> None:
    """A machine twice as slow in half the rounds moves both medians alike: the ratio stays known."""
    base = {r: (2.0 if r % 2 else 1.0) * 1.0 for r in range(1, 9)}
    cand = {r: (2.0 if r % 2 else 1.0) * 0.5 * (1 + 0.001 * r) for r in range(1, 9)}
    interval = ratio_interval(base, cand, 0.95)
    assert interval is not None and interval.half_width < 0.01
    assert interval.low < 2.0 / 1.004 and interval.high > 2.0 / 1.008
    unpaired = median_interval(list(cand.values()), 0.95, "ms")
    assert unpaired is not None and unpaired.half_width > 0.3  # the same rounds, not paired: wide


def test_only_rounds_that_both_ran_are_paired() -> None:
    base = {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}
    cand = {2: 0.5, 4: 0.5, 9: 10.0}  # round 9 has no baseline round to pair with
    interval = ratio_interval(base, cand, 0.95)
    assert interval is not None and interval.rounds == 2 and math.isclose(interval.estimate, 2.0)


def test_no_interval_from_fewer_than_two_rounds_or_a_broken_figure() -> None:
    assert ratio_interval({1: 1.0}, {1: 0.5}, 0.95) is None
    assert median_interval([1.0, 0.0], 0.95, "ms") is None
    assert median_interval([1.0, math.nan], 0.95, "ms") is None


def test_the_t_quantile_is_students() -> None:
    assert t_quantile(0.95, 5) == pytest.approx(2.5706, abs=1e-4)
    assert t_quantile(0.95, 1000) == pytest.approx(1.9623, abs=1e-3)


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (1.79, 1.89, IntervalVerdict.INSIDE),  # a claim of 2.0×: band 1.667–2.5
        (1.20, 1.60, IntervalVerdict.OUTSIDE),
        (2.60, 2.90, IntervalVerdict.OUTSIDE),
        (1.60, 1.75, IntervalVerdict.UNDECIDED),  # across the band's lower edge
        (1.00, 3.00, IntervalVerdict.UNDECIDED),  # wider than the band
    ],
)
def test_an_interval_is_inside_outside_or_across_the_claims_band(
    low: float, high: float, verdict: IntervalVerdict
) -> None:
    assert TOLERANCE.judge_interval(2.0, low, high) is verdict


def test_the_band_is_what_accepts_accepts() -> None:
    for tolerance in (Tolerance(rel=0.2), Tolerance(abs=0.3), Tolerance(abs=0.05, rel=0.1)):
        low, high = tolerance.band(2.0)
        assert tolerance.accepts(2.0, low) and tolerance.accepts(2.0, high)
        assert not tolerance.accepts(2.0, low * 0.999) and not tolerance.accepts(2.0, high * 1.001)


def test_the_old_noise_gate_settings_are_refused_with_what_replaced_them() -> None:
    from pydantic import ValidationError

    from grader.course.model import RunnerSettings

    with pytest.raises(ValidationError, match=r"`speed:`"):
        RunnerSettings.model_validate({"rounds": 2, "noise_gate_cv": 0.1})
    with pytest.raises(ValidationError, match="max_rounds"):
        SpeedSettings(min_rounds=8, max_rounds=6)


def test_a_rounds_figure_is_its_quietest_block_so_a_slow_stretch_of_the_host_does_not_count() -> None:
    from grader.harness.stats import round_figure

    rng = np.random.default_rng(3)
    for per_call_ms in (0.05, 0.6):  # a small ONNX graph and a PyTorch ViT: the same statistic
        n = int(0.4 * 1000 / per_call_ms)  # a 0.4 s round
        quiet = per_call_ms * (1 + 0.05 * rng.random(n))
        slowed = quiet.copy()
        slowed[: int(n * 0.6)] *= 1.8  # the host slowed the first 60 % of the round
        assert np.median(slowed) > 1.7 * per_call_ms  # the plain median: a 1.8× slower model
        assert round_figure(slowed) == pytest.approx(float(np.median(quiet)), rel=0.03)
        assert round_figure(quiet) == pytest.approx(float(np.median(quiet)), rel=0.03)
    long_calls = 20.0 * (1 + 0.05 * rng.random(40))  # 20 ms a call: blocks of 30 calls, too few
    long_calls[:10] *= 1.8  # a slow stretch covers ten calls: the median outvotes them
    assert round_figure(long_calls) == float(np.median(long_calls))


def test_a_round_is_cut_into_blocks_of_25_ms_and_30_calls() -> None:
    from grader.harness.stats import BLOCK_MS, MIN_BLOCK_CALLS, round_blocks

    fast = round_blocks([0.05] * 2000)  # 100 ms of 0.05 ms calls: 4 blocks of 500 calls
    assert [len(b) for b in fast] == [500, 500, 500, 500]
    slow = round_blocks([2.0] * 100)  # 2 ms calls: 30 calls (60 ms) a block, the rest joins the last
    assert [len(b) for b in slow] == [MIN_BLOCK_CALLS, MIN_BLOCK_CALLS, 40]
    assert all(sum(b) >= BLOCK_MS for b in fast + slow)
    assert [len(b) for b in round_blocks([0.1] * 10)] == [10]
