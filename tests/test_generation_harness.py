"""Generation latency in the harness, piece by piece (the end-to-end run with real children is in
tests/test_tasks_end_to_end.py): which submissions time it, when the task refuses and why, how a
latency child reports a generation that breaks, and how the rounds are merged and gated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_tasks_support import ModuleBackend, save_bpe_tokenizer, save_config

from grader.course.model import Course
from grader.harness.backends.base import LoadSpec
from grader.harness.child import _generation
from grader.harness.jobs import ChildReport, GenerationReport, TimingReport
from grader.harness.measure import _generation_result, _Model, _times_generation
from grader.harness.models import ModelMeasurement, Status
from grader.harness.runner import ChildOutcome
from grader.harness.tasks.causal_lm import CausalLM


def lm_folder(root: Path, positions: int = 64) -> Path:
    folder = root / "lm"
    texts = ["the river runs past the old mill and the bakery opens at seven"] * 4
    config = {"model_max_length": 1024, "eos_token": "<|endoftext|>"}
    save_bpe_tokenizer(
        folder, texts, vocab_size=80, template=False, specials=["<|endoftext|>"], config=config
    )
    save_config(folder, n_positions=positions)
    return folder


class Logits(torch.nn.Module):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros((*input_ids.shape, 80))


@pytest.mark.parametrize(
    ("task", "params", "expected"),
    [
        ("causal-lm", {}, True),  # the task's defaults: 32 new tokens
        ("causal-lm", {"new_tokens": 0}, False),  # the course turned it off
        ("text-classification", {}, False),  # nothing generates
        ("no-such-task", {}, False),
    ],
)
def test_which_submissions_time_generation(task: str, params: dict[str, Any], expected: bool) -> None:
    assert _times_generation(task, params) is expected


def test_the_task_says_why_it_does_not_time_generation(tmp_path: Path) -> None:
    folder = lm_folder(tmp_path)
    with ModuleBackend(LoadSpec(folder, "module"), Logits(), ["input_ids", "attention_mask"]) as backend:
        no_cache = CausalLM(folder, {"prompt_tokens": 8, "new_tokens": 8}).generation_unsupported(backend)
        too_long = CausalLM(folder, {"prompt_tokens": 40, "new_tokens": 32}).generation_unsupported(backend)
        one_token = CausalLM(folder, {"prompt_tokens": 8, "new_tokens": 1}).generation_unsupported(backend)
    assert no_cache is not None and "module backend" in no_cache and "KV cache" in no_cache
    assert too_long is not None and "40 prompt + 32 new tokens" in too_long and "64 positions" in too_long
    assert one_token is not None and "at least 2 new tokens" in one_token


class _BrokenGeneration:
    """A task whose generation itself raises (the model is fine for the forward latency)."""

    params = {"generation_repeats": 2}

    def generation_unsupported(self, backend: Any) -> None:
        return None

    def generation_latency(self, backend: Any, repeats: int) -> Any:
        raise RuntimeError("cache layout not understood")


def test_a_generation_that_breaks_is_reported_not_raised(tmp_path: Path) -> None:
    folder = lm_folder(tmp_path)
    report = ChildReport(ok=True, pid=1)
    with ModuleBackend(LoadSpec(folder, "module"), Logits(), ["input_ids", "attention_mask"]) as backend:
        _generation(_BrokenGeneration(), backend, report)
        assert report.generation is None and report.generation_error_kind == "failed"
        assert report.generation_error == "RuntimeError: cache layout not understood"
        refused = ChildReport(ok=True, pid=1)
        _generation(CausalLM(folder, {"prompt_tokens": 8, "new_tokens": 8}), backend, refused)
    assert refused.generation_error_kind == "not_measurable" and "KV cache" in refused.generation_error


def _outcome(generation: GenerationReport | None, error: str = "") -> ChildOutcome:
    timing = TimingReport(
        samples_ms=[1.0, 1.1, 0.9],
        warmup_iters=3,
        warmup_s=0.1,
        warmup_converged=True,
        stable=True,
        stop_reason="stable",
        timer="perf_counter",
        measure_s=0.1,
    )
    report = ChildReport(ok=True, pid=1, timing=timing, generation=generation)
    if error:
        report.generation_error_kind, report.generation_error = "not_measurable", error
    return ChildOutcome(id="x", status=Status.OK, reason="", report=report, exit=None)


def _round(ttft: list[float], tpot: list[float]) -> GenerationReport:
    return GenerationReport(
        prompt_tokens=8,
        new_tokens=4,
        kv_cache=True,
        repeats=len(ttft),
        ttft_ms=ttft,
        tpot_ms=tpot,
        seconds=0.1,
    )


def _context() -> Any:
    from grader.harness.measure import _Context

    course = Course.model_validate(
        {
            "name": {"ru": "Т", "en": "T"},
            "homeworks": [{"id": 1, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["baseline"]}],
        }
    )
    return _Context(
        course=course,
        repo_root=Path(),
        task="causal-lm",
        dataset_id=None,
        params={},
        devices=["cpu"],
        plan=None,  # type: ignore[arg-type]
        limits=None,  # type: ignore[arg-type]
        generation=True,
    )


def _model(outcomes: list[ChildOutcome]) -> _Model:
    measurement = ModelMeasurement(
        key="baseline",
        name="m",
        role="baseline",
        backend="transformers",
        format="safetensors",
        status=Status.OK,
    )
    model = _Model(entry=None, measurement=measurement)  # type: ignore[arg-type]
    model.latency["cpu"] = outcomes
    model.round_numbers["cpu"] = list(range(1, len(outcomes) + 1))
    return model


def test_the_rounds_are_merged_like_the_forward_latency() -> None:
    rounds = [
        _round([5.0, 5.2], [1.0, 1.1, 1.0, 1.2, 1.0, 1.1]),
        _round([5.1, 5.0], [1.0, 1.0, 1.1, 1.1, 1.0, 1.0]),
    ]
    model = _model([_outcome(r) for r in rounds])
    result = _generation_result(model, "cpu", _context(), None)
    assert result is not None and result.kv_cache and result.repeats == 2
    assert result.time_to_first_token.values == [5.0, 5.2, 5.1, 5.0]
    assert result.time_per_output_token.stats.n == 12 and result.time_per_output_token.unit == "ms/token"
    assert [r.n for r in result.tpot_rounds] == [6, 6] and len(result.ttft_rounds) == 2
    assert result.time_per_output_token.stats.median == pytest.approx(
        float(np.median(rounds[0].tpot_ms + rounds[1].tpot_ms))
    )
    assert not [p for p in model.measurement.phases if p.phase == "generation"]


def test_the_per_token_rounds_give_an_interval_and_no_gate() -> None:
    scattered = _model([_outcome(_round([5.0], [1.0, 1.0, 1.0])), _outcome(_round([5.0], [3.0, 3.0, 3.0]))])
    result = _generation_result(scattered, "cpu", _context(), None)
    assert result is not None and not scattered.measurement.phases  # shown with its interval, no verdict here
    assert result.tpot_median is not None and result.tpot_median.rounds == 2
    assert result.tpot_median.low < 1.0 < 3.0 < result.tpot_median.high  # two far-apart rounds: wide
    assert result.tpot_speedup is None  # a baseline has nothing to be faster than


def test_a_refusal_is_said_once() -> None:
    refused = _model([_outcome(None, "no KV cache"), _outcome(None, "no KV cache")])
    assert _generation_result(refused, "cpu", _context(), None) is None
    (phase,) = refused.measurement.phases
    assert phase.status is Status.NOT_MEASURABLE and phase.reason == "no KV cache" and phase.device == "cpu"
