"""Every quality task end to end through the real harness: a tiny random-init model per task
(tests/task_models.py) saved as safetensors and exported to ONNX, a real manifest in a course
repository, `validate_manifest`, `measure_submission` (real zygote children) and `verify`.

For each task the quality figure the grader reports equals one computed here independently
(transformers' own tokenizers, feature extractors, `generate` and loss; sacreBLEU, seqeval,
jiwer), and the ONNX export scores the same as its checkpoint: classification metrics exactly,
perplexity within 1e-3 relative. Where a backend cannot run part of a task (generation through
onnxruntime, an encoder graph without its decoder) the result says why, as NOT_MEASURABLE; a split
encoder-decoder export (Optimum's layout) scores what its checkpoint scores. A model's
quality figure is the same measured alone and interleaved with its baseline; causal-lm latency
children also time generation, and a `ms/token` claim is checked against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from harness_support import FAST_LATENCY
from private_support import leaked
from split_export import export_split
from task_models import (
    PARAMS,
    TASKS,
    TaskModel,
    build,
    export_openvino,
    has_openvino,
    shipped,
)

from grader.course import load_course
from grader.course.model import Course
from grader.harness.environment import ThreadPlan
from grader.harness.measure import measure_submission
from grader.harness.models import MeasurementRun, ModelMeasurement, Status
from grader.harness.runner import Runner
from grader.validate.document import ValidatedSubmission
from grader.validate.manifest import validate_manifest
from grader.verify import verify
from grader.verify.models import Grade, MetricCheck, MetricStatus

pytestmark = pytest.mark.slow

HOMEWORK = 2
# Items per eval set: the shipped sets, sampled down where a full pass would only cost time.
LIMITS: dict[str, int | None] = {
    "text-classification": 60,
    "token-classification": 40,
    "image-classification": 60,
    "causal-lm": None,  # 12 paragraphs
    "seq2seq": 12,
    "speech-recognition": 8,
}
TEAMS = {task: task.split("-")[0] for task in TASKS}  # text, token, image, causal, seq2seq, speech


def course_data() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": {"ru": "Сквозной тест", "en": "End to end"},
        "language": "en",
        "runner": {
            "devices": ["cpu"],
            "threads": {"intra_op": 1, "inter_op": 1},
            # two rounds, no more: the adaptive rounds have their own tests
            "speed": {"min_rounds": 2, "max_rounds": 2},
            "latency": FAST_LATENCY | {"max_time_s": 0.3},
            "limits": {"phase_timeout_s": 180, "memory_mib": 8192, "artifact_max_mib": 200},
        },
        "tasks": {task: {"dataset": _dataset_id(task), "params": PARAMS[task]} for task in TASKS},
        "datasets": {
            _dataset_id(task): {"task": task, "source": {"builtin": _builtin(task)}}
            | ({"limit": LIMITS[task]} if LIMITS[task] else {})
            for task in TASKS
        },
        "homeworks": [
            {
                "id": HOMEWORK,
                "title": {"ru": "ДЗ", "en": "HW"},
                "methods": ["baseline", "quantization", "export"],
                "required": ["quality"],
                "needs_baseline": False,  # a model measured alone, too
                "scoring": {"rule": "none"},
            }
        ],
        "teams": {team: {"members": [f"{team}-student"]} for team in TEAMS.values()},
    }


_BUILTIN = {
    "text-classification": "sentiment-en",
    "token-classification": "ner-en",
    "image-classification": "digits-test",
    "causal-lm": "lm-en",
    "seq2seq": "translation-en-ru",
    "speech-recognition": "asr-en",
}


def _builtin(task: str) -> str:
    return _BUILTIN[task]


def _dataset_id(task: str) -> str:
    return f"{_builtin(task)}-eval"


@dataclass
class Graded:
    task: str
    model: TaskModel
    validated: ValidatedSubmission
    run: MeasurementRun
    grade: Grade
    reference: dict[str, float]
    validated_entries: list[dict[str, Any]]  # the manifest's entries as written, baseline first

    def measured(self, name: str) -> ModelMeasurement:
        """A model by its name in the manifest: checkpoint, onnx, openvino, int8."""
        return next(m for m in self.run.models if m.name == name)

    def quality(self, name: str) -> dict[str, float]:
        result = self.measured(name).quality
        assert result is not None, self.measured(name).phases
        return result.metrics

    def check(self, name: str, metric: str) -> MetricCheck:
        entry = next(e for e in self.grade.entries if e.name == name)
        return next(c for c in entry.checks if c.metric == metric)

    @property
    def exports(self) -> list[str]:
        """The exported models of this run, each a different runtime: onnx, and openvino if installed."""
        return [m.name for m in self.run.models if m.format != "safetensors"]


# --- the course repository, the runner, the models ---------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course-repo")
    (root / "course.yaml").write_text(yaml.safe_dump(course_data(), allow_unicode=True), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def course(repo: Path) -> Course:
    return load_course(repo / "course.yaml")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, course: Course) -> Iterator[Runner]:
    plan = ThreadPlan.from_course(course.runner.threads)
    with Runner(tmp_path_factory.mktemp("work"), plan.env()) as shared:
        yield shared


def hw_dir(repo: Path, task: str) -> Path:
    return repo / "submissions" / TEAMS[task] / f"hw-{HOMEWORK}"


def submit(
    repo: Path, course: Course, task: str, entries: list[dict[str, Any]], *, baseline: bool = True
) -> ValidatedSubmission:
    """Write the team's manifest (the first entry is the baseline, unless ``baseline`` is False)
    and validate it as `grader validate` does; it must be valid."""
    manifest: dict[str, Any] = {"team": TEAMS[task], "homework": HOMEWORK, "task": task}
    if baseline:
        manifest["baseline"], *entries = entries
    manifest["models"] = entries
    path = hw_dir(repo, task) / "submission.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), encoding="utf-8")
    validated = validate_manifest(path, course, repo)
    errors = [f"{f.location}: {f.code} {f.message}" for f in validated.findings if f.is_error]
    assert validated.ok and not errors, errors
    return validated


def claim(value: float) -> str:
    return f"{value:.4f}"


class _Cache:
    """Each task's models are built and graded once per module, on first use."""

    def __init__(self) -> None:
        self.graded: dict[str, Graded] = {}


