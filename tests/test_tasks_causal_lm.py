"""Causal-LM perplexity (sliding windows, masked context, token-weighted NLL) and generation
latency, against a model whose probabilities are known and against transformers' own loss."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_tasks_support import ModuleBackend, make_course, save_bpe_tokenizer, save_config

from grader.harness.backends.base import LoadSpec
from grader.harness.data import load_eval_data
from grader.harness.tasks import TASKS
from grader.harness.tasks.base import EvalData, TaskError
from grader.harness.tasks.causal_lm import CausalLM, sliding_windows

REPO = Path(__file__).resolve().parent.parent
COURSE = make_course(
    {
        "lm-ru": {"task": "causal-lm", "source": {"builtin": "lm-ru"}},
        "lm-en": {"task": "causal-lm", "source": {"builtin": "lm-en"}},
    }
)
GPT_SPECIALS = ["<|endoftext|>", "[UNK]"]


@pytest.fixture(scope="module")
def corpus() -> EvalData:
    return load_eval_data("lm-en", COURSE, REPO)


def lm_folder(root: Path, data: EvalData, **tokenizer_config: object) -> tuple[Path, dict[str, int]]:
    folder = root / "lm"
    texts = [item["text"] for item in data.items]
    config = {"model_max_length": 1024, "eos_token": "<|endoftext|>", **tokenizer_config}
    vocab = save_bpe_tokenizer(
        folder, texts, vocab_size=300, template=False, specials=GPT_SPECIALS, config=config
    )
    return folder, vocab


class Bigram(torch.nn.Module):
    """logits[t] = table[input_ids[t]]: the next token depends on the current one only."""

    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding.from_pretrained(torch.from_numpy(table.astype(np.float32)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)


def test_registered() -> None:
    task = TASKS.load("causal-lm")
    assert (
        task is CausalLM and task.primary == "perplexity" and task.metrics["perplexity"].direction == "lower"
    )


@pytest.mark.parametrize(
    ("n", "length", "stride"), [(10, 4, 3), (10, 4, 2), (11, 4, 3), (2, 8, 7), (100, 16, 5), (7, 7, 1)]
)
def test_every_token_but_the_first_is_predicted_once(n: int, length: int, stride: int) -> None:
    windows = sliding_windows(n, length, stride)
    targets = [t for w in windows for t in range(w.first_target, w.end)]
    assert targets == list(range(1, n))
    assert all(w.end - w.begin <= length and w.first_target > w.begin for w in windows)
    assert all(w.first_target - w.begin >= length - stride for w in windows[1:])  # context kept
    assert windows[-1].end == n


def test_window_edge_cases() -> None:
    assert sliding_windows(1, 8, 4) == [] and sliding_windows(0, 8, 4) == []
    with pytest.raises(ValueError):
        sliding_windows(10, 4, 4)  # no overlap: the first token of each window would lack context


@pytest.mark.parametrize(("max_length", "stride", "batch"), [(64, 64, 1), (64, 16, 4), (300, 100, 2)])
def test_bigram_perplexity_is_exact_whatever_the_windows(
    tmp_path: Path, corpus: EvalData, max_length: int, stride: int, batch: int
) -> None:
    folder, vocab = lm_folder(tmp_path, corpus)
    table = np.random.default_rng(0).normal(0, 2, (len(vocab), len(vocab)))
    ids = CausalLM(folder).encoder.ids("\n\n".join(item["text"] for item in corpus.items))
    shifted = table - table.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected_nll = -sum(log_probs[a, b] for a, b in itertools.pairwise(ids))

    task = CausalLM(folder, {"max_length": max_length, "stride": stride})
    with ModuleBackend(LoadSpec(folder, "module"), Bigram(table), ["input_ids", "attention_mask"]) as backend:
        nll, count = task.negative_log_likelihood(backend, corpus, batch)
        scores = task.evaluate(backend, corpus, batch)
    assert count == len(ids) - 1
    assert nll == pytest.approx(expected_nll, rel=1e-6)
    assert scores["perplexity"] == pytest.approx(math.exp(expected_nll / count), rel=1e-6)
    assert scores["nll"] == pytest.approx(expected_nll / count, rel=1e-6)


def tiny_gpt2(folder: Path, vocab_size: int, positions: int = 128) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_positions=positions, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    return model


def reference_perplexity(model: torch.nn.Module, ids: list[int], max_length: int, stride: int) -> float:
    """Hugging Face's perplexity recipe (labels masked with -100), weighted by predicted tokens."""
    encodings = torch.tensor([ids])
    nll_sum, n_tokens, prev_end = 0.0, 0, 0
    for begin in range(0, encodings.size(1), stride):
        end = min(begin + max_length, encodings.size(1))
        target_length = end - prev_end
        input_ids = encodings[:, begin:end]
        target_ids = input_ids.clone()
        target_ids[:, :-target_length] = -100
        with torch.inference_mode():
            loss = model(input_ids, labels=target_ids).loss
        valid = int((target_ids[:, 1:] != -100).sum())
        nll_sum += float(loss) * valid
        n_tokens += valid
        prev_end = end
        if end == encodings.size(1):
            break
    return math.exp(nll_sum / n_tokens)


