"""Builders shared by the task and data tests (no tests here): tiny real models and tokenizers
saved the way students save them, a course to load data from, and a backend that runs a real
torch module for models that are not transformers checkpoints."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.model import Course
from grader.harness.backends.base import Backend, LoadInfo, LoadSpec

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
WORD = re.compile(r"\w+|[^\w\s]+")  # what the `Whitespace` pre-tokenizer splits on
CTC_CHARS = list("abcdefghijklmnopqrstuvwxyz'")
CTC_VOCAB = {
    "<pad>": 0,
    "<s>": 1,
    "</s>": 2,
    "<unk>": 3,
    "|": 4,
    **{c: i + 5 for i, c in enumerate(CTC_CHARS)},
}


def make_course(datasets: Mapping[str, Any], tasks: Mapping[str, Any] | None = None) -> Course:
    return Course.model_validate(
        {
            "name": {"ru": "Тест", "en": "Test"},
            "homeworks": [{"id": 1, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["baseline"]}],
            "datasets": dict(datasets),
            "tasks": dict(tasks or {}),
        }
    )


def words_of(texts: list[str]) -> list[str]:
    return sorted({w for t in texts for w in WORD.findall(t.lower())})


def bert_template(vocab: dict[str, int]) -> Any:
    """BERT's post-processor: [CLS] a [SEP] (b [SEP], segment 1)."""
    from tokenizers import processors

    return processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )


def save_word_tokenizer(folder: Path, words: list[str], *, pad_in_config: bool = True) -> dict[str, int]:
    """A WordLevel tokenizer (lower-cased, BERT-style [CLS] x [SEP]) saved as tokenizer.json."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    vocab = {token: i for i, token in enumerate([*SPECIALS, *words])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = bert_template(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config: dict[str, Any] = {"model_max_length": 512, "tokenizer_class": "PreTrainedTokenizerFast"}
    if pad_in_config:
        config.update(
            {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
        )
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return vocab


def save_tiny_bert(folder: Path, vocab_size: int, id2label: dict[int, str], seed: int = 0) -> None:
    """A random-init 2-layer BERT sequence classifier, saved with save_pretrained (safetensors)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=160,
        initializer_range=0.5,  # large random weights: answers that depend on the input
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)