@pytest.fixture(scope="module")
def cache() -> _Cache:
    return _Cache()


@pytest.fixture
def graded(cache: _Cache, repo: Path, course: Course, runner: Runner) -> Any:
    def get(task: str) -> Graded:
        if task not in cache.graded:
            cache.graded[task] = grade_task(task, repo, course, runner)
        return cache.graded[task]

    return get


def grade_task(task: str, repo: Path, course: Course, runner: Runner) -> Graded:
    model = build(task, hw_dir(repo, task))
    reference = REFERENCES[task](model, LIMITS[task])
    primary = PRIMARY[task]
    quality = {primary: claim(reference[primary])}
    entries = [
        {"name": "checkpoint", "artifact": {"path": f"{task}/model/"}, "claims": {"quality": quality}},
        {
            "name": "onnx",
            "method": "export",
            "artifact": {"path": f"{task}/onnx/"},
            "format": "onnx",
            "claims": {"quality": quality},
        },
    ]
    if has_openvino():  # the same export as an OpenVINO IR: a third runtime on the same data
        export_openvino(model)
        entries.append(
            {
                "name": "openvino",
                "method": "export",
                "artifact": {"path": f"{task}/openvino/"},
                "format": "openvino",
                "claims": {"quality": quality},
            }
        )
    if task == "causal-lm":  # a second checkpoint that generates with the KV cache: int8 at load time
        entries.append(
            {
                "name": "int8",
                "method": "quantization",
                "artifact": {"path": f"{task}/model/"},
                "transform": "dynamic-int8",
            }
        )
    validated = submit(repo, course, task, entries)
    run = measure_submission(validated, course, repo, cache_dir=repo / ".cache", runner=runner)
    return Graded(task, model, validated, run, verify(run, course), reference, entries)


# --- independent reference computations ---------------------------------------------------------------


PRIMARY = {
    "text-classification": "accuracy",
    "token-classification": "entity_f1",
    "image-classification": "accuracy",
    "causal-lm": "perplexity",
    "seq2seq": "chrf",
    "speech-recognition": "cer",
}


def _fast_tokenizer(folder: Path, pad: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token=pad)


