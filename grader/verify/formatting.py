"""How figures are written in grades, comments and the leaderboard.

One place, so a size reads the same in a check's reason, a PR comment and the README: sizes in
decimal MB (as hubs and file managers print them), memory in MiB (as nvidia-smi and `free -m`
print it), times in milliseconds per item, ratios with `×`. Numbers use a dot as the decimal
separator in both languages, because that is how the manifest asks teams to write them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from grader.units import MIB

if TYPE_CHECKING:  # only a type here: writing figures must not load the course model (pydantic)
    from grader.course.model import Tolerance


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def size_mb(n_bytes: float) -> str:
    """`455.1 MB`, `0.271 MB`, `12.40 GB`: megabytes below 10 GB so rows compare at a glance."""
    mb = n_bytes / 1e6
    if abs(mb) >= 10_000:
        return f"{_fixed(mb / 1000, 2)} GB"
    if abs(mb) >= 10:
        return f"{_fixed(mb, 1)} MB"
    if abs(mb) >= 1:
        return f"{_fixed(mb, 2)} MB"
    return f"{_fixed(mb, 3)} MB"


def memory_mib(n_bytes: float) -> str:
    """`812.4 MiB`, `3.25 GiB`."""
    mib = n_bytes / MIB
    if abs(mib) >= 10_240:
        return f"{_fixed(mib / 1024, 2)} GiB"
    if abs(mib) >= 10:
        return f"{_fixed(mib, 1)} MiB"
    return f"{_fixed(mib, 2)} MiB"


def time_ms(seconds: float) -> str:
    """`19.6 ms`, `0.412 ms`, `1234 ms`: always milliseconds, three significant figures or more."""
    ms = seconds * 1e3
    if abs(ms) >= 1000:
        return f"{_fixed(ms, 0)} ms"
    if abs(ms) >= 10:
        return f"{_fixed(ms, 1)} ms"
    if abs(ms) >= 1:
        return f"{_fixed(ms, 2)} ms"
    return f"{_fixed(ms, 3)} ms"


def ratio(value: float) -> str:
    """`3.91×`, `12.3×`."""
    return f"{_fixed(value, 1 if abs(value) >= 10 else 2)}×"


def percent(fraction: float, *, signed: bool = False) -> str:
    """`2 %`, `27.4 %`, `+297 %`, `−0.4 %` (a true minus sign, so signed columns read well)."""
    pct = fraction * 100
    text = _fixed(abs(pct), 0 if abs(pct) >= 100 else 1).removesuffix(".0")
    zero = float(text) == 0
    if signed:
        sign = "±" if zero else ("+" if pct > 0 else "−")
        return f"{sign}{text} %"
    return f"{'−' if pct < 0 and not zero else ''}{text} %"


def score_value(value: float, *, bounded: bool | None) -> str:
    """A quality metric: `91.23 %` for metrics in [0, 1], else four significant figures (`21.43`)."""
    if bounded:
        return f"{_fixed(value * 100, 2)} %"
    return _significant(value, 4)


def score_delta(delta: float, *, bounded: bool | None) -> str:
    """A quality difference: percentage points for bounded metrics (`−0.41 pp`), else signed value."""
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    if bounded:
        return f"{sign}{_fixed(abs(delta) * 100, 2)} pp"
    return f"{sign}{_significant(abs(delta), 3)}"


def _significant(value: float, digits: int) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}" if not math.isfinite(value) else "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return _fixed(value, decimals)


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
    return f"{_fixed(low, digits)}–{_fixed(high, digits)}×"


def time_interval_ms(low_s: float, high_s: float) -> str:
    """`0.551–0.569 ms`: the ends of a time's interval, with the digits `time_ms` gives the lower."""
    text = time_ms(low_s)
    digits = len(text.split()[0].partition(".")[2])
    return f"{_fixed(low_s * 1e3, digits)}–{_fixed(high_s * 1e3, digits)} ms"
