"""Encoder-decoder models split into ONNX graphs the way Optimum exports them (Whisper, T5, ...).

`optimum-cli export onnx` writes an encoder-decoder model as separate graphs (names in
grader.formats.onnx.SPLIT_ROLES) and leaves the decoding loop to the caller:

- ``encoder_model.onnx``: the encoder inputs (``input_features``; ``input_ids`` and
  ``attention_mask``) in, ``last_hidden_state`` out;
- ``decoder_model.onnx``: the first decoding step. ``input_ids`` (the decoder's tokens: the whole
  prefix), ``encoder_hidden_states`` and, for text encoders, ``encoder_attention_mask`` in;
  ``logits`` and the key / value cache (``present.<layer>.decoder.key``,
  ``present.<layer>.encoder.value``, ...) out;
- ``decoder_with_past_model.onnx``: every later step. Only the newest token as ``input_ids``, the
  cache as ``past_key_values.<layer>.decoder.key`` & co. (a ``present.`` output feeds the
  ``past_key_values.`` input of the same name), the cross-attention cache unchanged, only
  ``present.*.decoder.*`` out;
- ``decoder_model_merged.onnx``: the two decoders in one graph, an If on the ``use_cache_branch``
  input (False for the first step, whose past inputs are then placeholders the branch never reads).

`SplitEncoderDecoder` holds one onnxruntime session per graph (all in the measuring process, so
its peak RSS counts every one). A task decodes through it (grader.harness.tasks.seq2seq.greedy_decode):
the encoder once per batch (`encode`), then one `decode` call per token. It decodes from the past
key values when the export has a decoder that reads them and a first-step decoder that returns
them; otherwise (a decoder exported without the cache) every step re-runs the decoder on the
whole prefix, which gives the same tokens, only slower. `forward` is the one-call view the latency
phase times: the encoder plus the first decoder step on ``decoder_input_ids``, the same work
that a single-graph export does per item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.backends.base import NotMeasurable

PAST = "past_key_values."
PRESENT = "present."
USE_CACHE = "use_cache_branch"
TOKENS = ("input_ids", "decoder_input_ids")  # Optimum names the decoder's tokens input_ids
HIDDEN = "encoder_hidden_states"
ENCODER_MASK = "encoder_attention_mask"
DECODER_MASK = "decoder_attention_mask"


@dataclass
class Graph:
    """One graph's session, with its input metadata and output names."""

    role: str  # encoder, decoder, with_past, merged
    path: Path
    session: Any
    inputs: dict[str, Any]  # name → onnxruntime NodeArg (type, shape)
    outputs: list[str]

    @classmethod
    def of(cls, role: str, path: Path, session: Any) -> Graph:
        return cls(
            role,
            path,
            session,
            {i.name: i for i in session.get_inputs()},
            [o.name for o in session.get_outputs()],
        )

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from grader.harness.backends.onnxruntime import typed_feed

        return dict(
            zip(self.outputs, self.session.run(self.outputs, typed_feed(self.inputs, feed)), strict=True)
        )

    @property
    def past_inputs(self) -> list[str]:
        return [name for name in self.inputs if name.startswith(PAST)]

    @property
    def tokens(self) -> str:
        name = next((n for n in TOKENS if n in self.inputs), None)
        if name is None:
            raise NotMeasurable(
                f"{self.path.name} takes no decoder tokens (input_ids or decoder_input_ids); it takes "
                f"{', '.join(self.inputs)}: export it with optimum-cli export onnx"
            )
        return name


@dataclass
class EncoderState:
    """The encoder's output for one batch, what every decoder step reads."""

    hidden: np.ndarray  # [rows, source positions, width]
    mask: np.ndarray  # [rows, source positions]: 1 for real positions (all 1 for audio)


Past = dict[str, np.ndarray]  # past_key_values.* input name → the cache it takes