def ref_text_classification(model: TaskModel, limit: int | None) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    data = shipped(model.dataset_id, model.task, limit)
    tokenizer = _fast_tokenizer(model.folder, "[PAD]")
    encoded = tokenizer(
        [item["text"] for item in data.items],
        padding="max_length",
        truncation=True,
        max_length=model.params["max_length"],
        return_tensors="pt",
    )
    with torch.inference_mode():
        predicted = model.load()(**encoded).logits.argmax(-1).tolist()
    truth = [data.labels.index(item["label"]) for item in data.items]
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro", labels=sorted(set(truth) | set(predicted))),
        "mcc": matthews_corrcoef(truth, predicted),
    }


def ref_token_classification(model: TaskModel, limit: int | None) -> dict[str, float]:
    from seqeval.metrics import f1_score

    data = shipped(model.dataset_id, model.task, limit)
    tokenizer = _fast_tokenizer(model.folder, "[PAD]")
    network = model.load()
    predicted = []
    for item in data.items:
        encoded = tokenizer(item["tokens"], is_split_into_words=True, return_tensors="pt")
        with torch.inference_mode():
            classes = network(**encoded).logits[0].argmax(-1).tolist()
        tags, seen = ["O"] * len(item["tokens"]), set()
        for position, word in enumerate(encoded.word_ids()):
            if word is not None and word not in seen:
                seen.add(word)
                tags[word] = network.config.id2label[classes[position]]
        predicted.append(tags)
    truth = [list(item["tags"]) for item in data.items]
    # seqeval's default mode chunks as conlleval does: a stray I- tag starts an entity
    return {"entity_f1": f1_score(truth, predicted)}


def ref_image_classification(model: TaskModel, limit: int | None) -> dict[str, float]:
    data = shipped(model.dataset_id, model.task, limit)
    # preprocessor_config.json: rescale by 1/16, normalise with mean 0.5 and std 0.5, one channel
    pixels = np.stack([(item["image"] / 16.0 - 0.5) / 0.5 for item in data.items])[:, None].astype(np.float32)
    with torch.inference_mode():
        predicted = model.load()(pixel_values=torch.from_numpy(pixels)).logits.argmax(-1).numpy()
    truth = np.array([data.labels.index(item["label"]) for item in data.items])
    return {"accuracy": float((predicted == truth).mean())}


def ref_causal_lm(model: TaskModel, limit: int | None) -> dict[str, float]:
    """Hugging Face's perplexity recipe: labels masked with -100, the loss weighted by targets."""
    data = shipped(model.dataset_id, model.task, limit)
    ids = _fast_tokenizer(model.folder, "<|endoftext|>")("\n\n".join(item["text"] for item in data.items))[
        "input_ids"
    ]
    network = model.load()
    max_length, stride = model.params["max_length"], model.params["stride"]
    encodings = torch.tensor([ids])
    nll_sum, n_tokens, previous_end = 0.0, 0, 0
    for begin in range(0, encodings.size(1), stride):
        end = min(begin + max_length, encodings.size(1))
        target_length = end - previous_end
        inputs = encodings[:, begin:end]
        targets = inputs.clone()
        targets[:, :-target_length] = -100
        with torch.inference_mode():
            loss = network(inputs, labels=targets).loss
        valid = int((targets[:, 1:] != -100).sum())
        nll_sum, n_tokens, previous_end = nll_sum + float(loss) * valid, n_tokens + valid, end
        if end == encodings.size(1):
            break
    return {"perplexity": math.exp(nll_sum / n_tokens), "tokens": float(len(ids))}


def ref_seq2seq(model: TaskModel, limit: int | None) -> dict[str, float]:
    import sacrebleu

    data = shipped(model.dataset_id, model.task, limit)
    tokenizer = _fast_tokenizer(model.folder, "<pad>")
    encoded = tokenizer(
        [item["source"] for item in data.items],
        padding="max_length",
        truncation=True,
        max_length=model.params["max_length"],
        return_tensors="pt",
    )
    with torch.inference_mode():
        generated = model.load().generate(
            **encoded, max_new_tokens=model.params["max_new_tokens"], do_sample=False, num_beams=1
        )
    hypotheses = tokenizer.batch_decode(generated, skip_special_tokens=True)
    references = [[item["target"] for item in data.items]]
    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, references).score / 100,
        "chrf": sacrebleu.corpus_chrf(hypotheses, references).score / 100,
    }