def test_tiny_gpt2_through_the_transformers_backend_matches_the_hf_recipe(
    tmp_path: Path, corpus: EvalData
) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    folder, vocab = lm_folder(tmp_path, corpus)
    model = tiny_gpt2(folder, len(vocab), positions=96)
    task = CausalLM(folder, {"max_length": 128, "stride": 48})  # the model's 96 positions cap max_length
    assert task.max_length == 96
    ids = task.encoder.ids("\n\n".join(item["text"] for item in corpus.items))
    expected = reference_perplexity(model, ids, 96, 48)
    with backends.TransformersBackend(LoadSpec(folder, "safetensors", task="causal-lm")) as backend:
        scores = task.evaluate(backend, corpus, batch_size=2)
    assert scores["perplexity"] == pytest.approx(expected, rel=1e-5)
    assert scores["perplexity"] > 100  # a random model is close to uniform over its vocabulary


def test_generation_latency_with_and_without_kv_cache(tmp_path: Path, corpus: EvalData) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    folder, vocab = lm_folder(tmp_path, corpus)
    model = tiny_gpt2(folder, len(vocab))
    params = {"prompt_tokens": 12, "new_tokens": 6}
    prompt = CausalLM(folder, params)._filled_ids(12)
    with torch.inference_mode():
        reference = model.generate(
            torch.from_numpy(prompt[None, :]),
            max_new_tokens=6,
            min_new_tokens=6,
            do_sample=False,
            pad_token_id=0,
        )[0, 12:].tolist()

    with backends.TransformersBackend(LoadSpec(folder, "safetensors", task="causal-lm")) as backend:
        cached = CausalLM(folder, params).generation_latency(backend, repeats=2)
    assert cached.kv_cache and cached.generated == reference
    assert cached.prompt_tokens == 12 and cached.new_tokens == 6
    assert cached.time_to_first_token.stats.n == 2 and cached.time_per_output_token.stats.n == 2 * 5
    assert cached.time_to_first_token.stats.min > 0

    with ModuleBackend(
        LoadSpec(folder, "module"), _LogitsOnly(model), ["input_ids", "attention_mask"]
    ) as backend:
        uncached = CausalLM(folder, params).generation_latency(backend, repeats=1, warmup=0)
    assert not uncached.kv_cache and uncached.generated == reference


class _LogitsOnly(torch.nn.Module):
    """The same GPT-2 behind a plain module: no `.model`, so no KV cache for the task to drive."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.inner = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits


def test_latency_inputs_are_one_full_window(tmp_path: Path, corpus: EvalData) -> None:
    folder, _ = lm_folder(tmp_path, corpus)
    save_config(folder, n_positions=64)
    inputs = CausalLM(folder, {"max_length": 256}).latency_inputs(2, ["input_ids", "attention_mask"])
    assert inputs["input_ids"].shape == (2, 64) and (inputs["attention_mask"] == 1).all()


def test_shipped_corpora_and_too_short_text(tmp_path: Path, corpus: EvalData) -> None:
    ru = load_eval_data("lm-ru", COURSE, REPO)
    assert len(ru.items) == 12 and len(corpus.items) == 12 and ru.labels is None
    folder, vocab = lm_folder(tmp_path, corpus)
    tiny = EvalData("tiny", "sha256:0", [{"text": "a"}])
    table = np.zeros((len(vocab), len(vocab)))
    backend = ModuleBackend(LoadSpec(folder, "module"), Bigram(table), ["input_ids", "attention_mask"])
    with backend, pytest.raises(TaskError, match="shorter than two tokens"):
        CausalLM(folder).evaluate(backend, tiny, 1)
