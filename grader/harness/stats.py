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
# worker processes for the same reason). Each round contributes one figure (below), and
# the interval is Yuen's trimmed t interval over the rounds on the log scale (Yuen 1974; Wilcox,
# "Introduction to Robust Estimation and Hypothesis Testing", ch. 4):
#
# - a latency: over the log round figures log m_r;
# - a speed-up: over the per-round log ratios log(b_r / c_r) of the baseline's and the
#   candidate's figures in the same round (paired: a round's machine state cancels in the ratio).
#
# Yuen's interval is Student's t on the TRIM-trimmed mean, its standard error from the winsorized
# variance, with n - 2g - 1 degrees of freedom (g = ⌊TRIM · n⌋ rounds trimmed at each end). Why:
# a shared host now and then slows a whole round (the baseline's or the candidate's) by 1.5–2×.
# In 6 rounds one such round moved the plain mean of the log ratios by 10 % and widened the plain
# t interval from ±1 % to ±17 %, so a few rounds decided nothing, and a team's figure taken from
# them was 10 % off. Trimmed, that round neither moves the estimate nor inflates the width; on
# clean, normal rounds the interval is about 1.5–2× as wide as the plain t (fewer degrees of
# freedom) and covers about 94 % at 6 rounds, a point under nominal (Wilcox's tables).
# Why t and not the percentile bootstrap of rounds: with the 6–20
# rounds a grading can afford, the percentile bootstrap's intervals are too narrow (their coverage
# is about (R-1)/R of the nominal width's). Below 1 / TRIM rounds nothing is trimmed: plain t.
TRIM = 0.2

# A round's figure. A shared host slows a process now and then for tens to hundreds of
# milliseconds at a time (other guests on the same physical core: seen on this project's 2-core
# VMs as 25–800 ms stretches at 1.5–2× the time per call, with no run-queue wait inside the guest
# and no steal time reported). A round that overlaps such a stretch has a median that depends on
# how much of it was slowed, which makes the round-to-round spread, not the model, decide the
# interval's width. Interference only ever adds time, so the round's figure is the lowest median
# of its blocks: consecutive calls that took at least BLOCK_MS of call time together and number at
# least MIN_BLOCK_CALLS (each block still a median of tens of calls). Blocks of a fixed duration
# make the statistic the same for a 0.05 ms graph and a 1 ms model ("its speed in the quietest
# 25 ms of the round"), and a round long enough to hold quiet blocks between slow stretches
# reports one. A round of fewer than ROUND_BLOCKS blocks keeps its plain median: calls that long
# are each longer than most slow stretches, and their median already outvotes the slowed ones.
ROUND_BLOCKS = 5
MIN_BLOCK_CALLS = 30
BLOCK_MS = 25.0


def round_blocks(samples_ms: Sequence[float]) -> list[np.ndarray]:
    """``samples_ms`` cut into consecutive blocks of ≥ BLOCK_MS and ≥ MIN_BLOCK_CALLS calls; a
    shorter remainder joins the block before it (one block when there are too few calls)."""
    arr = np.asarray(samples_ms, dtype=np.float64)
    blocks: list[np.ndarray] = []
    start, elapsed = 0, 0.0
    for index, value in enumerate(arr):
        elapsed += value
        if index + 1 - start >= MIN_BLOCK_CALLS and elapsed >= BLOCK_MS:
            blocks.append(arr[start : index + 1])
            start, elapsed = index + 1, 0.0
    if start < arr.size:
        if blocks:
            blocks[-1] = np.concatenate([blocks[-1], arr[start:]])
        else:
            blocks.append(arr[start:])
    return blocks


def round_figure(samples: Sequence[float]) -> float:
    """A round's time per call: the lowest of its blocks' medians (see above), or its median."""
    blocks = round_blocks(samples)
    if len(blocks) < ROUND_BLOCKS:
        return float(np.median(np.asarray(samples, dtype=np.float64)))
    return float(min(np.median(block) for block in blocks))


INTERVAL_METHOD_MEDIAN = "20 %-trimmed t-interval over per-round log figures (lowest 25 ms block median)"
INTERVAL_METHOD_RATIO = "20 %-trimmed t-interval over per-round log ratios of round figures, paired by round"


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
    """Yuen's trimmed t interval of ``values`` (positive, one per round) on the log scale (see
    above); None below two."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2 or not np.all(arr > 0) or not np.all(np.isfinite(arr)):
        return None
    centre, spread = trimmed_t(np.log(arr), confidence)
    return Interval(
        estimate=math.exp(centre),
        low=math.exp(centre - spread),
        high=math.exp(centre + spread),
        confidence=confidence,
        rounds=int(arr.size),
        unit=unit,
        method=method,
    )


def trimmed_t(values: np.ndarray, confidence: float, trim: float = TRIM) -> tuple[float, float]:
    """(trimmed mean, half-width) of Yuen's interval: g = ⌊trim · n⌋ values cut at each end,
    the standard error from the winsorized variance, t with n - 2g - 1 degrees of freedom."""
    ordered = np.sort(values)
    n = ordered.size
    g = math.floor(trim * n)
    kept = n - 2 * g
    if kept < 2:  # nothing left to estimate a spread from: trim less
        g, kept = 0, n
    winsorized = np.clip(ordered, ordered[g], ordered[n - g - 1])
    standard_error = math.sqrt((n - 1) * float(winsorized.var(ddof=1)) / (kept * (kept - 1)))
    centre = float(ordered[g : n - g].mean())
    return centre, t_quantile(confidence, kept - 1) * standard_error


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
