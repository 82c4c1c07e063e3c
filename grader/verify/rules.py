"""The homework's scoring rules, one object each: the figures it scores, the score, its note.

course.yaml `homeworks[].scoring.rule` names one of them; `rule_for` returns its object, which
verify asks for each model's score and note, and the report and the leaderboard ask how the
score reads and how a table is ranked. The baseline is never scored. Every rule but `none`
first applies the quality gate: a model scores only if quality retained >= `min_quality_retained`
(when set); a model without quality figures for itself and its baseline is not scored.
- none: measured and verified, not ranked.
- compression: score = compression ratio.
- speedup: score = speed-up on `scoring.device` (cpu by default).
- quality: score = the primary metric, higher is better; for a lower-is-better metric the score is
  its negative (so "higher score ranks first" holds for every rule) and tables show the metric.
- pareto: models are ranked by non-dominated sorting on (compression, speed-up on
  `scoring.device`, quality retained), all higher-is-better and all relative to the team's own
  baseline, so teams that start from different models compare fairly; rank 1 is the Pareto front.
  The score is the compression ratio, which orders models within one rank. Verify ranks the
  models of one submission; the leaderboard ranks every team's models of a homework the same way.

A score is decided in two steps, so that each note is written once, with its final figures:
`score` gives each model its value (or the note that says why it has none), then `ranks` places
the scored models together (Pareto only) and `note` explains each score with its rank.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from grader.course.model import Scoring, ScoringRule
from grader.messages import note
from grader.verify import formatting as fmt
from grader.verify.models import MetricCheck, MetricStatus, Note, QualityMetricInfo, Ratios
from grader.verify.scoring import pareto_ranks

Strings = Callable[..., str]  # a report's catalog lookup: strings(key, **params) -> text


@dataclass(frozen=True)
class ScoreInputs:
    """What one compressed model's score is computed from."""

    scoring: Scoring
    ratios: Ratios
    quality_value: float | None  # the model's primary quality metric
    primary: str | None
    info: QualityMetricInfo | None  # the primary metric's direction and bounds
    checks: Mapping[str, MetricCheck]  # the model's checks by metric

    @property
    def latency(self) -> str:
        return latency_metric(self.scoring)

    @property
    def speedup(self) -> float | None:
        return self.ratios.speedup_gpu if self.scoring.device == "cuda" else self.ratios.speedup_cpu

    @property
    def metric_ref(self) -> str:
        """The primary metric as a message reference (its label in the report's language)."""
        return f"@quality.{self.primary}" if self.primary else "@metric.quality"

    @property
    def quality_metric(self) -> str:
        return f"quality.{self.primary}"

    def missing(self, what: str, metric: str) -> Note:
        """The note of a score whose figure ``what`` is missing, with why ``metric`` gave none."""
        return note("score.missing", what=what, why=why_missing(self.checks.get(metric)))


def latency_metric(scoring: Scoring) -> str:
    """The latency a speed-up is scored on: `latency_gpu` when the homework scores CUDA."""
    return "latency_gpu" if scoring.device == "cuda" else "latency_cpu"


def why_missing(check: MetricCheck | None) -> str:
    """Why a scored figure is missing, as a message reference."""
    if check is None:
        return "@why.not_measured"
    return {
        MetricStatus.INCONCLUSIVE: "@why.inconclusive",
        MetricStatus.NOT_MEASURABLE: "@why.not_measurable",
        MetricStatus.FAILED: "@why.failed",
    }.get(check.status, "@why.not_measured")


class Rule:
    """A scoring rule. Subclasses say what they score (`metrics`), the value and its note."""

    name: ClassVar[ScoringRule]
    ranked: ClassVar[bool] = True  # False: models are measured and verified, not ranked
    needs_quality: ClassVar[bool] = False  # the score itself needs quality (besides any gate)
    # How a table of scored models is ordered, best first: (column, ascending) pairs.
    order: ClassVar[tuple[tuple[str, bool], ...]] = (("score", False),)

    def metrics(self, scoring: Scoring, primary: str | None) -> set[str]:
        """The figures this rule's score is computed from (besides the quality gate)."""
        return set()

    def scored_metrics(self, scoring: Scoring, primary: str | None) -> set[str]:
        """Every figure the score needs: a noisy or failed one blocks the ranking."""
        if not self.ranked:
            return set()
        gate = {f"quality.{primary}"} if primary and scoring.min_quality_retained is not None else set()
        return gate | self.metrics(scoring, primary)

    def score(self, inputs: ScoreInputs, *, has_baseline: bool) -> float | Note:
        """One compressed model's score, or the note that says why it has none."""
        if not has_baseline:
            return note("score.no_baseline")
        gate = inputs.scoring.min_quality_retained
        retained = inputs.ratios.quality_retained
        if gate is not None:
            if retained is None:
                return note("score.no_quality", why=why_missing(inputs.checks.get(inputs.quality_metric)))
            if retained < gate - 1e-12:
                return note(
                    "score.below_gate",
                    retained=fmt.percent(retained),
                    metric=inputs.metric_ref,
                    required=fmt.percent(gate),
                )
        return self.value(inputs)

    def value(self, inputs: ScoreInputs) -> float | Note:
        raise NotImplementedError

    def ranks(self, scored: Mapping[str, ScoreInputs]) -> dict[str, int] | None:
        """Ranks that need every scored model at once (Pareto); None: the score alone ranks."""
        return None

    def note(self, inputs: ScoreInputs, value: float, rank: int | None) -> Note:
        """What a model's score ``value`` means (``rank``: its place among ``ranks``)."""
        raise NotImplementedError

    def score_text(
        self,
        score: float,
        *,
        rank: int | None,
        compression: float | None,
        bounded: bool | None,
        strings: Strings,
    ) -> str:
        """The score as a table cell shows it (``strings``: the report's catalog)."""
        return fmt.ratio(score)

    @staticmethod
    def kept(inputs: ScoreInputs) -> str:
        retained = inputs.ratios.quality_retained
        return fmt.percent(retained) if retained is not None else "—"


