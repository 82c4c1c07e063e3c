"""Sequence-to-sequence generation (translation, summarisation): corpus BLEU and chrF.

Sources (with the course's optional ``source_prefix``, e.g. T5's "translate English to Russian: ")
are tokenised from tokenizer.json and padded/truncated to ``max_length``. Decoding is greedy and
needs nothing but the backend's forward pass (`greedy_decode`): the decoder prompt is
``decoder_start_token_id`` (then ``forced_bos_token_id`` where the model sets one, as mBART/NLLB
do for the target language); each step feeds the whole decoded prefix as ``decoder_input_ids``
and appends the argmax of the last position; a sequence ends at its EOS or after
``max_new_tokens`` tokens. Special tokens are dropped when decoding to text. BLEU and chrF are
sacreBLEU's corpus scores (grader.harness.metrics), as fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, MetricInfo, Task
from grader.harness.tasks.encoder_decoder import GENERATION_PARAMS, EncoderDecoderGeneration
from grader.harness.tasks.text import LATENCY_TEXT, TextTask

# How to export an encoder-decoder model the grader runs (checked with torch 2.13, transformers 5):
# the legacy exporter cannot export Whisper (aten::diff) and the dynamo one cannot export T5 (a view
# of the attention output), so each gets the exporter that works.
EXPORT_HINT = (
    "`optimum-cli export onnx --model <checkpoint> <folder>` and submit the folder, or one graph with "
    "torch.onnx.export(model, (inputs,), 'model.onnx', kwargs={'decoder_input_ids': ids, "
    "'use_cache': False}, input_names=[..., 'decoder_input_ids'], output_names=['logits'], ...) with "
    "dynamo=True and dynamic_shapes for Whisper, dynamo=False and dynamic_axes for T5; "
    "or submit the safetensors checkpoint"
)


class Seq2Seq(EncoderDecoderGeneration, TextTask, Task):
    name = "seq2seq"
    model_heads = ("AutoModelForSeq2SeqLM",)
    metrics = {
        "bleu": MetricInfo("higher", True, "BLEU", "BLEU"),
        "chrf": MetricInfo("higher", True, "chrF", "chrF"),
    }
    primary = "bleu"
    fields = ("source", "target")
    default_params = {
        "max_length": 128,
        "max_new_tokens": 64,
        "source_prefix": "",
        "latency_text": LATENCY_TEXT,
        **GENERATION_PARAMS,
    }
    generates_tokens = True  # where the course sets new_tokens (grader.harness.tasks.encoder_decoder)

    @cached_property
    def special_ids(self) -> DecoderIds:
        return decoder_ids(self.model_dir, self.encoder.pad_id, self.encoder.eos_id)

    @property
    def prompt(self) -> list[int]:
        ids = self.special_ids
        return [ids.start] + ([ids.forced_bos] if ids.forced_bos is not None else [])

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        """A full-length source and the decoder prompt: one encoder pass plus one decoder step."""
        from grader.harness.tasks.text import select_inputs

        require_decoder_input(input_names, self.model_dir)
        encoded = self.encoder.filled(str(self.params["latency_text"]))
        one = {
            **select_inputs(encoded, input_names, self.model_dir),
            "decoder_input_ids": np.array([self.prompt], dtype=np.int64),
        }
        return {name: np.repeat(array, batch_size, axis=0) for name, array in one.items()}

    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        from grader.harness.metrics import corpus_bleu, corpus_chrf

        hypotheses = self.generate(backend, [item["source"] for item in data.items], batch_size)
        references = [item["target"] for item in data.items]
        return {
            "bleu": corpus_bleu(hypotheses, references).score,
            "chrf": corpus_chrf(hypotheses, references),
        }

    def generate(self, backend: Backend, sources: Sequence[str], batch_size: int) -> list[str]:
        """Greedy outputs for ``sources``, as text."""
        from grader.harness.tasks.common import batches
        from grader.harness.tasks.text import select_inputs

        prefix = str(self.params["source_prefix"])
        input_names = backend.input_names()
        require_decoder_input(input_names, self.model_dir)
        out: list[str] = []
        for batch, real in batches([{"source": s} for s in sources], batch_size):
            encoded = select_inputs(
                self.encoder.encode([prefix + item["source"] for item in batch]), input_names, self.model_dir
            )
            tokens = greedy_decode(
                backend,
                encoded,
                self.prompt,
                self.special_ids,
                int(self.params["max_new_tokens"]),
                self.model_dir,
            )
            out += [self.encoder.decode(row) for row in tokens[:real]]
        return out


@dataclass(frozen=True)
class DecoderIds:
    """The token ids greedy decoding needs."""

    start: int
    eos: list[int]
    pad: int
    forced_bos: int | None = None


def decoder_ids(model_dir: Path, tokenizer_pad: int, tokenizer_eos: int | None) -> DecoderIds:
    """From generation_config.json, then config.json, then the tokenizer's pad / EOS tokens."""
    from grader.harness.tasks.common import read_model_json, task_error

    sources = (
        read_model_json(model_dir, "generation_config.json"),
        read_model_json(model_dir, "config.json"),
    )

    def first(key: str) -> Any:
        return next((source[key] for source in sources if source.get(key) is not None), None)

    pad = first("pad_token_id")
    pad = int(pad) if isinstance(pad, int) else tokenizer_pad
    start = first("decoder_start_token_id")
    start = int(start) if isinstance(start, int) else pad
    eos = first("eos_token_id")
    eos_list = [int(e) for e in eos] if isinstance(eos, list) else [int(eos)] if isinstance(eos, int) else []
    if not eos_list and tokenizer_eos is not None:
        eos_list = [tokenizer_eos]
    if not eos_list:
        raise task_error(
            "Q003",
            "the model names no end-of-sequence token",
            file=model_dir / "config.json",
            field="eos_token_id",
            expected="eos_token_id in generation_config.json or config.json",
            hint="save the model with save_pretrained (it writes generation_config.json)",
        )
    forced = first("forced_bos_token_id")
    return DecoderIds(start, eos_list, pad, int(forced) if isinstance(forced, int) else None)


