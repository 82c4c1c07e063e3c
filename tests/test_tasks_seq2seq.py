"""Seq2seq: greedy decoding through the backend contract, BLEU/chrF against sacreBLEU, and a tiny
T5 through the transformers backend against transformers' own `generate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_tasks_support import (
    ModuleBackend,
    hf_tokenizer,
    make_course,
    save_bpe_tokenizer,
    save_config,
    save_word_tokenizer,
    tiny_t5,
)

from grader.harness.backends.base import LoadSpec
from grader.harness.data import load_eval_data
from grader.harness.tasks import TASKS
from grader.harness.tasks.base import EvalData, TaskError
from grader.harness.tasks.seq2seq import Seq2Seq

REPO = Path(__file__).resolve().parent.parent
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
SOURCES = [
    "alpha beta",
    "gamma",
    "delta epsilon zeta eta",
    "theta alpha gamma",
    "beta",
    "zeta zeta eta",
    "alpha",
]


class Echo(torch.nn.Module):
    """Decoder position t predicts source token t; the source's [SEP] (or padding) becomes EOS."""

    def __init__(self, vocab: dict[str, int]) -> None:
        super().__init__()
        self.size, self.sep, self.pad = len(vocab), vocab["[SEP]"], vocab["[PAD]"]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, decoder_input_ids: torch.Tensor
    ) -> torch.Tensor:
        steps = decoder_input_ids.shape[1]
        source = input_ids[:, 1:]  # drop [CLS]
        if source.shape[1] < steps:
            source = torch.nn.functional.pad(source, (0, steps - source.shape[1]), value=self.pad)
        following = source[:, :steps]
        following = torch.where((following == self.sep) | (following == self.pad), self.sep, following)
        return torch.nn.functional.one_hot(following, self.size).float()


def echo_folder(tmp_path: Path, **generation: object) -> tuple[Path, dict[str, int]]:
    folder = tmp_path / "echo"
    vocab = save_word_tokenizer(folder, WORDS)
    save_config(
        folder,
        decoder_start_token_id=vocab["[CLS]"],
        eos_token_id=vocab["[SEP]"],
        pad_token_id=vocab["[PAD]"],
    )
    if generation:
        (folder / "generation_config.json").write_text(json.dumps(generation), encoding="utf-8")
    return folder, vocab


def dataset(targets: list[str]) -> EvalData:
    return EvalData(
        "pairs", "sha256:0", [{"source": s, "target": t} for s, t in zip(SOURCES, targets, strict=True)]
    )


def run(
    folder: Path, vocab: dict[str, int], data: EvalData, params: dict | None = None, batch: int = 3
) -> tuple:
    task = Seq2Seq(folder, params)
    names = ["input_ids", "attention_mask", "decoder_input_ids"]
    with ModuleBackend(LoadSpec(folder, "module"), Echo(vocab), names) as backend:
        hypotheses = task.generate(backend, [item["source"] for item in data.items], batch)
        scores = task.evaluate(backend, data, batch)
    return hypotheses, scores


def test_registered() -> None:
    task = TASKS.load("seq2seq")
    assert task is Seq2Seq and task.primary == "bleu" and task.metrics["chrf"].bounded


def test_echo_reproduces_the_sources_and_scores_one(tmp_path: Path) -> None:
    folder, vocab = echo_folder(tmp_path)
    hypotheses, scores = run(folder, vocab, dataset(SOURCES))
    assert (
        hypotheses == SOURCES
    )  # rows of different lengths end at their own EOS; the last batch is filled up
    assert scores == pytest.approx({"bleu": 1.0, "chrf": 1.0})