class NoRule(Rule):
    name = ScoringRule.NONE
    ranked = False

    def score(self, inputs: ScoreInputs, *, has_baseline: bool) -> float | Note:
        return note("score.not_ranked")


class CompressionRule(Rule):
    name = ScoringRule.COMPRESSION

    def metrics(self, scoring: Scoring, primary: str | None) -> set[str]:
        return {"size"}

    def value(self, inputs: ScoreInputs) -> float | Note:
        if inputs.ratios.compression is None:
            return inputs.missing("@metric.compression", "size")
        return inputs.ratios.compression

    def note(self, inputs: ScoreInputs, value: float, rank: int | None) -> Note:
        return note(
            "score.compression", value=fmt.ratio(value), retained=self.kept(inputs), metric=inputs.metric_ref
        )


class SpeedupRule(Rule):
    name = ScoringRule.SPEEDUP

    def metrics(self, scoring: Scoring, primary: str | None) -> set[str]:
        return {latency_metric(scoring)}

    def value(self, inputs: ScoreInputs) -> float | Note:
        if inputs.speedup is None:
            return inputs.missing(f"@metric.speedup_{inputs.latency[-3:]}", inputs.latency)
        return inputs.speedup

    def note(self, inputs: ScoreInputs, value: float, rank: int | None) -> Note:
        return note(
            "score.speedup",
            device=inputs.scoring.device.upper(),
            value=fmt.ratio(value),
            retained=self.kept(inputs),
            metric=inputs.metric_ref,
        )


class QualityRule(Rule):
    name = ScoringRule.QUALITY
    needs_quality = True

    def metrics(self, scoring: Scoring, primary: str | None) -> set[str]:
        return {f"quality.{primary}"} if primary else set()

    def value(self, inputs: ScoreInputs) -> float | Note:
        if inputs.quality_value is None:
            return inputs.missing(inputs.metric_ref, inputs.quality_metric)
        # negated for lower-is-better metrics, so a higher score ranks first under every rule
        return inputs.quality_value if _direction(inputs.info) == "higher" else -inputs.quality_value

    def note(self, inputs: ScoreInputs, value: float, rank: int | None) -> Note:
        assert inputs.quality_value is not None  # a quality score exists only with its value
        bounded = inputs.info.bounded if inputs.info else None
        return note(
            "score.quality",
            metric=inputs.metric_ref,
            value=fmt.score_value(inputs.quality_value, bounded=bounded),
            direction=f"@direction.{_direction(inputs.info)}",
        )

    def score_text(
        self,
        score: float,
        *,
        rank: int | None,
        compression: float | None,
        bounded: bool | None,
        strings: Strings,
    ) -> str:
        return fmt.score_value(abs(score), bounded=bounded)  # the metric itself, not its negation


class ParetoRule(Rule):
    name = ScoringRule.PARETO
    needs_quality = True
    order = (("pareto_rank", True), ("compression", False))

    def metrics(self, scoring: Scoring, primary: str | None) -> set[str]:
        return {"size", latency_metric(scoring)}

    def value(self, inputs: ScoreInputs) -> float | Note:
        if inputs.ratios.compression is None:
            return inputs.missing("@metric.compression", "size")
        if inputs.speedup is None:
            return inputs.missing(f"@metric.speedup_{inputs.latency[-3:]}", inputs.latency)
        return inputs.ratios.compression  # orders models within a rank

    def ranks(self, scored: Mapping[str, ScoreInputs]) -> dict[str, int] | None:
        points = {key: p for key, inputs in scored.items() if (p := self.point(inputs)) is not None}
        return pareto_ranks(points)

    @staticmethod
    def point(inputs: ScoreInputs) -> tuple[float, float, float] | None:
        """(compression, speed-up, quality retained), or None when one is missing."""
        return pareto_point(inputs.ratios.compression, inputs.speedup, inputs.ratios.quality_retained)

    def note(self, inputs: ScoreInputs, value: float, rank: int | None) -> Note:
        return note(
            "score.pareto", rank=str(rank), device=inputs.scoring.device.upper(), value=fmt.ratio(value)
        )

    def score_text(
        self,
        score: float,
        *,
        rank: int | None,
        compression: float | None,
        bounded: bool | None,
        strings: Strings,
    ) -> str:
        if rank is None:
            return fmt.ratio(score)
        return strings(
            "ratios.pareto_score", rank=rank, value=fmt.ratio(score if compression is None else compression)
        )


def pareto_point(
    compression: float | None, speedup: float | None, retained: float | None
) -> tuple[float, float, float] | None:
    """A model's place in Pareto space; None unless all three figures exist."""
    if compression is None or speedup is None or retained is None:
        return None
    return (compression, speedup, retained)


def _direction(info: QualityMetricInfo | None) -> str:
    return info.direction if info else "higher"


RULES: dict[ScoringRule, Rule] = {
    rule.name: rule for rule in (NoRule(), CompressionRule(), SpeedupRule(), QualityRule(), ParetoRule())
}


def rule_for(rule: ScoringRule | str | None) -> Rule:
    """The object of a rule by its name (`none` for a grade or record that has none)."""
    return RULES[ScoringRule(rule) if rule is not None else ScoringRule.NONE]
