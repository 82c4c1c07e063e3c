"""One object per scoring rule (grader.verify.rules): what it scores, the score, its note."""

from __future__ import annotations

import pytest

from grader.course.model import Scoring, ScoringRule
from grader.verify.messages import text
from grader.verify.models import Note, QualityMetricInfo, Ratios
from grader.verify.rules import RULES, ParetoRule, ScoreInputs, rule_for


def _inputs(rule: ScoringRule, **ratios: float) -> ScoreInputs:
    return ScoreInputs(
        scoring=Scoring(rule=rule, min_quality_retained=None),
        ratios=Ratios(**ratios),
        quality_value=0.9,
        primary="accuracy",
        info=QualityMetricInfo(direction="higher", bounded=True),
        checks={},
    )


def test_every_rule_has_an_object() -> None:
    assert set(RULES) == set(ScoringRule)
    assert rule_for(None) is RULES[ScoringRule.NONE]
    assert rule_for("pareto") is RULES[ScoringRule.PARETO]


@pytest.mark.parametrize(
    ("rule", "metrics"),
    [
        (ScoringRule.NONE, set()),
        (ScoringRule.COMPRESSION, {"size"}),
        (ScoringRule.SPEEDUP, {"latency_cpu"}),
        (ScoringRule.QUALITY, {"quality.accuracy"}),
        (ScoringRule.PARETO, {"size", "latency_cpu"}),
    ],
)
def test_each_rule_names_the_figures_it_scores(rule: ScoringRule, metrics: set[str]) -> None:
    scoring = Scoring(rule=rule, min_quality_retained=None)
    assert rule_for(rule).scored_metrics(scoring, "accuracy") == metrics


def test_the_gate_adds_quality_to_every_ranked_rule() -> None:
    scoring = Scoring(rule=ScoringRule.COMPRESSION, min_quality_retained=0.95)
    assert rule_for(scoring.rule).scored_metrics(scoring, "accuracy") == {"size", "quality.accuracy"}
    none = Scoring(rule=ScoringRule.NONE, min_quality_retained=0.95)
    assert rule_for(none.rule).scored_metrics(none, "accuracy") == set()


def test_a_pareto_note_is_written_once_with_its_rank() -> None:
    rule = rule_for(ScoringRule.PARETO)
    assert isinstance(rule, ParetoRule)
    a = _inputs(ScoringRule.PARETO, compression=2.0, speedup_cpu=1.5, quality_retained=0.99)
    b = _inputs(ScoringRule.PARETO, compression=1.5, speedup_cpu=1.2, quality_retained=0.98)
    value = rule.score(a, has_baseline=True)
    assert value == 2.0  # a value, not a note: the note waits for the rank
    ranks = rule.ranks({"a": a, "b": b})
    assert ranks == {"a": 1, "b": 2}
    note = rule.note(a, 2.0, ranks["a"])
    assert note.params["rank"] == "1"
    assert text(note).startswith("Pareto rank 1 among")


def test_a_missing_figure_is_a_note_not_a_score() -> None:
    missing = rule_for(ScoringRule.SPEEDUP).score(_inputs(ScoringRule.SPEEDUP), has_baseline=True)
    assert isinstance(missing, Note) and missing.key == "score.missing"
    assert rule_for(ScoringRule.COMPRESSION).score(
        _inputs(ScoringRule.COMPRESSION), has_baseline=False
    ) == Note(key="score.no_baseline")


def test_a_quality_score_reads_as_the_metric() -> None:
    rule = rule_for(ScoringRule.QUALITY)
    lower = ScoreInputs(
        scoring=Scoring(rule=ScoringRule.QUALITY, min_quality_retained=None),
        ratios=Ratios(),
        quality_value=12.5,
        primary="perplexity",
        info=QualityMetricInfo(direction="lower", bounded=False),
        checks={},
    )
    assert rule.score(lower, has_baseline=True) == -12.5  # higher ranks first under every rule
    assert rule.score_text(-12.5, rank=None, compression=None, bounded=False, strings=str) == "12.50"
