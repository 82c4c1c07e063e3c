"""Generation latency of encoder-decoder models (seq2seq, Whisper speech recognition).

Greedy decoding of ``new_tokens`` tokens (the course's task param; 0, the default, times none)
for the task's fixed latency item (`Task.latency_inputs` at batch size 1) after its decoder
prompt, never stopping early, as causal-lm does. Time to first token covers the encoder pass and
the first decoder step over the prompt, with its argmax; time per output token each later step,
fed only the newest token and the key / value cache. Two backends drive such a cache:

- a split ONNX export (`Backend.encoder_decoder`, grader.harness.backends.onnx_split) with a
  decoder that reads past key values (decoder_with_past_model.onnx or the merged decoder);
- a transformers checkpoint (`Backend.kv_cache_model`): the model's encoder, then the model with
  ``encoder_outputs`` and its cache.

A single-graph ONNX export, or a split one exported without the cache, re-runs the decoder over
the whole prefix for every token: that is not the model's generation speed, so it is not timed
(`generation_unsupported` says why), the rule causal-lm follows.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import GenerationTiming

# The task params of generation latency, shared by the encoder-decoder tasks.
GENERATION_PARAMS: dict[str, int | float | str | bool] = {
    "new_tokens": 0,  # tokens to time; 0: generation latency is not measured
    "generation_repeats": 3,  # timed generations per latency round, after one warm-up
}
Steps = Callable[[Callable[[], int]], tuple[list[int], list[int]]]


class EncoderDecoderGeneration:
    """The generation-latency methods of an encoder-decoder task (put before `Task` among its
    bases): the task has ``name``, ``params`` (with GENERATION_PARAMS), ``prompt`` and
    ``latency_inputs``, read through ``task`` below (a mixin declares none of them itself)."""

    def generation_unsupported(self, backend: Backend) -> str | None:
        task: Any = self
        return generation_unsupported(task.name, task.params, backend)

    def generation_latency(
        self,
        backend: Backend,
        *,
        repeats: int = 3,
        warmup: int = 1,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> GenerationTiming:
        """Time to first token and per output token of the task's latency item."""
        task: Any = self
        return generation_latency(
            backend,
            task.latency_inputs(1, backend.input_names()),
            task.prompt,
            int(task.params["new_tokens"]),
            repeats=repeats,
            warmup=warmup,
            clock=clock,
        )


def generation_unsupported(task: str, params: Mapping[str, Any], backend: Backend) -> str | None:
    """Why the harness does not time this model's generation, or None when it does."""
    new = int(params["new_tokens"])
    if new < 2:
        return (
            f"the course's generation setting ({new} new tokens) has no token after the first to time; "
            f"set tasks.{task}.params.new_tokens to at least 2"
        )
    split = backend.encoder_decoder()
    if split is not None and split.cached:
        return None
    if split is None and backend.kv_cache_model() is not None:
        return None
    return (
        f"the {backend.name} backend runs this model without a key / value cache, and re-running the "
        "decoder over the whole prefix for every token is not the model's generation speed; time per "
        "output token is measured for checkpoints and for split ONNX exports with "
        "decoder_with_past_model.onnx or decoder_model_merged.onnx (claim this model's latency per "
        "item instead)"
    )


def generation_latency(
    backend: Backend,
    inputs: Mapping[str, np.ndarray],
    prompt: Sequence[int],
    new_tokens: int,
    *,
    repeats: int,
    warmup: int,
    clock: Callable[[], int],
) -> GenerationTiming:
    """Time to first token and time per output token (see the module docstring). ``inputs``: the
    encoder's inputs for one item."""
    encoder_inputs = {name: array for name, array in inputs.items() if name != "decoder_input_ids"}
    split = backend.encoder_decoder()
    steps: Steps = (
        _split_steps(split, encoder_inputs, prompt, new_tokens)
        if split is not None
        else _torch_steps(backend, encoder_inputs, prompt, new_tokens)
    )
    return GenerationTiming.of_runs(
        lambda: steps(clock),
        prompt_tokens=len(prompt),
        new_tokens=new_tokens,
        kv_cache=True,
        repeats=repeats,
        warmup=warmup,
    )


def _split_steps(
    split: Any, inputs: Mapping[str, np.ndarray], prompt: Sequence[int], new_tokens: int
) -> Steps:
    """Greedy steps through a split ONNX export's sessions."""

    def run(clock: Callable[[], int]) -> tuple[list[int], list[int]]:
        decoded = np.asarray([list(prompt)], dtype=np.int64)
        times: list[int] = []
        past, state = None, None
        for index in range(new_tokens):
            started = clock()
            if index == 0:  # the encoder belongs to the first token's time
                state = split.encode(inputs)
            logits, past = split.decode(state, decoded, past)
            token = int(np.argmax(logits[0, -1]))
            times.append(clock() - started)
            decoded = np.concatenate([decoded, [[token]]], axis=1)
        return times, decoded[0, len(prompt) :].tolist()

    return run


def _torch_steps(
    backend: Backend, inputs: Mapping[str, np.ndarray], prompt: Sequence[int], new_tokens: int
) -> Steps:
    """Greedy steps through a transformers encoder-decoder: its encoder, then the model with the
    encoder's output and its cache (transformers 5 names the cache argument ``cache``)."""
    import torch

    model = backend.kv_cache_model()
    assert model is not None  # generation_unsupported lets only such a backend get here
    key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    prepared = backend.prepare(inputs)
    mask = {"attention_mask": prepared["attention_mask"]} if "attention_mask" in prepared else {}
    start = torch.tensor([list(prompt)], device=backend.device)

    def run(clock: Callable[[], int]) -> tuple[list[int], list[int]]:
        times: list[int] = []
        generated: list[int] = []
        past: Any = None
        encoded: Any = None
        tokens = start
        with torch.inference_mode():
            for index in range(new_tokens):
                started = clock()
                if index == 0:
                    encoded = model.get_encoder()(**prepared)
                cache = {key: past} if past is not None else {}
                outputs = model(
                    encoder_outputs=encoded, decoder_input_ids=tokens, use_cache=True, **mask, **cache
                )
                token = outputs.logits[:, -1].argmax(-1)
                backend.synchronize()
                times.append(clock() - started)
                past = outputs.get(key)
                generated.append(int(token.item()))
                tokens = token[:, None]
        return times, generated

    return run
