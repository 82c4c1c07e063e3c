"""One tiny random-init model per quality task, saved the way students save them, its ONNX
export, and (where OpenVINO is installed) that export converted to an OpenVINO IR: the models of
the end-to-end tests (tests/test_tasks_end_to_end.py) and of the task timing benchmark
(benchmarks/task_times.py). No network: tokenizers are trained or built here on the grader's
shipped eval data, configs are random-init transformers configs.

Each builder writes ``<root>/<task>/model`` (config.json, model.safetensors, tokenizer or
preprocessor files) and ``<root>/<task>/onnx`` (model.onnx plus the same non-weight files), and
returns a `TaskModel` naming the shipped dataset and the task parameters the course should set.

torch.onnx.export traces the module, and tracing some architectures (T5) leaves the module's
outputs changed afterwards; the checkpoint is saved first and every reference computation loads
it again (`TaskModel.load`), so the saved weights, the export and the reference all agree.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from test_tasks_support import (
    CTC_VOCAB,
    save_bpe_tokenizer,
    save_ctc_processor,
    save_tiny_vit,
    save_word_tokenizer,
    tiny_t5,
    tiny_wav2vec2,
    words_of,
)

from grader.course.model import Course
from grader.harness.data import NER_TAGS, SENTIMENT_LABELS, load_eval_data

REPO = Path(__file__).resolve().parent.parent
TASKS = (
    "text-classification",
    "token-classification",
    "image-classification",
    "causal-lm",
    "seq2seq",
    "speech-recognition",
)
# The course's task params for each tiny model (lengths fit its position tables).
PARAMS: dict[str, dict[str, Any]] = {
    "text-classification": {"max_length": 32},
    "token-classification": {"max_length": 48},
    "image-classification": {},
    "causal-lm": {
        "max_length": 64,
        "stride": 32,
        "prompt_tokens": 8,
        "new_tokens": 8,
        "generation_repeats": 2,
    },
    "seq2seq": {"max_length": 32, "max_new_tokens": 8},
    "speech-recognition": {"latency_seconds": 1.0},
}
GPT_SPECIALS = ["<|endoftext|>", "[UNK]"]


@dataclass(frozen=True)
class TaskModel:
    task: str
    dataset_id: str  # a builtin set, also the dataset's id in the course
    params: dict[str, Any]  # the course's task params for this model
    folder: Path  # the safetensors checkpoint
    onnx: Path  # the ONNX export's folder
    head: str  # the transformers AutoModelFor... class that loads `folder`
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """A fresh copy of the saved checkpoint, for reference computations."""
        import transformers

        return getattr(transformers, self.head).from_pretrained(str(self.folder)).eval()


def dataset_entry(task: str, dataset_id: str, limit: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"task": task, "source": {"builtin": dataset_id}}
    if limit is not None:
        entry["limit"] = limit
    return entry


def shipped(dataset_id: str, task: str, limit: int | None = None) -> Any:
    """A shipped eval set, loaded as the harness loads it."""
    course = Course.model_validate(
        {
            "name": {"ru": "Данные", "en": "Data"},
            "homeworks": [{"id": 1, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["baseline"]}],
            "datasets": {dataset_id: dataset_entry(task, dataset_id, limit)},
        }
    )
    return load_eval_data(dataset_id, course, REPO)


# --- export ------------------------------------------------------------------------------------------


class _Logits:
    """A module wrapper whose forward takes the inputs positionally and returns only the logits."""

    @staticmethod
    def wrap(model: Any, names: list[str], extra: dict[str, Any]) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = model

            def forward(self, *args: Any) -> Any:
                return self.inner(**dict(zip(names, args, strict=True)), **extra).logits

        return Wrapper().eval()


def export_onnx(
    model: Any,
    source: Path,
    target: Path,
    inputs: dict[str, np.ndarray],
    axes: dict[str, dict[int, str]],
    *,
    forward_kwargs: dict[str, Any] | None = None,
    dynamo: bool = False,
) -> Path:
    """Export ``model`` (taking ``inputs`` by name, returning `.logits`) to ``target/model.onnx``
    and copy every non-weight file of ``source`` along (configs, tokenizer, preprocessor)."""
    import torch

    target.mkdir(parents=True, exist_ok=True)
    names = list(inputs)
    tensors = tuple(torch.from_numpy(array) for array in inputs.values())
    wrapper = _Logits.wrap(model, names, forward_kwargs or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            from torch.export import Dim

            dims: dict[str, Any] = {}
            shapes = {
                name: {axis: dims.setdefault(label, Dim(label)) for axis, label in axes.get(name, {}).items()}
                for name in names
            }
            torch.onnx.export(
                wrapper,
                tensors,
                str(target / "model.onnx"),
                input_names=names,
                output_names=["logits"],
                dynamic_shapes=shapes,
                dynamo=True,
                verbose=False,
            )
        else:
            torch.onnx.export(
                wrapper,
                tensors,
                str(target / "model.onnx"),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                dynamo=False,
            )
    for path in source.iterdir():
        if path.is_file() and not path.name.endswith(".safetensors"):
            shutil.copy2(path, target / path.name)
    return target / "model.onnx"


def _text_axes(names: list[str]) -> dict[str, dict[int, str]]:
    return {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch", 1: "sequence"}}


# --- one builder per task ----------------------------------------------------------------------------


def text_classification(root: Path) -> TaskModel:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    data = shipped("sentiment-en", "text-classification")
    folder = root / "model"
    vocab = save_word_tokenizer(folder, words_of([item["text"] for item in data.items]))
    torch.manual_seed(1)
    labels = dict(enumerate(SENTIMENT_LABELS))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.5,  # large random weights: predictions that depend on the input
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = np.full((1, 16), vocab["[CLS]"], dtype=np.int64)
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    axes = _text_axes(names) | {"logits": {0: "batch"}}
    export_onnx(model, folder, root / "onnx", inputs, axes)
    return TaskModel(
        "text-classification",
        "sentiment-en",
        PARAMS["text-classification"],
        folder,
        root / "onnx",
        "AutoModelForSequenceClassification",
    )


def token_classification(root: Path) -> TaskModel:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    data = shipped("ner-en", "token-classification")
    folder = root / "model"
    vocab = save_word_tokenizer(folder, words_of([" ".join(item["tokens"]) for item in data.items]))
    torch.manual_seed(2)
    labels = dict(enumerate(NER_TAGS))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.5,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    model = BertForTokenClassification(config).eval()
    model.save_pretrained(folder)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = np.full((1, 16), vocab["[CLS]"], dtype=np.int64)
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    export_onnx(model, folder, root / "onnx", inputs, _text_axes(names))
    return TaskModel(
        "token-classification",
        "ner-en",
        PARAMS["token-classification"],
        folder,
        root / "onnx",
        "AutoModelForTokenClassification",
    )


def image_classification(root: Path) -> TaskModel:
    folder = root / "model"
    save_tiny_vit(folder, {i: str(i) for i in range(10)}, seed=3)
    model = TaskModel(
        "image-classification",
        "digits-test",
        PARAMS["image-classification"],
        folder,
        root / "onnx",
        "AutoModelForImageClassification",
    )
    inputs = {"pixel_values": np.zeros((1, 1, 8, 8), dtype=np.float32)}
    axes = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}}
    export_onnx(model.load(), folder, root / "onnx", inputs, axes)
    return model


def causal_lm(root: Path) -> TaskModel:
    """A Llama-like model (rotary positions, grouped-query attention) on a BPE vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    data = shipped("lm-en", "causal-lm")
    folder = root / "model"
    config_json = {"model_max_length": 1024, "eos_token": "<|endoftext|>", "bos_token": "<|endoftext|>"}
    vocab = save_bpe_tokenizer(
        folder,
        [item["text"] for item in data.items],
        vocab_size=300,
        template=False,
        specials=GPT_SPECIALS,
        config=config_json,
    )
    torch.manual_seed(4)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        initializer_range=0.2,
        bos_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder)
    names = ["input_ids", "attention_mask"]
    ids = np.arange(16, dtype=np.int64)[None, :] % len(vocab)
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    export_onnx(model, folder, root / "onnx", inputs, _text_axes(names), forward_kwargs={"use_cache": False})
    return TaskModel("causal-lm", "lm-en", PARAMS["causal-lm"], folder, root / "onnx", "AutoModelForCausalLM")