class SplitEncoderDecoder:
    """The sessions of a split export, and the steps of greedy decoding through them."""

    def __init__(self, encoder: Graph, first: Graph, later: Graph | None) -> None:
        self.encoder = encoder
        self.first = first  # the first step: decoder_model, or the merged decoder
        self.later = later  # later steps from past key values: decoder_with_past or merged; None: re-run
        self.merged = first.role == "merged"
        self.unused: str | None = None  # a with-past decoder the first step gives no cache for
        if later is not None and not self._returns_cache(first, later):
            self.later = None  # a decoder exported without its cache outputs: re-run it on the prefix
            self.unused = later.path.name  # and its session is released with it
        self._check_inputs()

    @classmethod
    def open(cls, paths: Mapping[str, Path], session: Callable[[Path], Any]) -> SplitEncoderDecoder:
        """Sessions for the graphs of ``paths`` (role → file: encoder, decoder, with_past, merged),
        each made by ``session``."""
        graphs = {role: Graph.of(role, path, session(path)) for role, path in paths.items()}
        encoder = graphs["encoder"]
        if "decoder" in graphs:
            return cls(encoder, graphs["decoder"], graphs.get("with_past"))
        merged = graphs["merged"]
        return cls(encoder, merged, merged)

    @property
    def graphs(self) -> list[Graph]:
        """The graphs that run: the encoder, the first-step decoder, the later-step one if another."""
        later = [self.later] if self.later is not None and self.later is not self.first else []
        return [self.encoder, self.first, *later]

    @property
    def cached(self) -> bool:
        """Whether decoding reads past key values (else each step re-runs the decoder on the prefix)."""
        return self.later is not None

    def describe(self) -> str:
        names = ", ".join(g.path.name for g in self.graphs)
        how = (
            "later tokens decoded from past key values"
            if self.cached
            else "no past key values: every token re-runs the decoder on the whole prefix"
        )
        if self.unused:
            how += f" ({self.unused} is not used: the first-step decoder returns no present.* cache)"
        return f"split encoder-decoder export ({names}): the encoder once per batch, {how}"

    def input_names(self) -> list[str]:
        """What a task feeds: the encoder's inputs and decoder_input_ids (as a single graph takes)."""
        return [*self.encoder.inputs, "decoder_input_ids"]

    # --- the steps ---------------------------------------------------------------------------

    def encode(self, inputs: Mapping[str, np.ndarray]) -> EncoderState:
        missing = [name for name in self.encoder.inputs if name not in inputs]
        if missing:
            raise ValueError(
                f"{self.encoder.path.name} needs input(s) {', '.join(missing)}, which the task does not "
                f"provide (it provides {', '.join(inputs) or 'nothing'})"
            )
        outputs = self.encoder.run({name: inputs[name] for name in self.encoder.inputs})
        hidden = outputs.get("last_hidden_state", outputs[self.encoder.outputs[0]])
        mask = inputs.get("attention_mask")
        if mask is None or mask.shape != hidden.shape[:2]:
            mask = np.ones(hidden.shape[:2], dtype=np.int64)
        return EncoderState(hidden, np.asarray(mask, dtype=np.int64))

    def decode(
        self, state: EncoderState, decoded: np.ndarray, past: Past | None
    ) -> tuple[np.ndarray, Past | None]:
        """One greedy step: the logits of the positions fed, and the cache for the next step (None
        when decoding re-runs the prefix). ``decoded`` is the whole prefix so far; with ``past``
        only its newest token is fed."""
        if past is None or self.later is None:
            graph, tokens = self.first, decoded
            feed = self._common(graph, state, tokens)
            if self.merged:
                feed |= self._placeholders(graph, len(decoded)) | {USE_CACHE: np.array([False])}
        else:
            graph, tokens = self.later, decoded[:, -1:]
            feed = self._common(graph, state, tokens) | {n: past[n] for n in graph.past_inputs}
            if self.merged:
                feed[USE_CACHE] = np.array([True])
        outputs = graph.run(feed)
        logits = outputs.get("logits", outputs[graph.outputs[0]])
        if self.later is None:
            return logits, None
        cache = dict(past or {})
        cache.update(
            {
                PAST + name.removeprefix(PRESENT): value
                for name, value in outputs.items()
                if name.startswith(PRESENT)
            }
        )
        return logits, cache

    def forward(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The encoder and the first decoder step on ``decoder_input_ids``: logits [rows, tokens, vocab]."""
        state = self.encode({k: v for k, v in inputs.items() if k != "decoder_input_ids"})
        logits, _ = self.decode(state, np.asarray(inputs["decoder_input_ids"], dtype=np.int64), None)
        return logits

    def _common(self, graph: Graph, state: EncoderState, tokens: np.ndarray) -> dict[str, np.ndarray]:
        feed = {graph.tokens: tokens}
        if HIDDEN in graph.inputs:
            feed[HIDDEN] = state.hidden
        if ENCODER_MASK in graph.inputs:
            feed[ENCODER_MASK] = state.mask
        if DECODER_MASK in graph.inputs:  # the causal mask does the work; every fed token is real
            feed[DECODER_MASK] = np.ones(tokens.shape, dtype=np.int64)
        return feed

    @staticmethod
    def _placeholders(graph: Graph, rows: int) -> Past:
        """Past inputs of a merged decoder's first step: the no-cache branch never reads them, so any
        shape its declared dimensions allow (the batch, one position, the declared sizes)."""
        from grader.harness.backends.onnxruntime import _ORT_TYPES

        out: Past = {}
        for name in graph.past_inputs:
            meta = graph.inputs[name]
            dims = [d if isinstance(d, int) and d >= 0 else 1 for d in meta.shape]
            if dims:
                dims[0] = rows
            out[name] = np.zeros(dims, dtype=_ORT_TYPES.get(meta.type, np.float32))
        return out

    # --- checks --------------------------------------------------------------------------------

    @staticmethod
    def _returns_cache(first: Graph, later: Graph) -> bool:
        """Every past input of the later steps comes from an output of the first step."""
        returned = {PAST + name.removeprefix(PRESENT) for name in first.outputs if name.startswith(PRESENT)}
        return bool(later.past_inputs) and set(later.past_inputs) <= returned

    def _check_inputs(self) -> None:
        """Refuse, before any run, a decoder input this loop would not know how to feed."""
        known = {*TOKENS, HIDDEN, ENCODER_MASK, DECODER_MASK, USE_CACHE}
        for graph in self.graphs[1:]:
            graph.tokens  # noqa: B018 - raises NotMeasurable when there is none
            unknown = [n for n in graph.inputs if n not in known and not n.startswith(PAST)]
            if unknown:
                raise NotMeasurable(
                    f"{graph.path.name} takes input(s) {', '.join(unknown)} that the grader's decoding loop "
                    "does not feed (it feeds input_ids, encoder_hidden_states, encoder_attention_mask, "
                    "past_key_values.* and use_cache_branch, as Optimum names them); export the model "
                    "with optimum-cli export onnx"
                )

    def end_profiling(self) -> list[dict[str, Any]]:
        """Every session's profile events, node names prefixed with the graph's role so nodes of
        different graphs stay apart (ends profiling)."""
        from grader.harness.gpu import read_profile

        events: list[dict[str, Any]] = []
        for graph in self.graphs:
            profile = graph.session.end_profiling()
            for event in read_profile(Path(profile)) if profile else []:
                events.append({**event, "name": f"{graph.role}/{event.get('name', '')}"})
        return events
