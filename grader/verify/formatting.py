"""How figures are written in grades, comments and the leaderboard.

One place, so a size reads the same in a check's reason, a PR comment and the README: sizes in
decimal MB (as hubs and file managers print them), memory in MiB (as nvidia-smi and `free -m`
print it), times in milliseconds per item, ratios with `×`. Numbers use a dot as the decimal
separator in both languages, because that is how the manifest asks teams to write them. The
byte and time writers live with the grader's other byte and time formatting, in grader.units,
and are re-exported here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from grader.units import fixed, memory_mib, size_mb, time_interval_ms, time_ms

__all__ = [
    "figure",
    "memory_mib",
    "metric_kind",
    "percent",
    "ratio",
    "ratio_interval",
    "score_delta",
    "score_value",
    "size_mb",
    "time_interval_ms",
    "time_ms",
    "tolerance_text",
]

if TYPE_CHECKING:  # only a type here: writing figures must not load the course model (pydantic)
    from grader.course.model import Tolerance


def ratio(value: float) -> str:
    """`3.91×`, `12.3×`."""
    return f"{fixed(value, 1 if abs(value) >= 10 else 2)}×"


def percent(fraction: float, *, signed: bool = False) -> str:
    """`2 %`, `27.4 %`, `+297 %`, `−0.4 %` (a true minus sign, so signed columns read well)."""
    pct = fraction * 100
    text = fixed(abs(pct), 0 if abs(pct) >= 100 else 1).removesuffix(".0")
    zero = float(text) == 0
    if signed:
        sign = "±" if zero else ("+" if pct > 0 else "−")
        return f"{sign}{text} %"
    return f"{'−' if pct < 0 and not zero else ''}{text} %"


def score_value(value: float, *, bounded: bool | None) -> str:
    """A quality metric: `91.23 %` for metrics in [0, 1], else four significant figures (`21.43`)."""
    if bounded:
        return f"{fixed(value * 100, 2)} %"
    return _significant(value, 4)


def score_delta(delta: float, *, bounded: bool | None) -> str:
    """A quality difference: percentage points for bounded metrics (`−0.41 pp`), else signed value."""
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    if bounded:
        return f"{sign}{fixed(abs(delta) * 100, 2)} pp"
    return f"{sign}{_significant(abs(delta), 3)}"


def _significant(value: float, digits: int) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}" if not math.isfinite(value) else "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return fixed(value, decimals)


def metric_kind(metric: str) -> str:
    """ "size", "memory", "time", "ratio" or "score": how a metric's values are written."""
    if metric == "size":
        return "size"
    if metric in ("ram", "vram"):
        return "memory"
    if metric.startswith("latency_"):
        return "time"
    if metric.startswith("speedup_") or metric == "compression":
        return "ratio"
    return "score"


def figure(metric: str, value: float, *, bounded: bool | None = None) -> str:
    """A value of ``metric`` in its base unit, written for people: bytes → MB or MiB, s → ms."""
    kind = metric_kind(metric)
    if kind == "size":
        return size_mb(value)
    if kind == "memory":
        return memory_mib(value)
    if kind == "time":
        return time_ms(value)
    if kind == "ratio":
        return ratio(value)
    return score_value(value, bounded=bounded)


def tolerance_text(tolerance: Tolerance, metric: str) -> str:
    """`±2 %`, `±0.01`, `max(±0.01, ±2 %)` (a claim passes within either bound)."""
    parts = []
    if tolerance.abs is not None:
        if metric_kind(metric) in ("size", "memory"):
            parts.append(f"±{figure(metric, tolerance.abs)}")
        else:  # scores and ratios: in the metric's own scale, as course.yaml writes it
            parts.append(f"±{tolerance.abs:g}")
    if tolerance.rel is not None:
        parts.append(f"±{percent(tolerance.rel)}")
    return parts[0] if len(parts) == 1 else f"max({', '.join(parts)})"


def ratio_interval(low: float, high: float) -> str:
    """`1.79–1.89×`: both ends with the digits `ratio` gives the larger one."""
    digits = 1 if abs(high) >= 10 else 2
    return f"{fixed(low, digits)}–{fixed(high, digits)}×"