def save_tiny_vit(
    folder: Path, id2label: dict[int, str], *, channels: int = 1, size: int = 8, seed: int = 0
) -> None:
    """A random-init ViT image classifier for 8×8 digits, with the demo's preprocessor_config.json."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=size,
        patch_size=4,
        num_channels=channels,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=0.5,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    ViTForImageClassification(config).eval().save_pretrained(folder)
    save_preprocessor(folder, size=size, rescale=1 / 16, mean=[0.5] * channels, std=[0.5] * channels)


def save_preprocessor(
    folder: Path,
    *,
    size: int,
    rescale: float,
    mean: list[float] | None,
    std: list[float] | None,
    **extra: Any,
) -> None:
    config: dict[str, Any] = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": rescale,
        "do_normalize": mean is not None,
        **({"image_mean": mean, "image_std": std} if mean is not None else {}),
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "preprocessor_config.json").write_text(json.dumps(config), encoding="utf-8")


def save_config(folder: Path, **config: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


class ModuleBackend(Backend):
    """Runs a real torch module in-process: numpy in, torch forward, numpy logits out."""

    name = "module"
    formats = ("module",)

    def __init__(self, spec: LoadSpec, module: Any, inputs: list[str]) -> None:
        super().__init__(spec)
        self.module = module
        self.inputs = inputs
        self.calls: list[dict[str, tuple[int, ...]]] = []

    def load(self) -> LoadInfo:
        self.module.eval()
        return LoadInfo()

    def input_names(self) -> list[str]:
        return list(self.inputs)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import torch

        self.calls.append({name: tuple(array.shape) for name, array in inputs.items()})
        return {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in inputs.items()}

    def run(self, prepared: dict[str, Any]) -> Any:
        import torch

        with torch.inference_mode():
            return self.module(**prepared)

    def to_numpy(self, outputs: Any) -> dict[str, np.ndarray]:
        logits = outputs.logits if hasattr(outputs, "logits") else outputs
        return {"logits": logits.detach().float().numpy()}


def bag_of_words_module(vocab: dict[str, int], positive: set[str], negative: set[str]) -> Any:
    """logits = [#negative words, 0.5, #positive words] over the unmasked tokens.

    The pad token's embedding is large on purpose: a task that forgot the attention mask would
    change every prediction.
    """
    import torch

    class BagOfWords(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            weights = torch.zeros(len(vocab), 3)
            for word, index in vocab.items():
                if word in negative:
                    weights[index, 0] = 1.0
                if word in positive:
                    weights[index, 2] = 1.0
            weights[vocab["[PAD]"], 1] = 100.0
            self.embedding = torch.nn.Embedding.from_pretrained(weights)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            vectors = self.embedding(input_ids) * attention_mask.unsqueeze(-1)
            return vectors.sum(dim=1) + torch.tensor([0.0, 0.5, 0.0])

    return BagOfWords()


def nearest_centroid_module(centroids: np.ndarray) -> Any:
    """A Linear layer whose argmax is the nearest centroid: w_k = c_k, b_k = -|c_k|²/2."""
    import torch

    layer = torch.nn.Linear(centroids.shape[1], centroids.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(centroids.astype(np.float32)))
        layer.bias.copy_(torch.from_numpy((-0.5 * (centroids**2).sum(axis=1)).astype(np.float32)))

    class NearestCentroid(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = layer

        def forward(self, pixel_values: Any) -> Any:
            return self.linear(pixel_values.flatten(1))

    return NearestCentroid()


def save_bpe_tokenizer(
    folder: Path,
    texts: list[str],
    vocab_size: int = 150,
    *,
    template: bool = True,
    specials: list[str] | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, int]:
    """A small BPE tokenizer trained on ``texts``: most words split into several sub-tokens.

    ``template`` adds BERT's [CLS] x [SEP]; without it the tokenizer adds nothing (GPT-style).
    """
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    tokenizer = Tokenizer(BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = BpeTrainer(vocab_size=vocab_size, special_tokens=specials or SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    vocab = tokenizer.get_vocab()
    if template:
        tokenizer.post_processor = bert_template(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    settings = config or {
        "model_max_length": 512,
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return vocab


def hf_tokenizer(folder: Path) -> Any:
    """transformers' own fast tokenizer over the same tokenizer.json: the independent reference."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token="[PAD]")


def save_ctc_processor(folder: Path, *, attention_mask: bool) -> None:
    """The files of a wav2vec2 CTC processor over CTC_VOCAB: vocab, tokenizer and feature extractor."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(CTC_VOCAB), encoding="utf-8")
    tokenizer_config = {
        "pad_token": "<pad>",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "word_delimiter_token": "|",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    preprocessor = {
        "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "sampling_rate": 16000,
        "do_normalize": True,
        "padding_value": 0.0,
        "feature_size": 1,
        "return_attention_mask": attention_mask,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")


def tiny_t5(vocab: dict[str, int], seed: int) -> Any:
    """A one-layer T5 over ``vocab`` (with <pad> and </s>), random weights large enough to vary."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(vocab),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        initializer_factor=3.0,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
    )
    return T5ForConditionalGeneration(config).eval()


def tiny_wav2vec2(seed: int) -> Any:
    """A one-layer wav2vec2 CTC model over CTC_VOCAB (16 kHz in, one frame per 10 ms)."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        vocab_size=len(CTC_VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        initializer_range=0.5,
        pad_token_id=0,
    )
    return Wav2Vec2ForCTC(config).eval()
