"""Tokenisation from the model folder's ``tokenizer.json`` with the `tokenizers` library.

``tokenizer.json`` is pure data (no code runs), so every backend — transformers, onnxruntime,
TensorRT — sees exactly the same token ids. ``tokenizer_config.json`` and
``special_tokens_map.json`` are read as JSON for the pad token, padding side and the model's
maximum length. Everything here is imported by the tasks inside their methods, never at module
level, so reading a task's metric declarations stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.tasks.common import read_model_json, task_error

# A sentence of ordinary length for latency runs; repeated to fill max_length with real tokens.
LATENCY_TEXT = (
    "Доставка пришла на день раньше обещанного, но через неделю телефон начал перегреваться, "
    "и поддержка так и не ответила на два письма."
)
# tokenizer_config.json writes "no limit" as a huge number (int(1e30)).
_UNLIMITED = 1_000_000


def _token_text(value: Any) -> str | None:
    """A special token as the config files write it: "[PAD]" or {"content": "[PAD]", ...}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


class TextEncoder:
    """Encodes text to fixed-length int64 arrays: input_ids, attention_mask, token_type_ids."""

    def __init__(self, model_dir: Path, max_length: int | None) -> None:
        from tokenizers import Tokenizer

        path = model_dir / "tokenizer.json"
        if not path.is_file():
            raise task_error(
                "Q001",
                "the model folder has no tokenizer.json",
                file=path,
                expected="tokenizer.json (a fast tokenizer, saved by save_pretrained) next to the weights",
                found=", ".join(sorted(p.name for p in model_dir.iterdir())[:12])
                if model_dir.is_dir()
                else "",
                hint="save the tokenizer with the model: AutoTokenizer.from_pretrained(...)"
                ".save_pretrained(folder); slow-only tokenizers (vocab.txt, .model files) are not read",
            )
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # the Rust side raises a plain Exception for a malformed file
            raise task_error(
                "Q001",
                "tokenizer.json cannot be read",
                file=path,
                found=str(error)[:200],
                hint="save it again",
            ) from None
        self.model_dir = model_dir
        config = read_model_json(model_dir, "tokenizer_config.json")
        special = read_model_json(model_dir, "special_tokens_map.json")
        self.max_length = self._max_length(max_length, config)
        self.padding_side = "left" if config.get("padding_side") == "left" else "right"
        self.pad_token, self.pad_id = self._pad(config, special)
        self.bos_id = self._special_id("bos_token", config, special)
        self.eos_id = self._special_id("eos_token", config, special)
        # tokenizer.json may carry its own padding/truncation; ours are set per call.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def _max_length(self, requested: int | None, config: dict[str, Any]) -> int | None:
        """The course's length, capped by the model's: tokenizer_config.json ``model_max_length``
        and config.json's position table (``max_position_embeddings`` / ``n_positions``)."""
        model_config = read_model_json(self.model_dir, "config.json")
        limits = [config.get("model_max_length")] + [
            model_config.get(key) for key in ("max_position_embeddings", "n_positions", "max_sequence_length")
        ]
        usable = [int(v) for v in limits if isinstance(v, int | float) and 0 < v < _UNLIMITED]
        candidates = [requested, *usable] if requested is not None else usable
        return min(candidates) if candidates else None

    def _special_id(self, name: str, config: dict[str, Any], special: dict[str, Any]) -> int | None:
        for source in (config, special):
            text = _token_text(source.get(name))
            if text is not None and self.tokenizer.token_to_id(text) is not None:
                return self.tokenizer.token_to_id(text)
        return None

    def _pad(self, config: dict[str, Any], special: dict[str, Any]) -> tuple[str, int]:
        """The pad token: from the configs, then tokenizer.json's own padding, then EOS, then id 0.

        Which id pads does not change a model's outputs where the attention mask hides the pads;
        it only has to be a valid id.
        """
        for source in (config, special):
            text = _token_text(source.get("pad_token"))
            if text is not None and (token_id := self.tokenizer.token_to_id(text)) is not None:
                return text, token_id
        own = self.tokenizer.padding
        if own and own.get("pad_token") and self.tokenizer.token_to_id(own["pad_token"]) is not None:
            return own["pad_token"], int(own["pad_id"])
        for name in ("[PAD]", "<pad>"):
            if (token_id := self.tokenizer.token_to_id(name)) is not None:
                return name, token_id
        eos = self._special_id("eos_token", config, special)
        if eos is not None:
            return str(self.tokenizer.id_to_token(eos)), eos
        return str(self.tokenizer.id_to_token(0) or ""), 0

    def encode(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, length: int | None = None
    ) -> dict[str, np.ndarray]:
        """Truncate and pad every text (or text pair) to exactly ``length`` tokens (default max_length)."""
        inputs: list[Any] = list(zip(texts, pairs, strict=True)) if pairs is not None else list(texts)
        return _arrays(self._fixed_length_batch(inputs, length, pretokenized=False))

    def encode_words(
        self, sentences: Sequence[Sequence[str]], *, length: int | None = None
    ) -> tuple[dict[str, np.ndarray], list[list[int | None]]]:
        """Pre-split words → fixed-length arrays, plus each token's word index (None: special/pad)."""
        encodings = self._fixed_length_batch([list(words) for words in sentences], length, pretokenized=True)
        return _arrays(encodings), [list(e.word_ids) for e in encodings]

    def _fixed_length_batch(self, inputs: list[Any], length: int | None, *, pretokenized: bool) -> list[Any]:
        length = length or self.max_length
        if length is None:
            raise ValueError("a fixed length is needed: set the task's max_length")
        self.tokenizer.enable_truncation(max_length=length)
        self.tokenizer.enable_padding(
            direction=self.padding_side, pad_id=self.pad_id, pad_token=self.pad_token, length=length
        )
        try:
            return self.tokenizer.encode_batch(inputs, is_pretokenized=pretokenized)
        finally:
            self.tokenizer.no_padding()
            self.tokenizer.no_truncation()

    def ids(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` with no truncation and no padding."""
        return list(self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def filled(self, text: str, length: int | None = None) -> dict[str, np.ndarray]:
        """One sequence of exactly ``length`` real tokens: ``text`` repeated, then truncated.

        Latency runs use this instead of padding a short sentence, so that every team is timed on
        the same number of real tokens whatever its tokenizer (padding-aware kernels would
        otherwise reward a tokenizer that splits the sentence into fewer tokens).
        """
        length = length or self.max_length
        if length is None:
            raise ValueError("a fixed length is needed: set the task's max_length")
        once = max(1, len(self.ids(text, add_special_tokens=False)))
        repeated = " ".join([text] * (length // once + 2))
        return self.encode([repeated], length=length)


def _arrays(encodings: list[Any]) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


class TextTask:
    """For tasks that read text: the model folder's tokenizer, and latency inputs of
    ``max_length`` real tokens (`TextEncoder.filled`) repeated ``batch_size`` times."""

    model_dir: Path
    params: dict[str, Any]

    @cached_property
    def encoder(self) -> TextEncoder:
        return TextEncoder(self.model_dir, int(self.params["max_length"]))

    def filled_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        one = select_inputs(
            self.encoder.filled(str(self.params["latency_text"])), input_names, self.model_dir
        )
        return {name: np.repeat(array, batch_size, axis=0) for name, array in one.items()}


def uses_token_type_ids(model_dir: Path) -> bool:
    """Whether the model has segment (token type) embeddings to feed.

    A forward() that accepts token_type_ids does not mean the model wants them: GPT-2 adds its
    *word* embedding of id 0 to every position when given zeros. Like Hugging Face's tokenizers
    (``model_input_names``), send them only to models that have a token-type embedding
    (``type_vocab_size`` in config.json) or whose tokenizer config lists them; a folder with no
    config.json (a bare ONNX export) gets them when the graph asks for them.
    """
    tokenizer_config = read_model_json(model_dir, "tokenizer_config.json")
    names = tokenizer_config.get("model_input_names")
    if isinstance(names, list):
        return "token_type_ids" in names
    if not (model_dir / "config.json").is_file():
        return True
    return "type_vocab_size" in read_model_json(model_dir, "config.json")


def select_inputs(
    encoded: dict[str, np.ndarray], input_names: Sequence[str], model_dir: Path
) -> dict[str, np.ndarray]:
    """The encoded arrays the model takes (input_ids is required; the others only if it names them,
    and token_type_ids only if `uses_token_type_ids`)."""
    if "input_ids" not in input_names:
        raise task_error(
            "Q004",
            "the model takes no input_ids",
            file=model_dir,
            expected="inputs named input_ids (and attention_mask, token_type_ids where the model uses them)",
            found=", ".join(input_names) or "no inputs",
            hint="export the model with the standard input names (optimum / torch.onnx with input_names=...)",
        )
    wanted = set(input_names)
    if not uses_token_type_ids(model_dir):
        wanted.discard("token_type_ids")
    return {name: array for name, array in encoded.items() if name in wanted}
