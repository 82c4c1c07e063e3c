"""Tiny encoder-decoder models exported the way `optimum-cli export onnx` splits them
(grader.harness.backends.onnx_split): encoder_model.onnx, decoder_model.onnx and, with the cache,
decoder_with_past_model.onnx, with Optimum's input and output names (`input_ids`,
`encoder_hidden_states`, `encoder_attention_mask`, `past_key_values.<layer>.decoder.key`,
`present.<layer>.encoder.value`, ...). Exported here with torch.onnx.export (the TorchScript
exporter: its traces take seconds, and it exports both T5 and Whisper split this way; Whisper's
decoder gets an explicit decoder attention mask, as the exporter has no aten::diff that
transformers' packed-sequence check would trace otherwise)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

KINDS = ("decoder", "encoder")  # the self-attention cache, then the cross-attention one


def present_names(layers: int, kinds: tuple[str, ...] = KINDS) -> list[str]:
    return [
        f"present.{i}.{kind}.{part}" for i in range(layers) for kind in kinds for part in ("key", "value")
    ]


def _flat(cache: Any, layers: int, kinds: tuple[str, ...] = KINDS) -> list[torch.Tensor]:
    """The cache's tensors in present_names' order."""
    out = []
    for i in range(layers):
        for kind in kinds:
            part = cache.self_attention_cache if kind == "decoder" else cache.cross_attention_cache
            out += [part.layers[i].keys, part.layers[i].values]
    return out


class _Encoder(torch.nn.Module):
    def __init__(self, model: Any, audio: bool) -> None:
        super().__init__()
        self.model, self.audio = model, audio

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        encoder = self.model.get_encoder()
        if self.audio:
            return encoder(input_features=inputs[0]).last_hidden_state
        return encoder(input_ids=inputs[0], attention_mask=inputs[1]).last_hidden_state


class _Decoder(torch.nn.Module):
    """input_ids, encoder_hidden_states[, encoder_attention_mask][, past...] → logits[, present...]."""

    def __init__(self, model: Any, audio: bool, layers: int, *, past_in: bool, cache_out: bool) -> None:
        super().__init__()
        self.model, self.audio, self.layers = model, audio, layers
        self.past_in, self.cache_out = past_in, cache_out

    def forward(self, input_ids: torch.Tensor, hidden: torch.Tensor, *rest: torch.Tensor) -> Any:
        from transformers.cache_utils import EncoderDecoderCache

        mask, past = (None, rest) if self.audio else (rest[0], rest[1:])
        kwargs: dict[str, Any] = {"encoder_outputs": (hidden,), "decoder_input_ids": input_ids}
        if mask is not None:
            kwargs["attention_mask"] = mask
        if self.past_in:
            kwargs["past_key_values"] = EncoderDecoderCache(
                tuple(tuple(past[4 * i : 4 * i + 4]) for i in range(self.layers))
            )
        elif self.audio:
            kwargs["decoder_attention_mask"] = torch.ones_like(input_ids)
        out = self.model(**kwargs, use_cache=self.cache_out)
        if not self.cache_out:
            return out.logits
        kinds = ("decoder",) if self.past_in else KINDS
        return (out.logits, *_flat(out.past_key_values, self.layers, kinds))


def export_split(model: Any, source: Path, target: Path, *, audio: bool, with_past: bool) -> Path:
    """``model`` (a loaded seq2seq checkpoint) as Optimum's split graphs in ``target``, with every
    non-weight file of ``source`` beside them. Without ``with_past`` the decoder returns only logits
    (an export without the cache: the grader re-runs it on the whole prefix)."""
    target.mkdir(parents=True, exist_ok=True)
    config = model.config
    layers = config.decoder_layers if audio else config.num_decoder_layers
    heads = config.decoder_attention_heads if audio else config.num_heads
    head_dim = config.d_model // heads if audio else config.d_kv
    rows, source_len, tokens = 1, 12, 3
    if audio:
        encoder_inputs = {"input_features": torch.zeros(rows, config.num_mel_bins, 3000)}
    else:
        ids = torch.full((rows, source_len), 5)
        encoder_inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        axes = {name: {0: "batch", 1: "source"} for name in encoder_inputs}
        if audio:
            axes = {"input_features": {0: "batch"}}
        _export(
            _Encoder(model, audio), encoder_inputs, ["last_hidden_state"], axes, target / "encoder_model.onnx"
        )
        hidden = _Encoder(model, audio)(*encoder_inputs.values())
        decoder_inputs = {
            "input_ids": torch.zeros(rows, tokens, dtype=torch.long),
            "encoder_hidden_states": hidden,
        }
        if not audio:
            decoder_inputs["encoder_attention_mask"] = encoder_inputs["attention_mask"]
        axes = {
            "input_ids": {0: "batch", 1: "tokens"},
            "encoder_hidden_states": {0: "batch", 1: "source"},
            "encoder_attention_mask": {0: "batch", 1: "source"},
            "logits": {0: "batch", 1: "tokens"},
        }
        presents = present_names(layers) if with_past else []
        cache_axes = {n: {0: "batch", 2: "past" if ".decoder." in n else "source"} for n in presents}
        _export(
            _Decoder(model, audio, layers, past_in=False, cache_out=with_past),
            decoder_inputs,
            ["logits", *presents],
            axes | cache_axes,
            target / "decoder_model.onnx",
        )
        if with_past:
            past = {
                n.replace("present.", "past_key_values."): torch.randn(
                    rows, heads, tokens if ".decoder." in n else hidden.shape[1], head_dim
                )
                for n in presents
            }
            past_axes = {n.replace("present.", "past_key_values."): a for n, a in cache_axes.items()}
            _export(
                _Decoder(model, audio, layers, past_in=True, cache_out=True),
                {**decoder_inputs, "input_ids": torch.zeros(rows, 1, dtype=torch.long), **past},
                ["logits", *present_names(layers, ("decoder",))],
                axes | past_axes | {n: {0: "batch", 2: "total"} for n in present_names(layers, ("decoder",))},
                target / "decoder_with_past_model.onnx",
            )
    for path in source.iterdir():
        if path.is_file() and not path.name.endswith(".safetensors"):
            shutil.copy2(path, target / path.name)
    return target


def _export(
    module: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    outputs: list[str],
    axes: dict[str, dict[int, str]],
    path: Path,
) -> None:
    names = list(inputs)
    torch.onnx.export(
        module.eval(),
        tuple(inputs.values()),
        str(path),
        input_names=names,
        output_names=outputs,
        dynamic_axes={k: v for k, v in axes.items() if k in names or k in outputs},
        dynamo=False,
    )


def merge_decoders(folder: Path) -> Path:
    """decoder_model.onnx and decoder_with_past_model.onnx of ``folder`` as one
    decoder_model_merged.onnx, as Optimum merges them: an If on the `use_cache_branch` input runs
    the with-past graph (True) or the first-step one (False); the with-past branch passes the
    cross-attention cache it was given through as its present.*.encoder.* outputs. The two
    graphs are removed."""
    import onnx
    from onnx import TensorProto, helper

    first = onnx.load(str(folder / "decoder_model.onnx"))
    later = onnx.load(str(folder / "decoder_with_past_model.onnx"))
    outer = {i.name: i for graph in (first.graph, later.graph) for i in graph.input}
    outputs = list(first.graph.output)

    def branch(graph: Any, prefix: str) -> Any:
        """The graph as an If branch: no inputs (it reads the outer ones), its own names prefixed."""
        own = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
        name = {n: f"{prefix}{n}" for n in own}
        body = helper.make_graph([], f"{prefix}branch", [], [])
        for tensor in graph.initializer:
            body.initializer.append(tensor)
            body.initializer[-1].name = name[tensor.name]
        for node in graph.node:
            body.node.append(node)
            copy = body.node[-1]
            copy.input[:] = [name.get(i, i) for i in node.input]
            copy.output[:] = [name.get(o, o) for o in node.output]
        produced = {o.name: name.get(o.name, o.name) for o in graph.output}
        for out in outputs:  # the first-step graph's outputs, in its order
            if out.name not in produced:  # the cross-attention cache, passed through unchanged
                source = out.name.replace("present.", "past_key_values.")
                produced[out.name] = f"{prefix}{out.name}"
                body.node.append(helper.make_node("Identity", [source], [produced[out.name]]))
            body.output.append(helper.make_empty_tensor_value_info(produced[out.name]))
        return body

    use_cache = helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])
    node = helper.make_node(
        "If",
        ["use_cache_branch"],
        [o.name for o in outputs],
        then_branch=branch(later.graph, "with_past/"),
        else_branch=branch(first.graph, "first/"),
    )
    graph = helper.make_graph([node], "merged", [*outer.values(), use_cache], outputs)
    merged = helper.make_model(graph, opset_imports=list(first.opset_import))
    merged.ir_version = first.ir_version
    path = folder / "decoder_model_merged.onnx"
    onnx.save(merged, str(path))
    (folder / "decoder_model.onnx").unlink()
    (folder / "decoder_with_past_model.onnx").unlink()
    return path