def seq2seq(root: Path) -> TaskModel:
    """A T5-like encoder-decoder on a BPE vocabulary of both languages, exported as one graph."""

    data = shipped("translation-en-ru", "seq2seq")
    folder = root / "model"
    texts = [item[key] for item in data.items for key in ("source", "target")]
    vocab = save_bpe_tokenizer(
        folder,
        texts,
        vocab_size=400,
        template=False,
        specials=["<pad>", "</s>", "[UNK]"],
        config={"pad_token": "<pad>", "eos_token": "</s>", "model_max_length": 512},
    )
    model = tiny_t5(vocab, seed=5)
    model.save_pretrained(folder)
    ids = np.full((1, 12), 5, dtype=np.int64)
    inputs = {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "decoder_input_ids": np.zeros((1, 3), np.int64),
    }
    axes = {
        "input_ids": {0: "batch", 1: "source"},
        "attention_mask": {0: "batch", 1: "source"},
        "decoder_input_ids": {0: "batch", 1: "target"},
        "logits": {0: "batch", 1: "target"},
    }
    export_onnx(model, folder, root / "onnx", inputs, axes, forward_kwargs={"use_cache": False})
    return TaskModel(
        "seq2seq",
        "translation-en-ru",
        PARAMS["seq2seq"],
        folder,
        root / "onnx",
        "AutoModelForSeq2SeqLM",
        {"vocab": vocab},
    )


