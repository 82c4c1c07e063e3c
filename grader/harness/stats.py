"""Statistics of raw samples, computed in one place so every figure means the same thing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

# p99 of fewer samples is just the maximum wearing a costume: report it only with enough data.
P99_MIN_SAMPLES = 100


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