def ref_speech_recognition(model: TaskModel, limit: int | None) -> dict[str, float]:
    import jiwer
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    from grader.harness.metrics import normalize_transcript  # the course's normalisation, by definition

    data = shipped(model.dataset_id, model.task, limit)
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True)
    tokenizer = Wav2Vec2CTCTokenizer(str(model.folder / "vocab.json"), word_delimiter_token="|")
    network = model.load()
    hypotheses = []
    for item in data.items:
        values = extractor(item["audio"]["array"], sampling_rate=16000, return_tensors="pt")["input_values"]
        with torch.inference_mode():
            ids = network(values).logits.argmax(-1)
        text = tokenizer.batch_decode(ids)[0]
        for special in ("<s>", "</s>", "<unk>"):
            text = text.replace(special, "")
        hypotheses.append(normalize_transcript(" ".join(text.split())))
    references = [normalize_transcript(item["text"]) for item in data.items]
    return {"wer": jiwer.wer(references, hypotheses), "cer": jiwer.cer(references, hypotheses)}


REFERENCES = {
    "text-classification": ref_text_classification,
    "token-classification": ref_token_classification,
    "image-classification": ref_image_classification,
    "causal-lm": ref_causal_lm,
    "seq2seq": ref_seq2seq,
    "speech-recognition": ref_speech_recognition,
}


# --- every task, every backend ------------------------------------------------------------------------

BACKEND_OF = {
    "checkpoint": "transformers",
    "int8": "transformers",
    "onnx": "onnxruntime",
    "openvino": "openvino",
}


@pytest.mark.parametrize("task", TASKS)
def test_the_task_runs_end_to_end_on_every_backend(task: str, graded: Any) -> None:
    result: Graded = graded(task)
    assert result.exports[0] == "onnx"
    for m in result.run.models:
        assert m.backend == BACKEND_OF[m.name]
        quality = [p for p in m.phases if p.phase == "quality"]
        assert [p.status for p in quality] == [Status.OK], quality
        assert m.quality is not None and m.quality.task == task and m.quality.dataset == _dataset_id(task)
        assert m.quality.n == (LIMITS[task] or len(shipped(_builtin(task), task).items))
        assert m.quality.visibility == "public" and m.quality.seconds and m.quality.seconds > 0
        cpu = m.devices["cpu"]
        assert cpu.status is Status.OK, cpu.reason
        assert cpu.latency is not None and cpu.memory is not None
    checkpoint = result.measured("checkpoint").quality
    assert checkpoint is not None
    for name in result.exports:
        export = result.measured(name).quality
        assert export is not None
        assert export.dataset_digest == checkpoint.dataset_digest and set(export.metrics) == set(
            checkpoint.metrics
        )


@pytest.mark.parametrize("task", ["text-classification", "token-classification", "image-classification"])
def test_classification_figures_equal_the_reference_on_every_backend(task: str, graded: Any) -> None:
    result: Graded = graded(task)
    checkpoint = result.quality("checkpoint")
    for name in result.exports:
        assert result.quality(name) == checkpoint, name  # the same predictions, item for item
    for name, value in result.reference.items():
        assert checkpoint[name] == pytest.approx(value, abs=1e-12), name
    assert 0.0 <= checkpoint[PRIMARY[task]] <= 1.0
    for name in ("checkpoint", *result.exports):
        assert result.check(name, f"quality.{PRIMARY[task]}").status is MetricStatus.REPRODUCED
    assert result.grade.verdict.value == "pass"


def test_perplexity_equals_the_loss_and_every_export_agrees_within_1e_3(graded: Any) -> None:
    result: Graded = graded("causal-lm")
    checkpoint = result.quality("checkpoint")
    assert checkpoint["perplexity"] == pytest.approx(result.reference["perplexity"], rel=1e-5)
    for name in result.exports:
        assert result.quality(name)["perplexity"] == pytest.approx(checkpoint["perplexity"], rel=1e-3), name
        assert result.check(name, "quality.perplexity").status is MetricStatus.REPRODUCED
    assert math.log(checkpoint["perplexity"]) == pytest.approx(checkpoint["nll"], rel=1e-12)
    assert checkpoint["perplexity"] > 100  # a random model is close to uniform over its vocabulary
    assert result.quality("int8")["perplexity"] != checkpoint["perplexity"]  # really quantized