def require_decoder_input(input_names: Sequence[str], model_dir: Path) -> None:
    """The grader decodes through one graph that takes the encoder inputs and decoder_input_ids,
    or through a whole split export (its backend then names those inputs too).

    Anything else (an encoder alone, a decoder that takes ``encoder_hidden_states``: one half of
    an Optimum-style split export) cannot be run: not measurable, with how to export instead.
    """
    from grader.harness.tasks.base import TaskNotMeasurable
    from grader.harness.tasks.common import task_error

    decoder_half = "encoder_hidden_states" in input_names
    if "decoder_input_ids" not in input_names or decoder_half:
        error = task_error(
            "Q004",
            "the model is the decoder half of a split encoder-decoder export, without its encoder"
            if decoder_half
            else "the model takes no decoder_input_ids",
            file=model_dir,
            expected="an encoder-decoder model: encoder inputs and decoder_input_ids",
            found=", ".join(input_names),
            hint="the grader runs one graph that takes the encoder inputs and decoder_input_ids and "
            "returns logits, or Optimum's split export (encoder_model.onnx with decoder_model.onnx): "
            f"{EXPORT_HINT}",
        )
        raise TaskNotMeasurable(error.findings)


def greedy_decode(
    backend: Backend,
    encoder_inputs: dict[str, np.ndarray],
    prompt: Sequence[int],
    ids: DecoderIds,
    max_new_tokens: int,
    model_dir: Path,
) -> list[list[int]]:
    """Greedy decoding: each step appends the argmax of the last position's logits. Through the
    forward pass alone, each step feeds the decoded prefix (the ``prompt`` first) as
    ``decoder_input_ids``; through a split encoder-decoder export (``Backend.encoder_decoder``)
    the encoder runs once and each step only the decoder, from its key / value cache where the
    export has one. Returns each row's tokens after the prompt, up to (without) its EOS."""
    from grader.harness.tasks.common import pick_output, run_batch, task_error

    rows = next(iter(encoder_inputs.values())).shape[0]
    decoded = np.tile(np.asarray(prompt, dtype=np.int64), (rows, 1))
    finished = np.zeros(rows, dtype=bool)
    split = backend.encoder_decoder()
    state = split.encode(encoder_inputs) if split is not None else None
    past = None
    for _ in range(max_new_tokens):
        if split is not None:
            fed = 1 if past is not None else decoded.shape[1]
            logits, past = split.decode(state, decoded, past)
        else:
            fed = decoded.shape[1]
            logits = pick_output(
                run_batch(backend, {**encoder_inputs, "decoder_input_ids": decoded}), "logits", model_dir
            )
        if logits.ndim != 3 or logits.shape[:2] != (rows, fed):
            raise task_error(
                "Q005",
                "the model's logits are not one row of vocabulary scores per decoder position",
                file=model_dir,
                expected=f"[{rows}, {fed}, vocabulary size]",
                found=str(list(logits.shape)),
                hint="use a sequence-to-sequence head (AutoModelForSeq2SeqLM, AutoModelForSpeechSeq2Seq)",
            )
        token = np.where(finished, ids.pad, np.argmax(logits[:, -1, :], axis=-1).astype(np.int64))
        decoded = np.concatenate([decoded, token[:, None]], axis=1)
        finished |= np.isin(token, ids.eos)
        if finished.all():
            break
    return [_until_eos(row[len(prompt) :].tolist(), ids.eos) for row in decoded]


def _until_eos(ids: list[int], eos: list[int]) -> list[int]:
    for index, token in enumerate(ids):
        if token in eos:
            return ids[:index]
    return ids