def speech_recognition(root: Path) -> TaskModel:
    """A wav2vec2 CTC model over characters, with its vocab.json and feature-extractor config."""
    import torch

    folder = root / "model"
    save_ctc_processor(folder, attention_mask=False)
    model = tiny_wav2vec2(seed=6)
    with torch.no_grad():  # a trained CTC head mostly says "blank"; so does this one, mostly
        model.lm_head.bias[CTC_VOCAB["<pad>"]] += 5.0
    model.save_pretrained(folder)
    inputs = {"input_values": np.zeros((1, 16000), dtype=np.float32)}
    axes = {"input_values": {0: "batch", 1: "samples"}, "logits": {0: "batch", 1: "frames"}}
    export_onnx(model, folder, root / "onnx", inputs, axes)
    return TaskModel(
        "speech-recognition", "asr-en", PARAMS["speech-recognition"], folder, root / "onnx", "AutoModelForCTC"
    )


BUILDERS: dict[str, Callable[[Path], TaskModel]] = {
    "text-classification": text_classification,
    "token-classification": token_classification,
    "image-classification": image_classification,
    "causal-lm": causal_lm,
    "seq2seq": seq2seq,
    "speech-recognition": speech_recognition,
}


def has_openvino() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def export_openvino(model: TaskModel) -> Path:
    """The ONNX export converted to an OpenVINO IR (model.xml + model.bin) in ``<task>/openvino``,
    with the same non-weight files beside it."""
    import openvino

    target = model.onnx.parent / "openvino"
    target.mkdir(parents=True, exist_ok=True)
    openvino.save_model(openvino.convert_model(str(model.onnx / "model.onnx")), str(target / "model.xml"))
    for path in model.onnx.iterdir():
        if path.suffix != ".onnx":
            shutil.copy2(path, target / path.name)
    return target


def build(task: str, root: Path) -> TaskModel:
    """The tiny model of ``task`` under ``root / task`` (vocabularies cover the whole shipped set)."""
    import logging

    logging.getLogger("transformers").setLevel(logging.ERROR)
    return BUILDERS[task](root / task)
