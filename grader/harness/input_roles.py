"""Feeding a graph's inputs by role (grader.input_roles), for the backends that load graphs.

A task builds its arrays under each role's key (`input_ids`, `input_features`, `audio_lengths`).
The backend reports the keys of the roles its graph takes as its `input_names()`, so a task sees a
`features` + `feature_lengths` graph mapped to audio_features + audio_lengths as one that takes
`input_features` and `audio_lengths`; `prepare()` then hands each array to the graph input of its
role, fitted to what the graph declares:

- audio_features: [batch, mel bins, frames] as the task makes them, transposed to [batch, frames,
  mel bins] where the graph's static dims say so; frames padded up to a static frame count with
  each row's lowest value (what silence becomes after the log-mel's clamp). A graph whose static
  dims fit neither layout, or that takes fewer frames than the audio has, fails with both shapes.
- audio_lengths: one length per row, shaped [batch] or [batch, 1] as the graph's rank says.
- position_ids: 0, 1, 2, ... for each token, built from the token ids' shape.

Graph inputs with no role keep their own names (causal LM's cache, seq2seq's decoder), as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from grader.input_roles import ROLES, DeclaresInputs, resolve

Dims = tuple[int | None, ...] | None  # each axis' static size (None: dynamic); None: rank unknown


@dataclass(frozen=True)
class GraphInput:
    name: str
    dims: Dims


def static_dims(shape: Sequence[object] | None) -> Dims:
    """onnxruntime's `NodeArg.shape` (ints, strings or None per axis) as Dims."""
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


