"""Scores per the homework's rule (none / compression / speedup / quality / pareto), the quality
gate, direction-aware ratios, and the verify messages in both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from golden.factory import (
    BERT_FP32,
    BERT_PARAMS,
    QualityResult,
    bert_baseline,
    cpu,
    entry,
    make_course,
    model,
    no_cuda,
    quality,
    run,
    size_report,
    validated,
)

from grader.notes import VERBATIM
from grader.verify import verify
from grader.verify.messages import MESSAGES, note, placeholders, render, text
from grader.verify.models import Grade, Verdict
from grader.verify.scoring import pareto_ranks, quality_retained

NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
CLAIMS = {"size": "438 MB", "latency_cpu": "21 ms", "ram": "610 MiB", "quality.accuracy": "91.2%"}


def _submission(
    homework: int, candidates: list[tuple[str, int, float, float]], *, task: str = "text-classification"
) -> Grade:
    """candidates: (name, weight bytes, cpu ms, accuracy); the baseline is bert-base (438 MB, 21.3 ms,
    91.25 %)."""
    entries = [entry("baseline", "base", CLAIMS)]
    models = [bert_baseline()]
    for i, (name, size, ms, acc) in enumerate(candidates):
        claims = {
            "size": f"{size / 1e6:.2f} MB",
            "latency_cpu": f"{ms} ms",
            "ram": "300 MiB",
            "quality.accuracy": f"{acc:.4f}",
        }
        entries.append(entry(f"models[{i}]", name, claims))
        models.append(
            model(
                f"models[{i}]",
                name,
                size=size_report(size, BERT_PARAMS),
                devices=[cpu(ms, 300.0), no_cuda()],
                quality_result=quality(acc, acc, 0.8),
            )
        )
    return verify(run(validated("ml_masters", homework, entries, task=task), models), make_course(), now=NOW)


def _by_name(g: Grade):
    return {e.name: e for e in g.entries}


def test_compression_rule_with_the_quality_gate() -> None:
    # baseline accuracy 0.9125; gate 95 % → at least 0.866875
    g = _submission(
        2,
        [
            ("keeps", BERT_FP32 // 4, 8.0, 0.90),
            ("edge", BERT_FP32 // 5, 8.0, 0.866875),
            ("drops", BERT_FP32 // 8, 8.0, 0.85),
        ],
    )
    e = _by_name(g)
    assert e["keeps"].score == pytest.approx(4.0)
    assert e["edge"].score == pytest.approx(5.0)  # exactly at the gate still scores
    assert e["drops"].score is None
    assert e["drops"].score_reason is not None and e["drops"].score_reason.key == "score.below_gate"
    assert "93.2 %" in e["drops"].score_note and "95 %" in e["drops"].score_note
    assert e["base"].score is None and e["base"].score_reason.key == "score.reference"  # type: ignore[union-attr]
    assert g.scoring_rule == "compression"


def test_speedup_rule_scores_the_measured_cpu_speedup() -> None:
    g = _submission(5, [("fast", BERT_FP32, 7.1, 0.9120), ("slow", BERT_FP32, 21.3, 0.9125)])
    e = _by_name(g)
    assert e["fast"].score == pytest.approx(21.3 / 7.1)
    assert e["slow"].score == pytest.approx(1.0)
    assert e["fast"].score_reason.key == "score.speedup"  # type: ignore[union-attr]
    assert g.verdict is Verdict.INCOMPLETE  # HW-5 requires GPU figures this runner cannot measure


def test_quality_rule_higher_is_better() -> None:
    g = _submission(6, [("a", BERT_FP32 // 2, 10.0, 0.85), ("b", BERT_FP32 // 2, 10.0, 0.93)])
    e = _by_name(g)
    assert (e["a"].score, e["b"].score) == (pytest.approx(0.85), pytest.approx(0.93))
    assert e["a"].score_reason.key == "score.quality"  # type: ignore[union-attr]


def _perplexity(value: float) -> QualityResult:
    return QualityResult(
        task="causal-lm",
        dataset="wikitext-ru",
        dataset_digest="sha256:" + "0" * 64,
        device="cpu",
        n=128,
        seed=0,
        metrics={"perplexity": value},
        directions={"perplexity": "lower"},
        primary="perplexity",
    )


def test_lower_is_better_metrics_are_direction_aware() -> None:
    entries = [
        entry("baseline", "base", {"size": "438 MB", "quality.perplexity": "20"}),
        entry("models[0]", "worse", {"size": "219 MB", "quality.perplexity": "25"}),
        entry("models[1]", "better", {"size": "219 MB", "quality.perplexity": "16"}),
    ]
    models = [
        model(
            "baseline",
            "base",
            size=size_report(BERT_FP32, BERT_PARAMS),
            devices=[cpu(20.0, 600.0)],
            quality_result=_perplexity(20.0),
        ),
        model(
            "models[0]",
            "worse",
            size=size_report(BERT_FP32 // 2, BERT_PARAMS),
            devices=[cpu(10.0, 300.0)],
            quality_result=_perplexity(25.0),
        ),
        model(
            "models[1]",
            "better",
            size=size_report(BERT_FP32 // 2, BERT_PARAMS),
            devices=[cpu(10.0, 300.0)],
            quality_result=_perplexity(16.0),
        ),
    ]
    g = verify(run(validated("ml_masters", 6, entries, task="causal-lm"), models), make_course(), now=NOW)
    e = _by_name(g)
    assert g.quality_metrics["perplexity"].direction == "lower"
    assert e["worse"].ratios.quality_retained == pytest.approx(20 / 25)
    assert e["better"].ratios.quality_retained == pytest.approx(20 / 16)
    assert e["worse"].ratios.quality_delta == pytest.approx(5.0)
    # quality rule: the higher score is the better model, whatever the metric's direction
    assert e["better"].score > e["worse"].score  # type: ignore[operator]
    assert e["better"].score == pytest.approx(-16.0)


def test_pareto_rule_ranks_the_submissions_models() -> None:
    # (compression, speed-up, retained): a=(4, 2.13, .986) b=(2, 1.07, .975) is dominated by a;
    # c=(8, 1.0, .959) trades speed for size: both a and c are on the front
    g = _submission(
        4,
        [
            ("a", BERT_FP32 // 4, 10.0, 0.90),
            ("b", BERT_FP32 // 2, 20.0, 0.89),
            ("c", BERT_FP32 // 8, 21.3, 0.875),
        ],
    )
    e = _by_name(g)
    assert (e["a"].pareto_rank, e["b"].pareto_rank, e["c"].pareto_rank) == (1, 2, 1)
    assert e["c"].score == pytest.approx(8.0)  # the compression orders models within a front
    assert e["b"].score_reason.params["rank"] == "2"  # type: ignore[union-attr]


def test_no_scoring_homework_ranks_nothing() -> None:
    entries = [
        entry(
            "models[0]",
            "bert",
            {"size": "438 MB", "latency_cpu": "21 ms", "ram": "610 MiB", "quality.accuracy": "91.2%"},
            method=["baseline"],
        )
    ]
    g = verify(
        run(
            validated("ml_masters", 1, entries),
            [bert_baseline().model_copy(update={"key": "models[0]", "role": "candidate"})],
        ),
        make_course(),
        now=NOW,
    )
    assert g.verdict is Verdict.PASS
    assert g.entries[0].score is None and g.entries[0].score_reason.key == "score.not_ranked"  # type: ignore[union-attr]
    assert g.entries[0].ratios.compression is None  # no baseline, no ratios


def test_pareto_ranks_and_retained() -> None:
    ranks = pareto_ranks({"a": (1.0, 1.0), "b": (2.0, 0.5), "c": (0.5, 0.5), "d": (0.4, 0.4)})
    assert ranks == {"a": 1, "b": 1, "c": 2, "d": 3}
    assert pareto_ranks({"x": (1.0, 1.0), "y": (1.0, 1.0)}) == {
        "x": 1,
        "y": 1,
    }  # equal points do not dominate
    assert quality_retained(0.9, 0.95, "higher") == pytest.approx(0.9 / 0.95)
    assert quality_retained(25.0, 20.0, "lower") == pytest.approx(0.8)


# --- messages ------------------------------------------------------------------------------------


def test_every_message_exists_in_both_languages_with_the_same_placeholders() -> None:
    for key, entry_ in MESSAGES.items():
        assert set(entry_) == {"ru", "en"}, key
        assert entry_["ru"].strip() and entry_["en"].strip(), key
        if key == VERBATIM:  # an old document's prose: `{en}` and `{ru}`, each language its own
            continue
        assert placeholders(entry_["ru"]) == placeholders(entry_["en"]), key


def test_every_message_key_verify_uses_exists() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in Path("grader/verify").glob("*.py"))
    used = set(re.findall(r'note\(\s*"([a-z_.]+)"', source))
    used |= set(re.findall(r'"(@[a-z_]+\.[a-z_]+)"', source))  # @-references to other messages
    assert len(used) > 30
    for key in used:
        if key.startswith("@quality."):
            continue
        assert key.lstrip("@") in MESSAGES, key
    for key in re.findall(r'f"@(phase|source|metric|direction)\.', source):
        assert any(k.startswith(key + ".") for k in MESSAGES)


def test_messages_render_references_in_the_same_language() -> None:
    n = note("reason.failed", phase="@phase.load", text="boom")
    assert render(n.key, n.params, "ru") == "Замер не удался на шаге «загрузка модели»: boom"
    assert text(n) == "The measurement failed at the load step: boom"
    labels = {"accuracy": {"ru": "Доля верных ответов", "en": "Accuracy"}}
    gate = note("score.below_gate", retained="90 %", metric="@quality.accuracy", required="95 %")
    assert "(Доля верных ответов)" in render(gate.key, gate.params, "ru", labels)
    assert "(accuracy)" in render(gate.key, gate.params, "en")  # no labels: the metric's name
    with pytest.raises(KeyError):
        note("reason.no_such_thing")
    with pytest.raises(KeyError, match="text"):
        render("reason.failed", {"phase": "x"}, "en")
