"""Token classification on the shipped NER set: sub-token alignment, truncation and entity F1,
against transformers' tokenizer (word_ids) and seqeval as independent references."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_tasks_support import ModuleBackend, hf_tokenizer, make_course, save_bpe_tokenizer, save_config

from grader.harness.backends.base import LoadSpec
from grader.harness.data import load_eval_data
from grader.harness.tasks import TASKS
from grader.harness.tasks.base import EvalData
from grader.harness.tasks.token_classification import TokenClassification

REPO = Path(__file__).resolve().parent.parent
COURSE = make_course({"ner-ru": {"task": "token-classification", "source": {"builtin": "ner-ru"}}})
# the model's head order differs from the dataset's tag order on purpose
MODEL_TAGS = ["B-LOC", "I-LOC", "O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


@pytest.fixture(scope="module")
def ner() -> EvalData:
    return load_eval_data("ner-ru", COURSE, REPO)


def reference_predictions(
    folder: Path, data: EvalData, table: np.ndarray, max_length: int
) -> list[list[str]]:
    """First sub-token rule through transformers' tokenizer; `O` for words truncated away."""
    tokenizer = hf_tokenizer(folder)
    out = []
    for item in data.items:
        encoding = tokenizer(item["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        tags = ["O"] * len(item["tokens"])
        seen: set[int] = set()
        for position, word in enumerate(encoding.word_ids()):
            if word is not None and word not in seen:
                seen.add(word)
                tags[word] = MODEL_TAGS[int(table[encoding["input_ids"][position]])]
        out.append(tags)
    return out


def lookup_model(folder: Path, data: EvalData, vocab_size: int) -> tuple[object, np.ndarray]:
    """logits = one-hot of a per-token-id table learned by vote from the data (known, not perfect)."""
    import torch

    tokenizer = hf_tokenizer(folder)
    votes: dict[int, Counter] = {}
    for item in data.items:
        encoding = tokenizer(item["tokens"], is_split_into_words=True)
        seen: set[int] = set()
        for position, word in enumerate(encoding.word_ids()):
            if word is not None and word not in seen:
                seen.add(word)
                votes.setdefault(encoding["input_ids"][position], Counter())[item["tags"][word]] += 1
    table = np.full(vocab_size, MODEL_TAGS.index("O"))
    for token_id, counter in votes.items():
        table[token_id] = MODEL_TAGS.index(counter.most_common(1)[0][0])

    class Lookup(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding.from_pretrained(
                torch.eye(len(MODEL_TAGS))[torch.from_numpy(table)]
            )

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.embedding(input_ids) * attention_mask.unsqueeze(-1)

    return Lookup(), table


def make_folder(tmp_path: Path, data: EvalData) -> tuple[Path, dict[str, int]]:
    folder = tmp_path / "ner-model"
    vocab = save_bpe_tokenizer(folder, [" ".join(item["tokens"]) for item in data.items], vocab_size=150)
    save_config(folder, id2label={str(i): tag for i, tag in enumerate(MODEL_TAGS)})
    return folder, vocab


def test_registered_with_entity_metrics() -> None:
    task = TASKS.load("token-classification")
    assert task is TokenClassification and task.primary == "entity_f1"
    assert set(task.metrics) == {"entity_f1", "entity_precision", "entity_recall", "token_accuracy"}


def test_shipped_ner_set(ner: EvalData) -> None:
    assert len(ner.items) == 200 and ner.labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    assert all(len(item["tokens"]) == len(item["tags"]) for item in ner.items)
    assert any(item["tags"].count("I-LOC") for item in ner.items)  # multi-word entities are there


@pytest.mark.parametrize("max_length", [128, 10])
def test_first_subtoken_rule_and_entity_f1_match_the_references(
    tmp_path: Path, ner: EvalData, max_length: int
) -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    folder, vocab = make_folder(tmp_path, ner)
    words = [w for item in ner.items for w in item["tokens"]]
    pieces = hf_tokenizer(folder)(words[:50], is_split_into_words=False, add_special_tokens=False)[
        "input_ids"
    ]
    assert sum(len(p) > 1 for p in pieces) > 20  # most words really are split into sub-tokens
    module, table = lookup_model(folder, ner, len(vocab))
    expected = reference_predictions(folder, ner, table, max_length)
    truth = [item["tags"] for item in ner.items]

    task = TokenClassification(folder, {"max_length": max_length})
    backend = ModuleBackend(LoadSpec(folder, "module"), module, ["input_ids", "attention_mask"])
    with backend:
        predicted = task.predict(backend, ner, batch_size=16)
        scores = task.evaluate(backend, ner, batch_size=16)
    assert predicted == expected
    assert scores["entity_f1"] == pytest.approx(seqeval.f1_score(truth, expected))
    assert scores["entity_precision"] == pytest.approx(seqeval.precision_score(truth, expected))
    assert scores["entity_recall"] == pytest.approx(seqeval.recall_score(truth, expected))
    flat_true = [t for tags in truth for t in tags]
    flat_pred = [p for tags in expected for p in tags]
    assert scores["token_accuracy"] == pytest.approx(
        np.mean([a == b for a, b in zip(flat_true, flat_pred, strict=True)])
    )
    if max_length == 128:
        assert 0.3 < scores["entity_f1"] < 1.0  # a real, imperfect score
    else:
        assert any(tags[-1] == "O" and len(tags) > 8 for tags in predicted)  # truncated words fall back to O


def test_tiny_bert_token_classifier_through_the_transformers_backend(tmp_path: Path) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    import torch
    from transformers import BertConfig, BertForTokenClassification

    data = load_eval_data("ner-ru", COURSE, REPO, limit=40)
    folder, vocab = make_folder(tmp_path, data)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=0.5,
        num_labels=len(MODEL_TAGS),
        id2label=dict(enumerate(MODEL_TAGS)),
        label2id={t: i for i, t in enumerate(MODEL_TAGS)},
    )
    model = BertForTokenClassification(config).eval()
    model.save_pretrained(folder)

    tokenizer = hf_tokenizer(folder)
    expected = []
    for item in data.items:
        encoding = tokenizer(
            item["tokens"], is_split_into_words=True, truncation=True, max_length=128, return_tensors="pt"
        )
        with torch.inference_mode():
            ids = model(**encoding).logits.argmax(-1)[0].tolist()
        tags, seen = ["O"] * len(item["tokens"]), set()
        for position, word in enumerate(encoding.word_ids()):
            if word is not None and word not in seen:
                seen.add(word)
                tags[word] = MODEL_TAGS[ids[position]]
        expected.append(tags)
    assert len({t for tags in expected for t in tags}) > 2

    with backends.TransformersBackend(
        LoadSpec(folder, "safetensors", task="token-classification")
    ) as backend:
        predicted = TokenClassification(folder).predict(backend, data, batch_size=8)
    assert predicted == expected


def test_token_latency_inputs(tmp_path: Path, ner: EvalData) -> None:
    folder, _ = make_folder(tmp_path, ner)
    inputs = TokenClassification(folder, {"max_length": 64}).latency_inputs(
        2, ["input_ids", "attention_mask"]
    )
    assert inputs["input_ids"].shape == (2, 64) and (inputs["attention_mask"] == 1).all()