class InputFeed:
    """Each graph input's role, and the arrays the task built turned into the graph's feed."""

    def __init__(self, graph_inputs: Sequence[GraphInput], roles: Mapping[str, str]) -> None:
        self.graph_inputs = list(graph_inputs)
        self.roles = dict(roles)  # graph input → role, where one is known

    @classmethod
    def for_task(
        cls, task: str | None, graph_inputs: Sequence[GraphInput], mapping: Mapping[str, str]
    ) -> InputFeed:
        """The roles of the graph's inputs for ``task`` (its guesses and the manifest's mapping)."""
        declared = _declared(task)
        if declared is None or not declared.input_roles:
            return cls(graph_inputs, {})
        unknown = sorted({role for role in mapping.values() if role not in declared.input_roles})
        if unknown:  # validate refuses these (M019); a job written by hand still gets a reason
            raise ValueError(
                f"`inputs:` gives role(s) {', '.join(unknown)}, which the {task} task does not feed "
                f"(its roles: {', '.join(declared.input_roles)})"
            )
        resolution = resolve(declared, [i.name for i in graph_inputs], mapping)
        if resolution.absent:
            raise ValueError(
                f"`inputs:` maps {', '.join(resolution.absent)}, which the graph does not take "
                f"(its inputs: {', '.join(i.name for i in graph_inputs)})"
            )
        return cls(graph_inputs, resolution.roles)

    def names(self) -> list[str]:
        """What the backend reports as its input names: each role's key, or the input's own name."""
        return [ROLES[self.roles[i.name]].key if i.name in self.roles else i.name for i in self.graph_inputs]

    def feed(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The task's arrays by graph input name, fitted to the graph's declared shapes. An input the
        task did not build is left out (the backend names it as missing)."""
        out: dict[str, np.ndarray] = {}
        for graph_input in self.graph_inputs:
            role = self.roles.get(graph_input.name)
            key = ROLES[role].key if role else graph_input.name
            if role == "position_ids" and key not in inputs:
                array = _positions(inputs)
            elif key in inputs:
                array = np.asarray(inputs[key])
            else:
                continue
            out[graph_input.name] = _fit(role, array, graph_input)
        return out


def _declared(task: str | None) -> type[DeclaresInputs] | None:
    from grader.task_catalog import TASKS, task_declaration

    return task_declaration(task) if task in TASKS else None  # type: ignore[arg-type]


def _positions(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    ids = inputs.get(ROLES["token_ids"].key)
    if ids is None:
        raise ValueError("the graph takes position_ids, and the task built no token ids to count them by")
    rows, tokens = np.asarray(ids).shape
    return np.broadcast_to(np.arange(tokens, dtype=np.int64), (rows, tokens)).copy()


def _fit(role: str | None, array: np.ndarray, graph_input: GraphInput) -> np.ndarray:
    if role == "audio_features":
        return fit_features(array, graph_input)
    if role == "audio_lengths":
        return fit_lengths(array, graph_input)
    return array


def fit_features(features: np.ndarray, graph_input: GraphInput) -> np.ndarray:
    """[batch, bins, frames] features in the layout the graph declares (see the module docstring)."""
    dims = graph_input.dims
    if features.ndim != 3:
        raise ValueError(
            f"audio features must be [batch, mel bins, frames]; the task built {list(features.shape)}"
        )
    if dims is None:
        return features
    _, bins, frames = features.shape
    declared = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
    if len(dims) != 3:
        raise ValueError(
            f"the graph's input {graph_input.name!r} (audio_features) is declared {declared}, and the "
            f"task's features are three-dimensional: [batch, {bins} mel bins, frames]"
        )

    def fits(bins_axis: int) -> bool:
        # a static frame count only where the mel bins are static too: a lone static axis is the bins'
        frames_axis = 3 - bins_axis
        if dims[frames_axis] is None:
            return dims[bins_axis] in (None, bins)
        return dims[bins_axis] == bins and dims[frames_axis] >= frames

    # a static axis of exactly the mel bins decides first; with none, the extractor's own layout
    for bins_axis in sorted((1, 2), key=lambda axis: dims[axis] != bins):
        if fits(bins_axis) and bins_axis == 1:
            return _pad_frames(features, dims[2], axis=2)
        if fits(bins_axis):
            return _pad_frames(np.ascontiguousarray(features.transpose(0, 2, 1)), dims[1], axis=1)
    too_few = [d for axis in (1, 2) if dims[axis] == bins and (d := dims[3 - axis]) is not None]
    raise ValueError(
        f"the graph's input {graph_input.name!r} (audio_features) is declared {declared}, and the task's "
        f"features are {bins} mel bins × {frames} frames (preprocessor_config.json's feature_size and "
        f"the audio's length): neither [batch, {bins}, frames] nor [batch, frames, {bins}] fits"
        + (f": the graph takes at most {max(too_few)} frames" if too_few else "")
        + "; export the graph with dynamic frames (dynamic_axes) and the extractor's mel bins"
    )


def _pad_frames(features: np.ndarray, frames: int | None, *, axis: int) -> np.ndarray:
    if frames is None or features.shape[axis] == frames:
        return features
    widths = [(0, 0)] * 3
    widths[axis] = (0, frames - features.shape[axis])
    floor = features.min(axis=(1, 2), keepdims=True)
    padded = np.pad(features, widths)
    mask = np.zeros(padded.shape, dtype=bool)
    index = [slice(None)] * 3
    index[axis] = slice(features.shape[axis], None)
    mask[tuple(index)] = True
    return np.where(mask, floor, padded).astype(features.dtype)


def fit_lengths(lengths: np.ndarray, graph_input: GraphInput) -> np.ndarray:
    """One length per row as int64, [batch] or [batch, 1] as the graph's rank says."""
    values = np.asarray(lengths, dtype=np.int64).reshape(-1)
    rank = len(graph_input.dims) if graph_input.dims is not None else 1
    if rank == 1:
        return values
    if rank == 2:
        return values.reshape(-1, 1)
    raise ValueError(
        f"the graph's input {graph_input.name!r} (audio_lengths) has {rank} axes; lengths are one "
        "number per utterance, [batch] or [batch, 1]"
    )
