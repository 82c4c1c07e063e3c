"""Ratios against the baseline, the homework's score, and the verdict.

Ratios (a compressed model against the team's own baseline, both measured in the same job):
- compression = baseline graded size / graded size (graded size: the weight files, or the
  weights as run when the grader applied a transform);
- speed-up per device = baseline median time per item / median time per item (interleaved
  rounds; none when either timing is noisy, failed or not measurable);
- quality Δ = primary metric - baseline's primary metric (in the metric's own scale);
- quality retained = primary / baseline's primary for higher-is-better metrics, baseline's
  primary / primary for lower-is-better ones (perplexity, WER): 1.0 keeps everything, above
  1.0 is better than the baseline.

Scores: one object per rule in grader.verify.rules (what it scores, the score, its note).

Verdict of a model, by precedence (the first that applies):
1. failed: the model could not be measured, or a figure that is claimed, required or scored
   failed to measure;
2. claims_mismatch: a claim is off (outside the tolerance);
3. incomplete: a required metric is not claimed, or cannot be measured on this runner;
4. noisy: a timing that is claimed, required or scored stayed above the noise gate;
5. pass.
A submission's verdict is the first of these over all its models; `invalid` (the manifest did not
validate, nothing was measured) comes before all of them. Problems the team must fix rank above
`noisy`, which a re-run fixes, so the label tells the team what to do first.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from grader.course.model import Metric
from grader.verify.models import MetricCheck, MetricStatus, QualityMetricInfo, Ratios, Verdict

K = TypeVar("K", bound=Hashable)  # what a Pareto point is keyed by: an entry key, a table row

# First applies: index 0 is the most serious.
VERDICT_PRECEDENCE: list[Verdict] = [
    Verdict.INVALID,
    Verdict.FAILED,
    Verdict.CLAIMS_MISMATCH,
    Verdict.INCOMPLETE,
    Verdict.INCONCLUSIVE,
    Verdict.PASS,
]


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    found = list(verdicts)
    return min(found, key=VERDICT_PRECEDENCE.index) if found else Verdict.PASS


# Which claims satisfy a required metric: a speed-up claim reports latency, a compression claim
# reports size (for compressed models; the baseline has no ratios to claim).
REQUIREMENT_CLAIMS: dict[Metric, tuple[str, ...]] = {
    Metric.SIZE: ("size", "compression"),
    Metric.LATENCY_CPU: ("latency_cpu", "speedup_cpu"),
    Metric.LATENCY_GPU: ("latency_gpu", "speedup_gpu"),
    Metric.RAM: ("ram",),
    Metric.VRAM: ("vram",),
}


def missing_requirements(
    required: Sequence[Metric], claimed: set[str], checks: dict[str, MetricCheck], *, is_baseline: bool
) -> list[str]:
    """Required metrics that are not claimed, or that cannot be measured on this runner."""
    missing = []
    for metric in required:
        if metric is Metric.QUALITY:
            quality = [c for name, c in checks.items() if name.startswith("quality.")]
            satisfied = any(name.startswith("quality.") for name in claimed)
            unmeasurable = bool(quality) and all(c.status is MetricStatus.NOT_MEASURABLE for c in quality)
        else:
            options = REQUIREMENT_CLAIMS[metric]
            if is_baseline:
                options = options[:1]
            satisfied = any(name in claimed for name in options)
            check = checks.get(metric.value)
            unmeasurable = check is not None and check.status is MetricStatus.NOT_MEASURABLE
        if not satisfied or unmeasurable:
            missing.append(metric.value)
    return missing


def entry_verdict(
    checks: list[MetricCheck], *, model_failed: bool, missing: list[str], scored: set[str]
) -> Verdict:
    """One model's verdict by the precedence in the module docstring."""

    def counts(check: MetricCheck) -> bool:
        return check.claimed_raw is not None or check.required or check.metric in scored

    found = []
    if model_failed or any(c.status is MetricStatus.FAILED and counts(c) for c in checks):
        found.append(Verdict.FAILED)
    if any(c.status is MetricStatus.OFF for c in checks):
        found.append(Verdict.CLAIMS_MISMATCH)
    if missing:
        found.append(Verdict.INCOMPLETE)
    if any(c.status is MetricStatus.INCONCLUSIVE and counts(c) for c in checks):
        found.append(Verdict.INCONCLUSIVE)
    return worst(found)


# --- ratios -------------------------------------------------------------------------------------


def quality_retained(value: float, baseline: float, direction: str) -> float | None:
    if direction == "lower":
        return baseline / value if value > 0 else None
    return value / baseline if baseline > 0 else None


def ratios(
    own: dict[str, float | None],
    base: dict[str, float | None],
    primary: str | None,
    info: QualityMetricInfo | None,
) -> Ratios:
    """``own``/``base``: graded figures by name ("size", "latency_cpu", "latency_gpu", "quality")."""

    def over(name: str) -> float | None:
        a, b = base.get(name), own.get(name)
        return a / b if a is not None and b else None

    out = Ratios(compression=over("size"), speedup_cpu=over("latency_cpu"), speedup_gpu=over("latency_gpu"))
    q, bq = own.get("quality"), base.get("quality")
    if primary and q is not None and bq is not None:
        direction = info.direction if info else "higher"
        out.quality_delta = q - bq
        out.quality_retained = quality_retained(q, bq, direction)
    return out


# --- Pareto ranks (grader.verify.rules and the leaderboard rank with them) -------------------------


def pareto_ranks(points: Mapping[K, tuple[float, ...]]) -> dict[K, int]:
    """Non-dominated sorting (every coordinate higher-is-better): rank 1 is the front."""
    remaining = dict(points)
    ranks: dict[K, int] = {}
    rank = 1
    while remaining:
        front = [
            key
            for key, p in remaining.items()
            if not any(_dominates(q, p) for other, q in remaining.items() if other != key)
        ]
        for key in front:
            ranks[key] = rank
            del remaining[key]
        rank += 1
    return ranks


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))
