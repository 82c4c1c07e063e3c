"""causal-lm's answer quality: BLEU and chrF of greedy answers to the course's prompt set.

A tiny random-init Llama (tests/task_models.py) answers the questions of a prompt set through the
task, on the transformers backend (its KV cache), an ONNX export without a cache and an ONNX export
with one (past_key_values.N.* in, present.N.* out), and the first export as an OpenVINO IR where
OpenVINO is installed; the answers are the same on every one, and BLEU / chrF equal sacreBLEU's
corpus scores of answers made here by transformers' own `generate`.
Validation accepts a bleu claim where the course names a prompt set (no M011) and refuses it, at
its line, where it does not (M018); measure + verify check a bleu claim against the measured value.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sacrebleu
import torch
import yaml
from harness_support import FAST_LATENCY
from task_models import PARAMS, TaskModel, build, export_openvino, has_openvino, shipped

from grader.course import load_course
from grader.harness.backends.base import LoadSpec
from grader.harness.backends.onnxruntime import OnnxRuntimeBackend
from grader.harness.backends.transformers import TransformersBackend
from grader.harness.measure import measure_submission
from grader.harness.tasks.causal_lm import CausalLM
from grader.validate.manifest import validate_manifest
from grader.verify import verify
from grader.verify.models import MetricStatus

TEMPLATE = "Q: {question}\nA:"
MAX_NEW = 10
QUESTIONS = 6


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TaskModel:
    return build("causal-lm", tmp_path_factory.mktemp("tiny"))


def reference_answers(model: TaskModel, questions: list[str]) -> list[str]:
    """Greedy answers by transformers' `generate` and tokenizer, cut at the first line break."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(model.folder / "tokenizer.json"))
    lm = model.load()
    eos = lm.generation_config.eos_token_id
    out = []
    for question in questions:
        ids = torch.tensor([tokenizer(TEMPLATE.replace("{question}", question))["input_ids"]])
        with torch.no_grad():
            sequence = lm.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW, do_sample=False,
                eos_token_id=eos, pad_token_id=eos,
            )[0, ids.shape[1] :].tolist()  # fmt: skip
        if eos in sequence:
            sequence = sequence[: sequence.index(eos)]
        out.append(tokenizer.decode(sequence, skip_special_tokens=True).split("\n", 1)[0].strip())
    return out


@pytest.fixture(scope="module")
def prompts(model: TaskModel) -> list[dict[str, str]]:
    """Questions of the shipped qa-en with references that share words with the model's answers
    (a random model's answers share none with the shipped references, and BLEU would be 0 on both
    sides of the comparison)."""
    items = shipped("qa-en", "causal-lm").items[:QUESTIONS]
    answers = reference_answers(model, [item["question"] for item in items])
    assert any(len(a.split()) >= 4 for a in answers), answers  # n-grams to match
    return [
        {
            "question": item["question"],
            "answer": " ".join([*a.split()[: max(1, len(a.split()) * 2 // 3)], "it"]),
        }
        for item, a in zip(items, answers, strict=True)
    ]


def _task(model: TaskModel) -> CausalLM:
    return CausalLM(
        model.folder, {**PARAMS["causal-lm"], "prompt_template": TEMPLATE, "max_new_tokens": MAX_NEW}
    )


def export_with_cache(model: TaskModel, target: Path, *, presents: bool = True) -> Path:
    """The checkpoint as an ONNX decoder that takes and returns its KV cache, named as optimum
    names them (the task feeds an empty cache first, then each step's presents); with
    ``presents=False`` one that takes a cache and returns only its logits (it scores a window, but
    no loop can carry its cache from one step to the next)."""
    from transformers import DynamicCache

    lm = model.load()
    layers = lm.config.num_hidden_layers
    head = lm.config.hidden_size // lm.config.num_attention_heads

    class WithPast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lm = lm

        def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, *past: Any) -> Any:
            cache = DynamicCache()
            for layer in range(layers):
                cache.update(past[2 * layer], past[2 * layer + 1], layer)
            out = self.lm(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
            )
            cached = [t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)]
            return (out.logits, *cached) if presents else out.logits

    kinds = [f"{layer}.{kind}" for layer in range(layers) for kind in ("key", "value")]
    past_names = [f"past_key_values.{k}" for k in kinds]
    present_names = [f"present.{k}" for k in kinds] if presents else []
    ids = torch.tensor([[3, 4, 5]])
    past = [torch.zeros(1, lm.config.num_key_value_heads, 2, head) for _ in kinds]
    axes: dict[str, dict[int, str]] = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "total"},
        "position_ids": {0: "batch", 1: "sequence"},
        "logits": {0: "batch", 1: "sequence"},
    }
    axes |= {name: {0: "batch", 2: "past"} for name in past_names}
    axes |= {name: {0: "batch", 2: "total"} for name in present_names}
    target.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            WithPast().eval(),
            (ids, torch.ones(1, 5, dtype=torch.int64), torch.tensor([[2, 3, 4]]), *past),
            str(target / "model.onnx"),
            input_names=["input_ids", "attention_mask", "position_ids", *past_names],
            output_names=["logits", *present_names],
            dynamic_axes=axes,
            dynamo=False,
        )
    for path in model.onnx.iterdir():
        if path.suffix != ".onnx":
            (target / path.name).write_bytes(path.read_bytes())
    return target