def test_seq2seq_scores_equal_generate_and_sacrebleu_on_every_backend(graded: Any) -> None:
    result: Graded = graded("seq2seq")
    checkpoint = result.quality("checkpoint")
    assert checkpoint == pytest.approx(result.reference, abs=1e-9)
    for name in result.exports:
        assert result.quality(name) == checkpoint, name  # the same greedy tokens through every graph
    assert checkpoint["chrf"] > 0


def test_speech_error_rates_equal_the_ctc_reference_on_every_backend(graded: Any) -> None:
    """A random CTC model has near-tied frames; float32 summation order (threads, each runtime's
    kernels) can flip a handful of them, so the rates agree to a small tolerance, not bit for bit."""
    result: Graded = graded("speech-recognition")
    checkpoint = result.quality("checkpoint")
    assert checkpoint["wer"] == pytest.approx(result.reference["wer"], rel=2e-3)
    assert checkpoint["cer"] == pytest.approx(result.reference["cer"], rel=2e-3)
    for name in result.exports:
        assert result.quality(name) == pytest.approx(checkpoint, rel=2e-3), name


# --- generation latency (causal-lm) -------------------------------------------------------------------


def test_generation_is_timed_in_the_latency_children_with_the_course_setting(graded: Any) -> None:
    result: Graded = graded("causal-lm")
    for name in ("checkpoint", "int8"):  # the checkpoint and its int8 transform: KV cache
        m = result.measured(name)
        generation = m.devices["cpu"].generation
        assert generation is not None, m.phases
        assert generation.kv_cache and generation.prompt_tokens == 8 and generation.new_tokens == 8
        rounds = sum(1 for entry in result.run.order if entry.startswith(f"{m.key}@cpu#"))
        assert len(generation.ttft_rounds) == len(generation.tpot_rounds) == rounds == 2
        assert generation.time_to_first_token.stats.n == rounds * generation.repeats == 4
        assert generation.time_per_output_token.stats.n == rounds * generation.repeats * 7
        assert generation.time_per_output_token.unit == "ms/token"
        assert generation.time_per_output_token.stats.median > 0
        assert generation.noise_cv is not None
        figures = next(e for e in result.grade.entries if e.name == name).measured.generation["cpu"]
        assert generation.tpot_median is not None  # the rounds' estimate, the figure checks judge
        assert figures.status == "ok" and figures.tpot_s == pytest.approx(
            generation.tpot_median.estimate / 1e3
        )


def test_generation_without_a_kv_cache_is_not_measurable_and_says_why(graded: Any) -> None:
    result: Graded = graded("causal-lm")
    for name in result.exports:
        m = result.measured(name)
        assert m.status is Status.OK and m.devices["cpu"].status is Status.OK  # the rest stands
        assert m.devices["cpu"].generation is None and m.devices["cpu"].latency is not None
        (phase,) = [p for p in m.phases if p.phase == "generation"]
        assert phase.status is Status.NOT_MEASURABLE and phase.device == "cpu"
        assert f"the {m.backend} backend" in phase.reason and "without a KV cache" in phase.reason
        figures = next(e for e in result.grade.entries if e.name == name).measured.generation["cpu"]
        assert figures.status == "not_measurable" and "KV cache" in figures.reason
    for task in ("text-classification", "image-classification"):  # no generation where none is asked
        assert all(dm.generation is None for m in graded(task).run.models for dm in m.devices.values())


