"""YOLO pre- and post-processing in numpy: letterboxing, the standard ONNX output layouts, and the
grader's own fixed NMS.

Letterbox (as ultralytics' ``LetterBox(auto=False)`` at export): the image is scaled by
``r = min(S / h, S / w)`` to ``round(w·r)`` × ``round(h·r)`` (PIL bilinear; ultralytics uses
OpenCV's, which differs only when shrinking, where PIL also anti-aliases), centred on an
``S`` × ``S`` canvas of grey 114 (``top = round(dh - 0.1)``, ``left = round(dw - 0.1)``), then fed
as RGB, channels first, divided by 255. Boxes go back by ``(x - left) / r``, clipped to the image.

Output layouts, told apart by the first output's shape and the number of classes C:

- ``yolov8``: ``[B, 4 + C, N]`` (YOLOv8 / YOLO11 raw head): cx, cy, w, h in input pixels, then C
  class scores;
- ``yolov5``: ``[B, N, 5 + C]``: cx, cy, w, h, objectness, C class probabilities (score =
  objectness × class probability);
- ``nms``: ``[B, N, 6]`` (ultralytics ``nms=True``, and end-to-end heads such as YOLOv10's):
  x1, y1, x2, y2, score, class id, already suppressed by the model.

The raw layouts go through the grader's NMS, the same for every team: every (box, class) pair
scoring above ``conf_threshold`` is a candidate (multi-label, as ultralytics' validation), at most
``MAX_CANDIDATES`` by score, then greedy per-class NMS at ``iou_threshold`` (a box is suppressed by
a better one of its class with IoU above it), keeping ``max_detections``. The ``nms`` layout keeps
the model's own detections above ``conf_threshold``, the best ``max_detections`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.yolo_layouts import LAYOUT_SHAPES, Layout, layouts_matching

__all__ = ["LAYOUT_SHAPES", "Detections", "Layout", "Letterbox", "NmsSettings", "decode", "layouts_matching"]

PAD_VALUE = 114
MAX_CANDIDATES = 30_000  # ultralytics' max_nms
_CLASS_OFFSET = 7680.0  # ultralytics' max_wh: boxes of different classes never overlap after it


@dataclass(frozen=True)
class Letterbox:
    """Where an image went on the model's square canvas."""

    scale: float
    left: int
    top: int
    width: int  # the original image's
    height: int

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """x1, y1, x2, y2 boxes in input pixels → the original image's pixels, clipped to it."""
        out = (boxes - np.array([self.left, self.top, self.left, self.top], dtype=np.float64)) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out


def rgb_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1..4) of any numeric dtype → (H, W, 3) uint8 (alpha dropped)."""
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] in (2, 4):
        pixels = pixels[:, :, : pixels.shape[2] - 1]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if pixels.dtype != np.uint8:
        pixels = np.clip(np.rint(pixels.astype(np.float64)), 0, 255).astype(np.uint8)
    return pixels


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """An eval image → float32 [3, size, size] in [0, 1], and how to map boxes back."""
    from PIL import Image

    pixels = rgb_uint8(image)
    height, width = pixels.shape[:2]
    scale = min(size / height, size / width)
    new_w, new_h = round(width * scale), round(height * scale)
    if (new_w, new_h) != (width, height):
        pixels = np.asarray(
            Image.fromarray(pixels).resize((new_w, new_h), resample=Image.Resampling.BILINEAR)
        )
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    top, left = round(dh - 0.1), round(dw - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = pixels
    chw = canvas.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return chw, Letterbox(scale=scale, left=left, top=top, width=width, height=height)


@dataclass(frozen=True)
class Detections:
    """One image's detections, in input pixels: x1, y1, x2, y2 boxes, scores, model class ids."""

    boxes: np.ndarray  # [K, 4] float64
    scores: np.ndarray  # [K] float64
    classes: np.ndarray  # [K] int64


@dataclass(frozen=True)
class NmsSettings:
    conf_threshold: float
    iou_threshold: float
    max_detections: int


def decode(prediction: np.ndarray, layout: Layout, classes: int, settings: NmsSettings) -> Detections:
    """One image's slice of the output (the batch axis removed) → its detections."""
    rows = np.asarray(prediction, dtype=np.float64)
    if layout == "nms":
        return _model_nms(rows, classes, settings)
    if layout == "yolov8":
        rows = rows.T  # [N, 4 + C]
        boxes, scores = _xyxy(rows[:, :4]), rows[:, 4:]
    else:
        objectness = rows[:, 4]
        rows = rows[objectness > settings.conf_threshold]
        boxes, scores = _xyxy(rows[:, :4]), rows[:, 5:] * rows[:, 4:5]
    finite = np.isfinite(boxes).all(axis=1)
    index, cls = np.nonzero((scores > settings.conf_threshold) & finite[:, None])
    candidate_scores = scores[index, cls]
    if candidate_scores.size > MAX_CANDIDATES:
        best = np.argsort(-candidate_scores, kind="stable")[:MAX_CANDIDATES]
        index, cls, candidate_scores = index[best], cls[best], candidate_scores[best]
    keep = nms(boxes[index] + (cls * _CLASS_OFFSET)[:, None], candidate_scores, settings)
    return Detections(boxes[index[keep]], candidate_scores[keep], cls[keep].astype(np.int64))


def _model_nms(rows: np.ndarray, classes: int, settings: NmsSettings) -> Detections:
    class_ids = np.rint(np.nan_to_num(rows[:, 5], nan=-1.0)).astype(np.int64)
    valid = (
        (rows[:, 4] > settings.conf_threshold)
        & np.isfinite(rows[:, :4]).all(axis=1)
        & (class_ids >= 0)
        & (class_ids < classes)
    )
    rows, class_ids = rows[valid], class_ids[valid]
    best = np.argsort(-rows[:, 4], kind="stable")[: settings.max_detections]
    return Detections(rows[best, :4], rows[best, 4], class_ids[best])


def _xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half = cxcywh[:, 2:4] / 2
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one x1, y1, x2, y2 box with each of ``others``."""
    width = (np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])).clip(min=0)
    height = (np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])).clip(min=0)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, settings: NmsSettings) -> np.ndarray:
    """Indices kept by greedy NMS, best score first (ties: the earlier candidate first)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < settings.max_detections:
        best, order = order[0], order[1:]
        keep.append(int(best))
        order = order[box_iou(boxes[best], boxes[order]) <= settings.iou_threshold]
    return np.array(keep, dtype=np.int64)