def test_answers_agree_across_backends_and_scores_equal_sacrebleu(
    model: TaskModel, prompts: list[dict[str, str]], tmp_path: Path
) -> None:
    task = _task(model)
    questions = [p["question"] for p in prompts]
    references = [p["answer"] for p in prompts]
    expected = reference_answers(model, questions)
    with_cache = export_with_cache(model, tmp_path / "with-past")

    with TransformersBackend(LoadSpec(model.folder, "safetensors", task="causal-lm")) as backend:
        assert backend.kv_cache_model() is not None  # the cached loop
        by_transformers = task.answers(backend, questions)
    with OnnxRuntimeBackend(LoadSpec(model.onnx, "onnx")) as backend:
        assert not any(name.startswith("past_key_values") for name in backend.input_names())
        by_onnx = task.answers(backend, questions)
    with OnnxRuntimeBackend(LoadSpec(with_cache, "onnx")) as backend:
        assert "past_key_values.0.key" in backend.input_names()
        by_onnx_cache = task.answers(backend, questions)
        scores = task.answer_scores(backend, _eval_data(prompts))

    assert by_transformers == expected
    assert by_onnx == expected
    assert by_onnx_cache == expected
    if has_openvino():  # the export without a cache as an OpenVINO IR: the same forward-pass loop
        from grader.harness.backends.openvino import OpenVinoBackend

        with OpenVinoBackend(LoadSpec(export_openvino(model), "openvino")) as backend:
            assert task.answers(backend, questions) == expected
    assert scores["bleu"] > 0.05  # the references share n-grams with the answers: not a 0 == 0 check
    assert scores["bleu"] * 100 == pytest.approx(
        sacrebleu.corpus_bleu(expected, [references]).score, abs=1e-9
    )
    assert scores["chrf"] * 100 == pytest.approx(
        sacrebleu.corpus_chrf(expected, [references]).score, abs=1e-9
    )


def test_a_text_set_given_as_the_prompt_set_is_a_located_error(model: TaskModel) -> None:
    from grader.harness.tasks.base import TaskError

    lm_text = shipped("lm-en", "causal-lm", limit=2)
    with (
        OnnxRuntimeBackend(LoadSpec(model.onnx, "onnx")) as backend,
        pytest.raises(TaskError) as caught,
    ):
        _task(model).answer_scores(backend, lm_text)
    finding = caught.value.findings[0]
    assert finding.code == "E005"
    assert "question / answer" in finding.message and "prompts" in finding.hint


def _eval_data(prompts: list[dict[str, str]]) -> Any:
    from grader.harness.data import eval_digest
    from grader.harness.tasks.base import EvalData

    return EvalData("qa", eval_digest(prompts, None), list(prompts))


# --- validation, measure and verify ----------------------------------------------------------------


def _course(root: Path, *, prompts: bool) -> Path:
    params = {**PARAMS["causal-lm"], "new_tokens": 0, "prompt_template": TEMPLATE, "max_new_tokens": MAX_NEW}
    if prompts:
        params["prompts"] = "qa"
    data = {
        "schema_version": 1,
        "name": {"ru": "Ответы", "en": "Answers"},
        "language": "en",
        "runner": {
            "devices": ["cpu"],
            "threads": {"intra_op": 1, "inter_op": 1},
            "speed": {"min_rounds": 2, "max_rounds": 2},
            "latency": FAST_LATENCY | {"max_time_s": 0.2},
            "limits": {"phase_timeout_s": 180, "memory_mib": 8192, "artifact_max_mib": 200},
        },
        "tasks": {"causal-lm": {"dataset": "lm", "params": params}},
        "datasets": {
            "lm": {"task": "causal-lm", "source": {"builtin": "lm-en"}, "limit": 2},
            "qa": {"task": "causal-lm", "source": {"path": "qa.jsonl"}},
        },
        "homeworks": [
            {"id": 1, "title": {"ru": "Один", "en": "One"}, "methods": ["export"], "needs_baseline": False}
        ],
        "teams": {"causal": {"members": ["student"]}},
    }
    (root / "course.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return root / "course.yaml"


def _manifest(root: Path, model: TaskModel, quality: dict[str, str]) -> Path:
    """One model, the checkpoint's ONNX export (one measurement child per phase), claiming ``quality``."""
    folder = root / "submissions" / "causal" / "hw-1"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "onnx").exists():
        shutil.copytree(model.onnx, folder / "onnx")
    text = (
        "team: causal\nhomework: 1\ntask: causal-lm\nmodels:\n"
        "  - name: onnx\n    method: export\n    format: onnx\n    artifact: {path: onnx/}\n"
        "    claims:\n      quality:\n" + "".join(f"        {k}: {v}\n" for k, v in quality.items())
    )
    (folder / "submission.yaml").write_text(text, encoding="utf-8")
    return folder / "submission.yaml"


