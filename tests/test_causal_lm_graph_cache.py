"""causal-lm on ONNX decoders exported with a KV cache, through real measurement children.

One measure + verify of two exports of a tiny random-init Llama (tests/task_models.py):

- a graph that takes a cache (past_key_values.N.*) but returns none: it scores a window (fed an
  empty cache) but no loop can carry its cache from one step to the next, so it cannot generate.
  Its perplexity is measured and graded (equal to Hugging Face's recipe on the checkpoint); BLEU
  and chrF are not measured, with why, and a claim of BLEU is unverifiable, not a failed model;
- a graph that takes and returns its cache, as optimum exports one: its forward latency is a
  prefill over an empty cache, generation is timed in the paired latency rounds with the cache
  driven (time to first token, time per output token, their interval), and a ms/token claim is
  read against that figure; its answers score the BLEU of transformers' own `generate`.
"""

from __future__ import annotations

import pytest
import sacrebleu
import yaml
from task_models import TaskModel, build
from test_causal_lm_answers import (
    _course,
    _write_prompts,
    export_with_cache,
    prompts,  # noqa: F401 - the fixture, used by name
    reference_answers,
)
from test_tasks_end_to_end import ref_causal_lm

from grader.course import load_course
from grader.harness.measure import measure_submission
from grader.harness.models import MeasurementRun, ModelMeasurement, Status
from grader.messages import text
from grader.report import render_comment
from grader.validate.manifest import validate_manifest
from grader.verify import verify
from grader.verify.models import Grade, MetricCheck, MetricStatus

NEW_TOKENS = 6


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TaskModel:
    return build("causal-lm", tmp_path_factory.mktemp("tiny"))


MANIFEST = """team: causal
homework: 1
task: causal-lm
models:
  - name: no-presents
    method: export
    format: onnx
    artifact: {{path: no-presents/}}
    claims:
      quality:
        perplexity: {perplexity}
        bleu: 0.3
  - name: with-past
    method: export
    format: onnx
    artifact: {{path: with-past/}}
    claims:
      latency_cpu: 2 ms/token
      quality:
        bleu: {bleu}
"""


