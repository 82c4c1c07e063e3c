"""Tiny ONNX "detectors" that really find the shapes of grader.data.shapes, built with onnx.helper.

The graph letterboxes nothing itself: it reads the grader's letterboxed input, cuts out the image
(it knows where the letterbox put it: ``top``, ``left``, integer ``scale``), splits it into the
generator's grid of cells, and in each cell marks the pixels within ``TOLERANCE`` of each class's
colour (every channel). A candidate per (class, cell) has the extent of its marked pixels as its box
and score 1 if any pixel is marked, else 0, so on the generator's scenes (at most one shape per
cell, jitter well inside the tolerance) it returns every box exactly. ``keep`` zeroes the score of
chosen cells (a detector that misses part of the image).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from grader.data.shapes import CELL, CLASSES, COLOURS, GRID_COLUMNS, GRID_ROWS, HEIGHT, WIDTH

TOLERANCE = 40 / 255  # the generator's jitter is 12 / 255; background and other classes are far
BIG = 1e6


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def build_detector(
    folder: Path,
    *,
    image_size: int,
    layout: str = "yolov8",
    keep: np.ndarray | None = None,
    id2label: dict[str, str] | None = None,
) -> Path:
    """Write ``folder/model.onnx`` and ``folder/config.json``; return the model file.

    ``layout``: yolov8 ``[B, 4 + C, N]``, yolov5 ``[B, N, 5 + C]``, nms ``[B, N, 6]`` or
    ``wrong`` (``[B, 5, N]``, a layout the grader does not read)."""
    scale = min(image_size / HEIGHT, image_size / WIDTH)
    assert scale == int(scale), "the detector needs an integer letterbox scale"
    s = int(scale)
    height, width, cell = HEIGHT * s, WIDTH * s, CELL * s
    top, left = round((image_size - height) / 2 - 0.1), round((image_size - width) / 2 - 0.1)
    classes, rows, columns = len(CLASSES), GRID_ROWS, GRID_COLUMNS
    n = classes * rows * columns
    colours = (
        np.array([COLOURS[c] for c in CLASSES], dtype=np.float32).reshape(classes, 1, 3, 1, 1, 1, 1) / 255
    )
    xs = (left + np.arange(columns)[:, None] * cell + np.arange(cell)[None, :]).astype(np.float32)
    ys = (top + np.arange(rows)[:, None] * cell + np.arange(cell)[None, :]).astype(np.float32)[:, :, None]
    keep_cells = np.ones((rows, columns), dtype=np.float32) if keep is None else keep.astype(np.float32)
    onehot = np.repeat(np.eye(classes, dtype=np.float32), rows * columns, axis=0)  # [N, C], class-major
    class_ids = np.repeat(np.arange(classes, dtype=np.float32), rows * columns).reshape(n, 1)

    nodes = [
        _const("starts", np.array([top, left], dtype=np.int64)),
        _const("ends", np.array([top + height, left + width], dtype=np.int64)),
        _const("axes", np.array([2, 3], dtype=np.int64)),
        helper.make_node("Slice", ["images", "starts", "ends", "axes"], ["content"]),
        _const("cells_shape", np.array([0, 3, rows, cell, columns, cell], dtype=np.int64)),
        helper.make_node("Reshape", ["content", "cells_shape"], ["cells"]),
        _const("zero_axis", np.array([0], dtype=np.int64)),
        helper.make_node("Unsqueeze", ["cells", "zero_axis"], ["cells1"]),
        _const("colours", colours),
        helper.make_node("Sub", ["cells1", "colours"], ["diff"]),
        helper.make_node("Abs", ["diff"], ["absdiff"]),
        helper.make_node("ReduceMax", ["absdiff"], ["distance"], axes=[2], keepdims=0),  # [C,B,GY,CH,GX,CW]
        _const("tolerance", np.array(TOLERANCE, dtype=np.float32)),
        helper.make_node("Less", ["distance", "tolerance"], ["marked_bool"]),
        helper.make_node("Cast", ["marked_bool"], ["marked"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["marked"], ["in_column"], axes=[3], keepdims=0),  # [C,B,GY,GX,CW]
        helper.make_node("ReduceMax", ["marked"], ["in_row"], axes=[5], keepdims=0),  # [C,B,GY,CH,GX]
        helper.make_node("ReduceMax", ["in_column"], ["present"], axes=[4], keepdims=0),  # [C,B,GY,GX]
        _const("xs", xs),
        _const("ys", ys),
        _const("one", np.array(1.0, dtype=np.float32)),
        _const("big", np.array(BIG, dtype=np.float32)),
        # x1 = min x over marked columns (unmarked ones pushed to BIG), x2 = max (x + 1)
        helper.make_node("Sub", ["one", "in_column"], ["no_column"]),
        helper.make_node("Mul", ["no_column", "big"], ["column_push"]),
        helper.make_node("Mul", ["in_column", "xs"], ["marked_xs"]),
        helper.make_node("Add", ["marked_xs", "column_push"], ["x_low"]),
        helper.make_node("ReduceMin", ["x_low"], ["x1_raw"], axes=[4], keepdims=0),
        helper.make_node("Add", ["xs", "one"], ["xs_end"]),
        helper.make_node("Mul", ["in_column", "xs_end"], ["x_high"]),
        helper.make_node("ReduceMax", ["x_high"], ["x2"], axes=[4], keepdims=0),
        helper.make_node("Sub", ["one", "in_row"], ["no_row"]),
        helper.make_node("Mul", ["no_row", "big"], ["row_push"]),
        helper.make_node("Mul", ["in_row", "ys"], ["marked_ys"]),
        helper.make_node("Add", ["marked_ys", "row_push"], ["y_low"]),
        helper.make_node("ReduceMin", ["y_low"], ["y1_raw"], axes=[3], keepdims=0),
        helper.make_node("Add", ["ys", "one"], ["ys_end"]),
        helper.make_node("Mul", ["in_row", "ys_end"], ["y_high"]),
        helper.make_node("ReduceMax", ["y_high"], ["y2"], axes=[3], keepdims=0),
        helper.make_node("Mul", ["x1_raw", "present"], ["x1"]),  # empty cells: a zero box
        helper.make_node("Mul", ["y1_raw", "present"], ["y1"]),
        _const("keep_cells", keep_cells),
        helper.make_node("Mul", ["present", "keep_cells"], ["score_cells"]),
        _const("half", np.array(0.5, dtype=np.float32)),
        helper.make_node("Add", ["x1", "x2"], ["x_sum"]),
        helper.make_node("Mul", ["x_sum", "half"], ["cx"]),
        helper.make_node("Add", ["y1", "y2"], ["y_sum"]),
        helper.make_node("Mul", ["y_sum", "half"], ["cy"]),
        helper.make_node("Sub", ["x2", "x1"], ["w"]),
        helper.make_node("Sub", ["y2", "y1"], ["h"]),
        _const("last_axis", np.array([4], dtype=np.int64)),
        _const("rows_shape", np.array([0, n, 1], dtype=np.int64)),
    ]
    for name in ("cx", "cy", "w", "h", "x1", "y1", "x2", "y2", "score_cells"):
        # [C, B, GY, GX] → [B, C, GY, GX] → [B, N, 1], candidates class-major as `onehot`
        nodes += [
            helper.make_node("Transpose", [name], [f"{name}_t"], perm=[1, 0, 2, 3]),
            helper.make_node("Reshape", [f"{name}_t", "rows_shape"], [f"{name}_n"]),
        ]
    nodes += [
        _const("onehot", onehot),
        _const("class_ids", class_ids),
        helper.make_node("Mul", ["score_cells_n", "onehot"], ["class_scores"]),  # [B, N, C]
        _const("zero", np.array(0.0, dtype=np.float32)),
        helper.make_node("Mul", ["score_cells_n", "zero"], ["zeros_n"]),
        helper.make_node("Add", ["zeros_n", "class_ids"], ["class_n"]),
        helper.make_node("Concat", ["cx_n", "cy_n", "w_n", "h_n", "class_scores"], ["v8_rows"], axis=2),
        helper.make_node("Transpose", ["v8_rows"], ["v8"], perm=[0, 2, 1]),
        helper.make_node(
            "Concat", ["cx_n", "cy_n", "w_n", "h_n", "score_cells_n", "class_scores"], ["v5"], axis=2
        ),
        helper.make_node(
            "Concat", ["x1_n", "y1_n", "x2_n", "y2_n", "score_cells_n", "class_n"], ["nms"], axis=2
        ),
        _const("wrong_starts", np.array([0], dtype=np.int64)),
        _const("wrong_ends", np.array([5], dtype=np.int64)),
        _const("wrong_axes", np.array([1], dtype=np.int64)),
        helper.make_node("Slice", ["v8", "wrong_starts", "wrong_ends", "wrong_axes"], ["wrong"]),
        helper.make_node("Identity", [{"yolov8": "v8", "yolov5": "v5"}.get(layout, layout)], ["output0"]),
    ]
    shapes = {"yolov8": [None, 4 + classes, n], "yolov5": [None, n, 5 + classes], "nms": [None, n, 6]}
    shapes["wrong"] = [None, 5, n]
    inputs = [
        helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, image_size, image_size])
    ]
    out_shape = ["batch", *shapes[layout][1:]]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)]
    graph = helper.make_graph(nodes, "shape-detector", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    labels = id2label if id2label is not None else {str(i): name for i, name in enumerate(CLASSES)}
    (folder / "config.json").write_text(json.dumps({"id2label": labels}), encoding="utf-8")
    return folder / "model.onnx"
