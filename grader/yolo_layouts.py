"""The YOLO ONNX output layouts the object-detection task reads, by shape: what validation checks
before a run and the harness decodes (grader.harness.tasks.yolo), kept below both stages.

C is the number of classes; N the number of candidate boxes (any); the batch comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Layout = Literal["yolov8", "yolov5", "nms"]

LAYOUT_SHAPES: dict[Layout, str] = {
    "yolov8": "[batch, 4 + C, N] (YOLOv8/YOLO11 raw head)",
    "yolov5": "[batch, N, 5 + C] (YOLOv5, with objectness)",
    "nms": "[batch, N, 6] (NMS inside: x1, y1, x2, y2, score, class)",
}


def layouts_matching(shape: Sequence[int | None], classes: int) -> list[Layout]:
    """The layouts an output of ``shape`` fits for ``classes`` classes: none, one, or several (one
    class: YOLOv5's [B, N, 6] is NMS-inside's shape). A dimension given as None (symbolic in the
    graph) fits any size."""
    if len(shape) != 3:
        return []

    def fits(dim: int | None, size: int) -> bool:
        return dim is None or dim == size

    found: list[Layout] = []
    if fits(shape[1], 4 + classes):
        found.append("yolov8")
    if fits(shape[2], 5 + classes):
        found.append("yolov5")
    if fits(shape[2], 6):
        found.append("nms")
    return found
