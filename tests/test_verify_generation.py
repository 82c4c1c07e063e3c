"""Generation latency in verify and report (causal-lm): a `ms/token` claim is checked against the
time per output token under the same speed-up rule as every absolute time, and the PR comment and
job summary show time to first token and time per output token. Documents: the golden case
`grade_generation` (tests/golden/cases.py), varied here."""

from __future__ import annotations

import re

import pytest
from golden.cases import LM_DATASETS, LM_TASKS, NOW, generation_run, grade_generation
from golden.factory import entry, make_course, validated

from grader.harness.models import MeasurementRun, PhaseResult, Status
from grader.report import render_comment, render_summary
from grader.verify import verify
from grader.verify.models import Grade, MetricCheck, MetricStatus


def lm_run() -> MeasurementRun:
    return generation_run()[0]


COURSE = make_course(tasks=LM_TASKS, datasets=LM_DATASETS)


def regrade(run: MeasurementRun, claims: dict[str, dict[str, str]]) -> Grade:
    """``run`` graded with other latency claims (key → claims)."""
    names = {"baseline": "llama-1b-fp32", "models[0]": "llama-1b-int8", "models[1]": "llama-1b-onnx"}
    extra = {"models[0]": {"transform": "dynamic-int8"}, "models[1]": {"fmt": "onnx", "method": ["export"]}}
    entries = [entry(key, names[key], claims.get(key, {}), **extra.get(key, {})) for key in names]
    submission = validated("ml_masters", 2, entries, task="causal-lm", pr_number=58)
    return verify(run.model_copy(update={"submission": submission}), COURSE, now=NOW)


def latency(grade: Grade, key: str) -> MetricCheck:
    e = next(e for e in grade.entries if e.key == key)
    return next(c for c in e.checks if c.metric == "latency_cpu")


def test_a_per_token_claim_is_a_speed_up_over_the_baselines_per_token_claim() -> None:
    grade = grade_generation()
    base, int8, onnx = (latency(grade, k) for k in ("baseline", "models[0]", "models[1]"))
    assert base.status is MetricStatus.UNVERIFIABLE and base.unit == "s/token"
    assert base.measured == pytest.approx(0.0302, rel=1e-9)  # the median time per output token
    assert int8.status is MetricStatus.REPRODUCED and int8.compared == "speedup"
    assert int8.claimed_speedup == pytest.approx(31 / 17) and int8.measured_speedup == pytest.approx(
        30.2 / 16.1
    )
    assert int8.source == "time_per_output_token" and int8.claimed == pytest.approx(0.017)
    assert onnx.status is MetricStatus.NOT_MEASURABLE
    assert onnx.reason_note is not None and onnx.reason_note.key == "reason.not_measurable"
    assert "KV cache" in onnx.reason_note.params["text"]  # the task's own reason, passed on
    assert "latency_cpu" in next(e for e in grade.entries if e.key == "models[1]").missing


def test_a_per_token_speed_up_outside_the_tolerance_is_off() -> None:
    grade = regrade(
        lm_run(), {"baseline": {"latency_cpu": "31 ms/token"}, "models[0]": {"latency_cpu": "8 ms/token"}}
    )
    check = latency(grade, "models[0]")
    assert check.status is MetricStatus.OFF and check.claimed_speedup == pytest.approx(31 / 8)


def test_per_item_claims_still_compare_with_the_forward_pass_and_a_mix_never_compares() -> None:
    run = lm_run()
    per_item = regrade(run, {"baseline": {"latency_cpu": "412 ms"}, "models[0]": {"latency_cpu": "238 ms"}})
    check = latency(per_item, "models[0]")
    assert check.status is MetricStatus.REPRODUCED and check.unit == "s" and check.source == "median_per_item"
    assert check.measured_speedup == pytest.approx(412 / 238)
    mixed = regrade(run, {"baseline": {"latency_cpu": "412 ms"}, "models[0]": {"latency_cpu": "16 ms/token"}})
    check = latency(mixed, "models[0]")
    assert check.status is MetricStatus.UNVERIFIABLE
    assert check.reason_note is not None and check.reason_note.key == "reason.baseline_per_item"


def test_a_noisy_time_per_token_is_shown_never_graded() -> None:
    run = lm_run()
    int8 = run.model("models[0]")
    assert int8 is not None
    int8.phases.append(
        PhaseResult(
            phase="generation", device="cpu", status=Status.NOISY, reason="time per output token: noise"
        )
    )
    grade = regrade(
        run, {"baseline": {"latency_cpu": "31 ms/token"}, "models[0]": {"latency_cpu": "17 ms/token"}}
    )
    check = latency(grade, "models[0]")
    assert check.status is MetricStatus.INCONCLUSIVE and check.measured == pytest.approx(0.0161, rel=1e-9)
    entry_ = next(e for e in grade.entries if e.key == "models[0]")
    assert (
        entry_.measured.generation["cpu"].status == "noisy"
        and entry_.measured.generation["cpu"].tpot_s is None
    )


def test_the_comment_and_summary_show_generation_in_both_languages() -> None:
    grade = grade_generation()
    for language, title, cache in (
        ("en", "Generation (causal LM)", "KV cache"),
        ("ru", "Генерация", "KV-кэш"),
    ):
        for text in (render_comment(grade, language), render_summary(grade, language)):
            assert title in text and cache in text
            assert "| **llama-1b-int8** | CPU | 51.0 ms | 16.1 ms/token ±" in text
            # the per-token claim's cell in the main table: judged on the speed-up's interval
            assert re.search(r"16\.1 ms/token ✅ \([^|]*95 % (CI|ДИ) [0-9.]+–[0-9.]+×", text)
            assert "without a KV cache" in text  # why the ONNX export has no generation figures
    figures = next(e for e in grade.entries if e.key == "models[0]").measured.generation["cpu"]
    assert figures.ttft_s == pytest.approx(0.051) and figures.prompt_tokens == 32 and figures.kv_cache


def test_other_tasks_show_no_generation_section() -> None:
    from golden.cases import grade_pass

    grade = grade_pass()
    assert all(e.measured.generation == {} for e in grade.entries)
    assert "Generation" not in render_comment(grade, "en")