def test_a_per_token_claim_is_checked_against_time_per_output_token(
    graded: Any, repo: Path, course: Course
) -> None:
    """One rule for absolute times: a speed-up between the baseline's claim and the model's, here in
    ms/token against the measured medians of time per output token."""
    result: Graded = graded("causal-lm")
    tpot = {}
    for name in ("checkpoint", "int8"):
        generation = result.measured(name).devices["cpu"].generation
        assert generation is not None
        assert generation.tpot_median is not None
        tpot[name] = generation.tpot_median.estimate  # the rounds' estimate, as the checks read it
    int8_generation = result.measured("int8").devices["cpu"].generation
    assert int8_generation is not None and int8_generation.tpot_speedup is not None
    speedup = int8_generation.tpot_speedup.estimate  # paired by round
    keys = {m.name: m.key for m in result.run.models}
    manifest = [dict(e) for e in result.validated_entries]
    claims = {"checkpoint": "40 ms/token", "onnx": "10 ms/token", "int8": f"{40 / speedup:.4f} ms/token"}
    for entry in manifest:
        entry["claims"] = {"latency_cpu": claims[entry["name"]]} if entry["name"] in claims else {}
    grade = verify(
        result.run.model_copy(update={"submission": submit(repo, course, "causal-lm", manifest)}), course
    )

    def check(name: str) -> MetricCheck:
        entry = next(e for e in grade.entries if e.key == keys[name])
        return next(c for c in entry.checks if c.metric == "latency_cpu")

    base, onnx, int8 = check("checkpoint"), check("onnx"), check("int8")
    assert base.status is MetricStatus.UNVERIFIABLE and base.unit == "s/token"
    assert base.measured == pytest.approx(tpot["checkpoint"] / 1e3)
    # two rounds (this course's fixed count) give a wide interval: never off for the measured ratio
    assert int8.status in (MetricStatus.REPRODUCED, MetricStatus.INCONCLUSIVE) and int8.compared == "speedup"
    assert int8.interval is not None and int8.interval.low <= speedup <= int8.interval.high
    assert int8.measured_speedup == pytest.approx(speedup)
    assert int8.claimed_speedup == pytest.approx(speedup, rel=1e-3)
    assert int8.source == "time_per_output_token"
    assert onnx.status is MetricStatus.NOT_MEASURABLE and "KV cache" in onnx.reason
    # a baseline claimed per item and a model per token: no speed-up can be formed
    manifest[0]["claims"] = {"latency_cpu": "40 ms"}
    mixed = submit(repo, course, "causal-lm", manifest)
    regraded = verify(result.run.model_copy(update={"submission": mixed}), course)
    entry = next(e for e in regraded.entries if e.key == keys["int8"])
    mixed_check = next(c for c in entry.checks if c.metric == "latency_cpu")
    assert mixed_check.status is MetricStatus.UNVERIFIABLE
    assert mixed_check.reason_note is not None and mixed_check.reason_note.key == "reason.baseline_per_item"


# --- alone or interleaved: the same quality ---------------------------------------------------------------


@pytest.mark.parametrize("task", ["causal-lm", "text-classification"])
def test_quality_is_the_same_measured_alone_or_interleaved(
    task: str, graded: Any, repo: Path, course: Course, runner: Runner
) -> None:
    result: Graded = graded(task)
    alone = [
        {"name": "checkpoint", "artifact": {"path": f"{task}/model/"}},
        {"name": "onnx", "method": "export", "artifact": {"path": f"{task}/onnx/"}, "format": "onnx"},
    ]
    for entry in alone:
        validated = submit(repo, course, task, [entry], baseline=False)
        run = measure_submission(validated, course, repo, cache_dir=repo / ".cache", runner=runner)
        assert run.order == ["models[0]@cpu#1", "models[0]@cpu#2"]  # nothing to interleave with
        quality, interleaved = run.models[0].quality, result.measured(entry["name"]).quality
        assert quality is not None and interleaved is not None
        assert quality.metrics == interleaved.metrics  # bit for bit
        assert quality.dataset_digest == interleaved.dataset_digest
    assert len(result.run.order) > 2  # the first run did interleave: A B A B


# --- what a backend cannot run says why --------------------------------------------------------------------