def test_scores_match_sacrebleu(tmp_path: Path) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    folder, vocab = echo_folder(tmp_path)
    targets = [
        "alpha beta gamma",
        "gamma",
        "delta epsilon eta",
        "theta gamma",
        "beta beta",
        "zeta eta",
        "alpha",
    ]
    _, scores = run(folder, vocab, dataset(targets))
    assert scores["bleu"] * 100 == pytest.approx(sacrebleu.corpus_bleu(SOURCES, [targets]).score)
    assert scores["chrf"] * 100 == pytest.approx(sacrebleu.corpus_chrf(SOURCES, [targets]).score)


def test_max_new_tokens_and_forced_bos(tmp_path: Path) -> None:
    folder, vocab = echo_folder(tmp_path)
    hypotheses, _ = run(folder, vocab, dataset(SOURCES), {"max_new_tokens": 2})
    assert hypotheses == [" ".join(s.split()[:2]) for s in SOURCES]
    # a forced first token (mBART's target language) is part of the decoder prompt, not of the output:
    # the echo model then answers from the second decoder position on
    forced, vocab = echo_folder(tmp_path / "forced", forced_bos_token_id=vocab["theta"])
    hypotheses, _ = run(forced, vocab, dataset(SOURCES))
    assert hypotheses[2] == "epsilon zeta eta" and hypotheses[1] == ""


def test_encoder_only_model_is_refused(tmp_path: Path) -> None:
    folder, vocab = echo_folder(tmp_path)
    backend = ModuleBackend(LoadSpec(folder, "module"), Echo(vocab), ["input_ids", "attention_mask"])
    with backend, pytest.raises(TaskError, match="takes no decoder_input_ids"):
        Seq2Seq(folder).generate(backend, ["alpha"], 1)


def test_latency_inputs(tmp_path: Path) -> None:
    folder, vocab = echo_folder(tmp_path)
    inputs = Seq2Seq(folder, {"max_length": 16}).latency_inputs(
        2, ["input_ids", "attention_mask", "decoder_input_ids"]
    )
    assert (
        inputs["input_ids"].shape == (2, 16)
        and inputs["decoder_input_ids"].tolist() == [[vocab["[CLS]"]]] * 2
    )


def test_tiny_t5_through_the_transformers_backend_matches_generate(tmp_path: Path) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")

    course = make_course({"t": {"task": "seq2seq", "source": {"builtin": "translation-en-ru"}, "limit": 12}})
    data = load_eval_data("t", course, REPO)
    folder = tmp_path / "t5"
    texts = [
        item[key]
        for item in load_eval_data("t", course, REPO, limit=1000).items
        for key in ("source", "target")
    ]
    vocab = save_bpe_tokenizer(
        folder,
        texts,
        vocab_size=400,
        template=False,
        specials=["<pad>", "</s>", "[UNK]"],
        config={"pad_token": "<pad>", "eos_token": "</s>"},
    )
    model = tiny_t5(vocab, seed=0)
    model.save_pretrained(folder)

    tokenizer = hf_tokenizer(folder)
    tokenizer.pad_token = "<pad>"
    encoded = tokenizer(
        [item["source"] for item in data.items],
        padding="max_length",
        max_length=128,
        truncation=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        generated = model.generate(**encoded, max_new_tokens=8, do_sample=False, num_beams=1)
    expected = tokenizer.batch_decode(generated, skip_special_tokens=True)
    assert len(set(expected)) > 1

    task = Seq2Seq(folder, {"max_new_tokens": 8})
    with backends.TransformersBackend(LoadSpec(folder, "safetensors", task="seq2seq")) as backend:
        hypotheses = task.generate(backend, [item["source"] for item in data.items], 4)
    assert hypotheses == expected
    assert np.all([isinstance(h, str) for h in hypotheses])


def test_shipped_translation_pairs() -> None:
    course = make_course({"t": {"task": "seq2seq", "source": {"builtin": "translation-en-ru"}}})
    data = load_eval_data("t", course, REPO)
    assert len(data.items) == 150 and data.labels is None
    assert all(item["source"].isascii() and not item["target"].isascii() for item in data.items)
