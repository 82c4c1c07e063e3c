"""ONNX `Loop` nodes that would never end (A018): found in the graph, before the runner spins.

A Loop runs until its trip count M is reached or its body returns a false condition. A graph
that sets M to 2⁶³−1 (or leaves it out) and whose body hands its condition straight back, or
returns a constant true, holds the GPU runner for the whole phase timeout of every phase of that
model. Only what the graph states outright is judged: a condition the body computes, or a trip
count computed from the inputs, is left to the runner's timeouts.
"""

from __future__ import annotations

from typing import Any

from grader.onnx_graph import nodes, subgraphs

# A loop that really needs more iterations than this is not a model a compression course grades.
MAX_LOOP_TRIPS = 100_000
_STANDARD = frozenset({"", "ai.onnx"})


def endless_loops(model: Any) -> list[str]:
    """A description of each Loop that cannot end within MAX_LOOP_TRIPS iterations."""
    constants = _constants(model)
    found = []
    for node in nodes(model):
        if node.op_type != "Loop" or node.domain not in _STANDARD:
            continue
        trip_name = node.input[0] if node.input else ""
        trips = _scalar(constants.get(trip_name)) if trip_name else None
        if trip_name and (trips is None or trips <= MAX_LOOP_TRIPS):
            continue  # bounded, or computed at run time
        body = next((a.g for a in node.attribute if a.name == "body" and a.HasField("g")), None)
        if body is None or not _condition_never_false(node, body, constants):
            continue
        count = f"{trips:,} iterations" if trips is not None else "no trip count"
        name = node.name or (node.output[0] if node.output else "?")
        found.append(f"Loop {name!r}: {count}, and its body never turns the condition false")
    return found


def _condition_never_false(node: Any, body: Any, constants: dict[str, Any]) -> bool:
    """The body's condition output is its condition input passed through, or a constant true, and
    the loop's initial condition is absent or a constant true."""
    cond_name = node.input[1] if len(node.input) > 1 else ""
    if cond_name and _scalar(constants.get(cond_name)) != 1:
        return False
    if len(body.output) < 1 or len(body.input) < 2:
        return False
    out = body.output[0].name
    passthrough = {body.input[1].name}
    for inner in body.node:  # Identity chains of the condition input
        if inner.op_type == "Identity" and inner.input and inner.input[0] in passthrough:
            passthrough.update(inner.output)
    return out in passthrough or _scalar(constants.get(out)) == 1


def _constants(model: Any) -> dict[str, Any]:
    """Initializers and Constant-node outputs of every graph, by name (TensorProto or int)."""
    out: dict[str, Any] = {}
    for graph in subgraphs(model.graph):
        for tensor in graph.initializer:
            out[tensor.name] = tensor
        for node in graph.node:
            if node.op_type != "Constant" or node.domain not in _STANDARD or not node.output:
                continue
            for attribute in node.attribute:
                if attribute.name == "value" and attribute.HasField("t"):
                    out[node.output[0]] = attribute.t
                elif attribute.name == "value_int":
                    out[node.output[0]] = attribute.i
    return out


def _scalar(value: Any) -> int | None:
    """The integer (or boolean) value of a one-element constant; None when it is not one."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if any(d != 1 for d in value.dims):  # not a scalar: never converted (it may be large)
        return None
    from onnx import numpy_helper

    try:
        array = numpy_helper.to_array(value)
    except Exception:  # a tensor with external or malformed data: not a constant we can read
        return None
    if array.size != 1 or array.dtype.kind not in "biu":
        return None
    return int(array.reshape(-1)[0])
