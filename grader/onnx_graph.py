"""Walking a loaded ONNX model: every graph, node and tensor, subgraphs and local functions included.

Validation (artifacts), size (size_onnx) and the onnxruntime / TensorRT backends all need to see the
whole model, not just the top graph: an If / Loop / Scan body or a local function can hold the
custom operator or the external tensor a check is looking for. Works on `onnx.ModelProto` objects;
importing this module does not import onnx.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

# Operator domains onnxruntime implements itself (standard ONNX plus its own contrib ops).
ORT_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.ms.internal.nhwc",
    }
)
# The standard ONNX domains, all a TensorRT parser accepts without plugins.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def subgraphs(graph: Any) -> Iterator[Any]:
    """The graph and every subgraph (If / Loop / Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        yield from _bodies(node)


def _bodies(node: Any) -> Iterator[Any]:
    for attribute in node.attribute:
        if attribute.HasField("g"):
            yield from subgraphs(attribute.g)
        for sub in attribute.graphs:
            yield from subgraphs(sub)


def nodes(model: Any) -> Iterator[Any]:
    """Every node of the model: its graphs, its local functions, and their subgraphs."""
    for graph in subgraphs(model.graph):
        yield from graph.node
    for function in model.functions:
        yield from _with_bodies(function.node)


def _with_bodies(function_nodes: Iterable[Any]) -> Iterator[Any]:
    for node in function_nodes:
        yield node
        for body in _bodies(node):
            yield from body.node


def tensors(model: Any) -> Iterator[Any]:
    """Every stored tensor: initializers, sparse initializers' parts and tensor attributes."""
    for graph in subgraphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors


def custom_ops(model: Any, known_domains: frozenset[str]) -> list[str]:
    """`domain::op` of every operator outside ``known_domains``, sorted.

    Calls to the model's own local functions (the dynamo exporter emits some, in `pkg.*` domains)
    are not custom: their bodies are walked like the main graph.
    """
    local = {(function.domain, function.name) for function in model.functions}
    return sorted(
        {
            f"{node.domain}::{node.op_type}"
            for node in nodes(model)
            if node.domain not in known_domains and (node.domain, node.op_type) not in local
        }
    )


def external_data_locations(model: Any) -> list[str]:
    """The `location` of every externally stored tensor, as written in the graph, deduplicated."""
    from onnx import TensorProto

    seen: dict[str, None] = {}
    for tensor in tensors(model):
        if tensor.data_location == TensorProto.EXTERNAL:
            info = {entry.key: entry.value for entry in tensor.external_data}
            seen.setdefault(info.get("location", ""), None)
    return list(seen)
