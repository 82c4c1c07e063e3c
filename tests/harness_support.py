"""Tiny real models and a course repository for the harness tests (no network, no hub).

A random-init BERT-like sequence classifier with a hand-made WordLevel tokenizer, a tiny ViT for
8×8 digits, their ONNX exports, a course repository with eval data, and a ValidatedSubmission
pointing at them: everything the measurement stage reads, built the way students would save it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.model import Course
from grader.manifest.model import ModelEntry, Submission
from grader.validate.document import ValidatedEntry, ValidatedSubmission

WORDS = [
    *("good", "bad", "great", "awful", "fine", "poor", "nice", "terrible", "love", "hate"),
    *("phone", "screen", "battery", "delivery", "fast", "slow"),
    *("the", "a", "is", "was", "and", "but", "not", "very", "it", "this"),
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
TEXTS = [
    ("the phone is very good", "positive"),
    ("battery was awful and slow", "negative"),
    ("great screen love it", "positive"),
    ("terrible delivery not fine", "negative"),
    ("nice phone fast delivery", "positive"),
    ("i hate this poor battery", "negative"),
    ("it is fine but slow", "negative"),
    ("very nice and great", "positive"),
]

FAST_LATENCY = {
    "warmup_block": 3,
    "warmup_tolerance": 0.5,
    "warmup_max_s": 0.5,
    "min_iters": 5,
    "min_time_s": 0.05,
    "max_time_s": 1.0,
    "max_iters": 400,
    "stable_tolerance": 0.5,
}


# An A/A submission: the baseline's own file again as its model, claiming a speed-up of 1.0×.
SAME_FILE_MANIFEST = """\
schema_version: 1
team: alpha
homework: 2
task: image-classification
baseline:
  name: base
  artifact: {path: base/}
models:
  - name: same file
    method: quantization
    artifact: {path: base/}
    claims: {speedup_cpu: 1.0x}
"""


def write_tokenizer(folder: Path, max_length: int = 32) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate([*SPECIALS, *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"pad_token": "[PAD]", "unk_token": "[UNK]", "model_max_length": max_length}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")


def make_bert(
    folder: Path,
    *,
    hidden: int = 32,
    layers: int = 2,
    intermediate: int = 64,
    vocab_size: int | None = None,
    seed: int = 0,
) -> Any:
    """A random-init BERT sequence classifier saved with save_pretrained (safetensors) + tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size or len(SPECIALS) + len(WORDS),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=intermediate,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    write_tokenizer(folder)
    return model


def make_vit(folder: Path, *, seed: int = 0, layers: int = 2) -> Any:
    """A tiny random-init ViT for 8×8 one-channel digits, with its preprocessor config."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
    )
    model = ViTForImageClassification(config).eval()
    model.save_pretrained(folder)
    preprocessor = {
        "do_resize": False,
        "do_rescale": True,
        "rescale_factor": 1 / 16,
        "do_normalize": True,
        "image_mean": [0.5],
        "image_std": [0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")
    return model


def bert_inputs(seq_len: int = 16, batch: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(4, len(SPECIALS) + len(WORDS), size=(batch, seq_len)).astype(np.int64)
    ids[:, 0] = 2
    ids[:, -1] = 3
    return {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }


def export_onnx(model: Any, source: Path, target: Path, inputs: dict[str, np.ndarray]) -> Path:
    """Export with the TorchScript-based exporter (fast); copy tokenizer/preprocessor files along."""
    import warnings

    import torch

    target.mkdir(parents=True, exist_ok=True)
    names = list(inputs)
    tensors = {name: torch.from_numpy(array) for name, array in inputs.items()}
    axes = {
        name: {0: "batch"} | ({1: "sequence"} if array.ndim == 2 else {}) for name, array in inputs.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (),
            str(target / "model.onnx"),
            kwargs=tensors,
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes | {"logits": {0: "batch"}},
            dynamo=False,
        )
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", "config.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    return target / "model.onnx"


def course(**runner: Any) -> Course:
    """A course whose eval data lives in the test repository (text) or ships with the grader (digits)."""
    settings = {
        "devices": ["cpu"],
        "threads": {"intra_op": 1, "inter_op": 1},
        # two rounds, no more: the adaptive rounds have their own tests
        "speed": {"min_rounds": 2, "max_rounds": 2},
        "latency": FAST_LATENCY,
        "limits": {"phase_timeout_s": 120, "memory_mib": 8192, "artifact_max_mib": 1000},
    }
    for key, value in runner.items():
        settings[key] = {**settings[key], **value} if isinstance(settings.get(key), dict) else value
    return Course.model_validate(
        {
            "name": {"ru": "Тест", "en": "Test"},
            "language": "en",
            "runner": settings,
            "tasks": {
                "text-classification": {"dataset": "reviews", "params": {"max_length": 16}},
                "image-classification": {"dataset": "digits", "params": {}},
            },
            "datasets": {
                "reviews": {
                    "task": "text-classification",
                    "source": {"path": "data/reviews.jsonl"},
                    "labels": ["negative", "positive"],
                },
                "digits": {"task": "image-classification", "source": {"builtin": "digits-test"}, "limit": 24},
            },
            "homeworks": [{"id": 2, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["quantization"]}],
            "teams": {"team": {"members": ["someone"]}},
        }
    )


def write_reviews(repo: Path) -> None:
    data = repo / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"text": text, "label": label}) for text, label in TEXTS]
    (data / "reviews.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def team_dir(repo: Path) -> Path:
    folder = repo / "submissions" / "team" / "hw-2"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def validated(
    repo: Path,
    task: str,
    entries: list[tuple[str, dict[str, Any]]],
) -> ValidatedSubmission:
    """A ValidatedSubmission as `grader validate` would write it, for `path:` artifacts in the team folder.

    ``entries``: (artifact path relative to the hw folder, extra ModelEntry fields); the first is
    the baseline when there are several, a lone entry is `models[0]` without a baseline.
    """
    hw = team_dir(repo)
    models = [
        ModelEntry.model_validate({"name": f"m{i}", "artifact": {"path": path}, **extra})
        for i, (path, extra) in enumerate(entries)
    ]
    baseline, rest = (models[0], models[1:]) if len(models) > 1 else (None, models)
    submission = Submission(team="team", homework=2, task=task, baseline=baseline, models=rest)
    keyed = submission.entries()
    return ValidatedSubmission(
        manifest_path=str((hw / "submission.yaml").relative_to(repo)),
        submission=submission,
        entries=[
            ValidatedEntry(
                key=key,
                entry=entry,
                claims=[],
                artifact_dir=str((hw / path).relative_to(repo)),
            )
            for (key, entry), (path, _extra) in zip(keyed, entries, strict=True)
        ],
    )


def tiny_bert_classifier() -> Any:
    """A random-init 2-layer BERT sequence classifier over a 100-token vocabulary (seed 0)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
    )
    return BertForSequenceClassification(config).eval()


def padded_batch(batch_size: int = 2, length: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Token ids for tiny_bert_classifier with a padded first row, so the mask really matters."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 100, size=(batch_size, length), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[0, length // 2 :] = 0
    return {"input_ids": ids, "attention_mask": mask}
