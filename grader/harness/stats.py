"""Statistics of raw samples, computed in one place so every figure means the same thing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

# p99 of fewer samples is just the maximum wearing a costume: report it only with enough data.
P99_MIN_SAMPLES = 100
# Robust CV: the IQR of a normal distribution is 1.349 standard deviations.
IQR_PER_SIGMA = 1.349


class Stats(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    unit: str
    median: float
    mean: float
    min: float
    max: float
    p90: float | None  # None below 10 samples
    p99: float | None  # None below P99_MIN_SAMPLES samples
    iqr: float
    std: float
    cv: float  # std / mean; a noise figure, not a confidence interval


def summarize(values: Sequence[float], unit: str) -> Stats:
    if not values:
        raise ValueError("no samples to summarize")
    arr = np.asarray(values, dtype=np.float64)
    q25, median, q75 = np.percentile(arr, [25, 50, 75])
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return Stats(
        n=int(arr.size),
        unit=unit,
        median=float(median),
        mean=mean,
        min=float(arr.min()),
        max=float(arr.max()),
        p90=float(np.percentile(arr, 90)) if arr.size >= 10 else None,
        p99=float(np.percentile(arr, 99)) if arr.size >= P99_MIN_SAMPLES else None,
        iqr=float(q75 - q25),
        std=std,
        cv=std / mean if mean and math.isfinite(mean) else 0.0,
    )


def robust_cv(values: Sequence[float]) -> float:
    """The samples' robust CV, IQR / 1.349 / median: information about single calls' scatter,
    which a few outliers (an interrupt, a page fault) do not inflate as std / mean is inflated.
    Never a gate: how well a median is known is its interval's business."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return 0.0
    q25, median, q75 = np.percentile(arr, [25, 50, 75])
    return float((q75 - q25) / IQR_PER_SIGMA / median) if median > 0 else 0.0


class Samples(BaseModel):
    """Raw samples with their unit; statistics are derived once, at construction."""

    model_config = ConfigDict(frozen=True)

    unit: str
    values: list[float]
    stats: Stats

    @classmethod
    def of(cls, values: Sequence[float], unit: str) -> Samples:
        values = [float(v) for v in values]
        return cls(unit=unit, values=values, stats=summarize(values, unit))


# --- intervals: how well a median, or a ratio of medians, is known ----------------------------------
#
# The unit of replication is the round: one fresh process, timed for a short while. Calls within a
# process are not independent draws (the process's memory layout, its CPU and its neighbours stay
# the same), so thousands of calls say little about the next process; process-to-process variance
# dominates (Kalibera & Jones, "Rigorous benchmarking in reasonable time", 2013; pyperf runs 20
# worker processes for the same reason). Each round contributes one figure, its median, and the
# interval is Student's t interval over the rounds on the log scale:
#
# - a latency: exp(mean(log m_r) ± t · sd / √R) over the round medians m_r;
# - a speed-up: the same over the per-round log ratios log(b_r / c_r) of the baseline's and the
#   candidate's medians in the same round (paired: a round's machine state cancels in the ratio).
#
# Why t and not the percentile bootstrap of rounds: with the 6–20 rounds a grading can afford,
# the percentile bootstrap's intervals are too narrow (their coverage is about (R-1)/R of the
# nominal width's); t is exact for normally distributed log figures and, when a round is an
# outlier (a neighbour woke up), its sd widens the interval instead of silently moving it — more
# rounds, or an inconclusive result, never a wrong verdict.

# A round's figure. A shared host slows a process now and then for tens to hundreds of
# milliseconds at a time (other guests on the same physical core: seen on this project's 2-core
# VMs as 25–150 ms stretches at 1.5–2× the time per call, with no run-queue wait inside the guest
# and no steal time reported). A round that overlaps such a stretch has a median that depends on
# how much of it was slowed, which makes the round-to-round spread, not the model, decide the
# interval's width. Interference only ever adds time, so the round's figure is the lowest median
# of ROUND_BLOCKS consecutive blocks of its calls (each block still a median of tens of calls):
# the speed of the model when the host let it run, the same statistic for every model and
# baseline. Rounds too short for blocks of MIN_BLOCK_CALLS calls keep their plain median.
ROUND_BLOCKS = 5
MIN_BLOCK_CALLS = 30


def round_figure(samples: Sequence[float]) -> float:
    """A round's time per call: the lowest of its blocks' medians (see above), or its median."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size < ROUND_BLOCKS * MIN_BLOCK_CALLS:
        return float(np.median(arr))
    return float(min(np.median(block) for block in np.array_split(arr, ROUND_BLOCKS)))


INTERVAL_METHOD_MEDIAN = "t-interval over per-round log figures (lowest of 5 block medians)"
INTERVAL_METHOD_RATIO = "t-interval over per-round log ratios of round figures, paired by round"


class Interval(BaseModel):
    """An estimate with its confidence interval, from ``rounds`` independent rounds."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    confidence: float  # 0.95
    rounds: int
    unit: str  # "ms/item", "ms/token", "x"
    method: str

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the estimate (0.03: "±3 %")."""
        return (self.high - self.low) / 2 / self.estimate if self.estimate > 0 else math.inf


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student's t quantile for ``confidence`` with ``df`` degrees of freedom."""
    from scipy.special import stdtrit  # scipy.special, not scipy.stats: a tenth of the import

    return float(stdtrit(df, 0.5 + confidence / 2))


def log_interval(values: Sequence[float], confidence: float, unit: str, method: str) -> Interval | None:
    """The t interval of ``values`` (positive, one per round) on the log scale; None below two."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2 or not np.all(arr > 0) or not np.all(np.isfinite(arr)):
        return None
    logs = np.log(arr)
    centre = float(logs.mean())
    spread = t_quantile(confidence, arr.size - 1) * float(logs.std(ddof=1)) / math.sqrt(arr.size)
    return Interval(
        estimate=math.exp(centre),
        low=math.exp(centre - spread),
        high=math.exp(centre + spread),
        confidence=confidence,
        rounds=int(arr.size),
        unit=unit,
        method=method,
    )


def median_interval(round_medians: Sequence[float], confidence: float, unit: str) -> Interval | None:
    """How well a latency's median is known, from each round's median."""
    return log_interval(round_medians, confidence, unit, INTERVAL_METHOD_MEDIAN)


def ratio_interval(
    baseline: dict[int, float], candidate: dict[int, float], confidence: float
) -> Interval | None:
    """Speed-up = baseline median / candidate median, paired by round number: only rounds that
    both ran count (a candidate whose verdict was decided stops while the baseline goes on)."""
    shared = sorted(set(baseline) & set(candidate))
    ratios = [baseline[r] / candidate[r] for r in shared if candidate[r] > 0]
    return log_interval(ratios, confidence, "x", INTERVAL_METHOD_RATIO)