def test_a_split_encoder_decoder_export_is_graded_end_to_end(
    graded: Any, repo: Path, course: Course, runner: Runner
) -> None:
    """Optimum's layout (encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx) is
    validated and measured through onnxruntime sessions of its graphs, and scores what its
    checkpoint scores; a decoder pointed at alone is refused at validation (A022), an encoder alone
    is NOT_MEASURABLE with how to export instead; never a crash, never a silent gap."""
    result: Graded = graded("seq2seq")
    split = hw_dir(repo, "seq2seq") / "split"
    export_split(result.model.load(), result.model.folder, split, audio=False, with_past=True)
    checkpoint = {"name": "checkpoint", "artifact": {"path": "seq2seq/model/"}}

    def entry(name: str, path: str) -> dict[str, Any]:
        return {"name": name, "method": "export", "artifact": {"path": path}, "format": "onnx"}

    path = hw_dir(repo, "seq2seq") / "submission.yaml"
    manifest = {"team": TEAMS["seq2seq"], "homework": HOMEWORK, "task": "seq2seq", "baseline": checkpoint}
    lone = manifest | {"models": [entry("decoder", "split/decoder_model.onnx")]}
    path.write_text(yaml.safe_dump(lone, sort_keys=False), encoding="utf-8")
    refused = validate_manifest(path, course, repo)
    (finding,) = [f for f in refused.findings if f.is_error]
    assert finding.code == "A022" and "`path: split/`" in finding.message
    assert "optimum-cli export onnx" in finding.hint and finding.location.line is not None

    entries = [checkpoint, entry("split", "split/"), entry("encoder", "split/encoder_model.onnx")]
    run = measure_submission(
        submit(repo, course, "seq2seq", entries), course, repo, cache_dir=repo / ".cache", runner=runner
    )
    baseline, whole, encoder = (run.model(k) for k in ("baseline", "models[0]", "models[1]"))
    assert baseline is not None and baseline.status is Status.OK and baseline.quality is not None
    assert whole is not None and whole.status is Status.OK, whole and whole.phases
    assert whole.quality is not None and whole.quality.metrics == baseline.quality.metrics
    cpu, graphs = (
        whole.devices["cpu"],
        ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"),
    )
    assert cpu.latency is not None and cpu.memory is not None and cpu.load is not None
    assert any("later tokens decoded from past key values" in note for note in cpu.load.notes)
    assert cpu.load.as_run_bytes == sum(_initializer_bytes(split / name) for name in graphs)  # every session
    assert whole.size is not None
    assert whole.size.weights_bytes == sum((split / name).stat().st_size for name in graphs)  # all graphs
    assert encoder is not None and encoder.status is Status.NOT_MEASURABLE and encoder.quality is None
    (quality,) = [p for p in encoder.phases if p.phase == "quality"]
    assert quality.status is Status.NOT_MEASURABLE
    assert "takes no decoder_input_ids" in quality.reason and "optimum-cli" in quality.reason
    grade = verify(run, course)
    (entry_grade,) = [e for e in grade.entries if e.key == "models[1]"]
    check = next(c for c in entry_grade.checks if c.metric.startswith("quality."))
    assert check.status is MetricStatus.NOT_MEASURABLE and "optimum-cli" in check.reason


def _initializer_bytes(path: Path) -> int:
    import onnx
    from onnx import numpy_helper

    return sum(numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer)


# --- private eval sets through the real harness -------------------------------------------------------------


def test_a_private_eval_set_is_measured_and_withheld_until_the_deadline(
    graded: Any, repo: Path, course: Course, runner: Runner
) -> None:
    from grader.report import render_check_run, render_comment, render_summary

    task = "text-classification"
    result: Graded = graded(task)
    data = course_data()
    data["datasets"]["hidden"] = {
        "task": task,
        "source": {"builtin": "sentiment-ru"},  # a different set: different figures
        "labels": ["negative", "neutral", "positive"],
        "limit": 30,
        "visibility": "private",
    }
    deadline = datetime.now(UTC) + timedelta(days=7)
    data["homeworks"][0] |= {"private_eval": "hidden", "deadline": deadline.isoformat()}
    private_course = Course.model_validate(data)
    run = measure_submission(result.validated, private_course, repo, cache_dir=repo / ".cache", runner=runner)
    base = run.model("baseline")
    assert base is not None and base.quality is not None and base.private_quality is not None
    assert base.private_quality.dataset == "hidden" and base.private_quality.visibility == "private"
    assert base.private_quality.n == 30 and base.quality.metrics == result.quality("checkpoint")
    public = verify(run, private_course)
    assert public.withheld == ["hidden"] and not public.instructor_only
    assert all(not e.measured.private_quality for e in public.entries)
    texts = [
        public.to_json(),
        render_comment(public, "en"),
        render_comment(public, "ru"),
        render_summary(public, "en"),
    ]
    texts += list(render_check_run(public, "en"))
    assert leaked(run, texts) == []
    assert "hidden" in render_comment(public, "en")  # the comment says a private set exists

    instructors = verify(run, private_course, include_private=True)
    assert instructors.instructor_only and instructors.withheld == []
    assert (
        next(e for e in instructors.entries if e.is_baseline).measured.private_quality
        == base.private_quality.metrics
    )
    after = verify(run, private_course, now=deadline + timedelta(seconds=1))
    assert after.withheld == [] and next(e for e in after.entries if e.is_baseline).measured.private_quality