@pytest.fixture(scope="module")
def graded(
    model: TaskModel,
    prompts: list[dict[str, str]],  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[MeasurementRun, Grade, dict[str, float]]:
    root = tmp_path_factory.mktemp("graph-cache")
    _write_prompts(root, prompts)
    course_path = _course(root, prompts=True)
    data = yaml.safe_load(course_path.read_text(encoding="utf-8"))
    data["tasks"]["causal-lm"]["params"]["new_tokens"] = NEW_TOKENS  # time generation too
    course_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    course = load_course(course_path)
    folder = root / "submissions" / "causal" / "hw-1"
    export_with_cache(model, folder / "no-presents", presents=False)
    export_with_cache(model, folder / "with-past")
    expected = {
        "perplexity": ref_causal_lm(model, 2)["perplexity"],
        "bleu": sacrebleu.corpus_bleu(
            reference_answers(model, [p["question"] for p in prompts]), [[p["answer"] for p in prompts]]
        ).score
        / 100,
    }
    manifest = folder / "submission.yaml"
    manifest.write_text(
        MANIFEST.format(perplexity=f"{expected['perplexity']:.4f}", bleu=f"{expected['bleu']:.4f}"),
        encoding="utf-8",
    )
    validated = validate_manifest(manifest, course, root)
    assert validated.ok, [f for f in validated.findings if f.is_error]
    run = measure_submission(validated, course, root, cache_dir=root / ".cache")
    # the document as written and read back: the new field survives the round trip
    run = MeasurementRun.model_validate_json(run.model_dump_json())
    grade = verify(run, course)
    return run, grade, expected


def _measured(run: MeasurementRun, name: str) -> ModelMeasurement:
    return next(m for m in run.models if m.name == name)


def _check(grade: Grade, name: str, metric: str) -> MetricCheck:
    entry = next(e for e in grade.entries if e.name == name)
    return next(c for c in entry.checks if c.metric == metric)


def test_a_graph_that_cannot_generate_keeps_its_perplexity_and_says_why_bleu_is_missing(
    graded: tuple[MeasurementRun, Grade, dict[str, float]],
) -> None:
    run, grade, expected = graded
    m = _measured(run, "no-presents")
    assert m.status is Status.OK and m.quality is not None, m.phases
    assert not [p for p in m.phases if p.phase == "quality" and p.status is not Status.OK]
    assert set(m.quality.metrics) == {"perplexity", "nll"}
    assert m.quality.metrics["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-3)
    assert set(m.quality.unmeasured) == {"bleu", "chrf"}
    why = m.quality.unmeasured["bleu"]
    assert why.key == "unmeasured.cannot_generate"
    assert "returns no present.0.key" in text(why) and "text-generation-with-past" in text(why)

    assert _check(grade, "no-presents", "quality.perplexity").status is MetricStatus.REPRODUCED
    bleu = _check(grade, "no-presents", "quality.bleu")
    assert bleu.status is MetricStatus.UNVERIFIABLE and bleu.measured is None
    assert bleu.reason_note is not None and bleu.reason_note.key == "reason.metric_unmeasured_claim"
    english, russian = text(bleu.reason_note, "en"), text(bleu.reason_note, "ru")
    assert "0.3 cannot be verified" in english and "could not generate answers" in english
    assert "не проверить" in russian and "не смогла сгенерировать ответы" in russian
    assert "returns no present.0.key" in russian  # the harness's own words, inside the sentence
    entry = next(e for e in grade.entries if e.name == "no-presents")
    assert entry.verdict.value != "failed", entry.verdict
    assert any(p.startswith("quality: chrf not measured: the model could not") for p in entry.problems)
    # the PR comment, in each language: the reason in the metric's own label, no failure
    comment_en, comment_ru = render_comment(grade, "en"), render_comment(grade, "ru")
    assert "BLEU of greedy answers is not measured for this model" in comment_en
    assert "BLEU жадных ответов для этой модели не измеряется" in comment_ru
    assert "returns no present.0.key" in comment_ru


def test_a_graph_with_its_kv_cache_is_timed_per_token_in_the_paired_rounds(
    graded: tuple[MeasurementRun, Grade, dict[str, float]],
) -> None:
    run, grade, expected = graded
    m = _measured(run, "with-past")
    assert m.status is Status.OK, m.phases
    assert not [p for p in m.phases if p.phase == "generation"], m.phases  # no refusal, no failure
    device = m.devices["cpu"]
    assert device.latency is not None and device.latency.samples.stats.median > 0  # a prefill
    generation = device.generation
    assert generation is not None and generation.kv_cache
    assert generation.prompt_tokens == 8 and generation.new_tokens == NEW_TOKENS
    rounds = len(device.latency.rounds)
    assert len(generation.tpot_rounds) == rounds == 2
    assert generation.round_numbers == device.latency.round_numbers  # paired with the forward rounds
    assert generation.time_per_output_token.stats.n == rounds * generation.repeats * (NEW_TOKENS - 1)
    assert generation.tpot_median is not None and generation.tpot_median.unit == "ms/token"
    assert generation.tpot_median.low <= generation.tpot_median.estimate <= generation.tpot_median.high

    latency = _check(grade, "with-past", "latency_cpu")
    assert latency.unit == "s/token" and latency.source == "time_per_output_token"
    assert latency.measured == pytest.approx(generation.tpot_median.estimate / 1e3)
    assert latency.interval is not None and latency.interval == generation.tpot_median
    # one model and no baseline claim: the absolute time is shown with its figure, not graded
    assert latency.status is MetricStatus.UNVERIFIABLE and latency.reason_note is not None
    assert m.quality is not None and not m.quality.unmeasured
    assert m.quality.metrics["bleu"] == pytest.approx(expected["bleu"], abs=1e-9)
    assert _check(grade, "with-past", "quality.bleu").status is MetricStatus.REPRODUCED