def _write_prompts(root: Path, prompts: list[dict[str, str]]) -> None:
    lines = [json.dumps(p, ensure_ascii=False) for p in prompts]
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_bleu_claim_without_a_prompt_set_is_refused_at_its_line(
    model: TaskModel, prompts: list[dict[str, str]], tmp_path: Path
) -> None:
    _write_prompts(tmp_path, prompts)
    course = load_course(_course(tmp_path, prompts=False))
    path = _manifest(tmp_path, model, {"perplexity": "300", "bleu": "0.2"})
    findings = validate_manifest(path, course, tmp_path).findings
    assert not [f for f in findings if f.code == "M011"]
    (refused,) = [f for f in findings if f.code == "M018"]
    assert refused.is_error and refused.location.line == 12 and "prompts" in refused.hint


def test_measure_and_verify_check_a_bleu_claim(
    model: TaskModel, prompts: list[dict[str, str]], tmp_path: Path
) -> None:
    _write_prompts(tmp_path, prompts)
    course = load_course(_course(tmp_path, prompts=True))
    expected = reference_answers(model, [p["question"] for p in prompts])
    references = [p["answer"] for p in prompts]
    bleu = sacrebleu.corpus_bleu(expected, [references]).score / 100
    chrf = sacrebleu.corpus_chrf(expected, [references]).score / 100
    path = _manifest(tmp_path, model, {"bleu": f"{bleu:.4f}", "chrf": f"{chrf / 2:.4f}"})
    validated = validate_manifest(path, course, tmp_path)
    assert validated.ok, [f for f in validated.findings if f.is_error]
    run = measure_submission(validated, course, tmp_path, cache_dir=tmp_path / ".cache")
    (measured,) = run.models
    assert measured.quality is not None, measured.phases
    # perplexity on the eval set and BLEU / chrF on the prompt set, in one grading
    assert set(measured.quality.metrics) == {"perplexity", "nll", "bleu", "chrf"}
    assert np.isfinite(measured.quality.metrics["perplexity"])
    assert measured.quality.metrics["bleu"] == pytest.approx(bleu, abs=1e-9)
    assert measured.quality.metrics["chrf"] == pytest.approx(chrf, abs=1e-9)
    checks = {c.metric: c for c in verify(run, course).entries[0].checks}
    assert checks["quality.bleu"].status == MetricStatus.REPRODUCED
    assert checks["quality.chrf"].status == MetricStatus.OFF  # claimed at half the measured value


def test_the_prompt_set_must_be_a_public_dataset_of_the_task(model: TaskModel, tmp_path: Path) -> None:
    from grader.validate.course_checks import validate_course_file

    course_path = _course(tmp_path, prompts=True)
    data = yaml.safe_load(course_path.read_text(encoding="utf-8"))
    data["tasks"]["causal-lm"]["allowed_overrides"] = ["prompts"]
    secret = {"task": "causal-lm", "source": {"path": "qa.jsonl"}, "visibility": "private"}
    data["datasets"]["secret"] = secret
    course_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    course = load_course(course_path)
    path = _manifest(tmp_path, model, {"bleu": "0.2"})
    text = path.read_text(encoding="utf-8").replace("models:\n", "params: {prompts: secret}\nmodels:\n")
    path.write_text(text, encoding="utf-8")
    (refused,) = [f for f in validate_manifest(path, course, tmp_path).findings if f.code == "M006"]
    assert refused.location.line == 4 and "qa" in refused.expected and "secret" not in refused.expected

    data["tasks"]["causal-lm"]["params"]["prompts"] = "qaa"
    course_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _, findings = validate_course_file(course_path)
    (wrong,) = [f for f in findings if f.code == "C003"]
    assert wrong.location.field == "tasks.causal-lm.params.prompts" and "did you mean 'qa'" in wrong.hint
