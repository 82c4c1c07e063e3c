"""Object detection: COCO mAP@0.5 (primary), mAP@0.5:0.95, and precision and recall at a fixed
score, of a YOLO export (YOLOv5, YOLOv8, YOLO11; raw head or NMS inside) run on letterboxed images.

Pre- and post-processing are the grader's (grader.harness.tasks.yolo), the same for every team:
letterbox to ``image_size`` (the size the model was exported at), decode the output layout its
shape names, the grader's NMS for raw heads, boxes mapped back to each original image. The number
of classes comes from config.json's ``id2label`` beside the model (else the dataset's label
count), and its names map the model's class ids onto the dataset's labels.

Scores come from pycocotools' COCOeval (``bbox``, every area, at most ``max_detections`` per
image): ``map50`` is its AP at IoU 0.5, ``map`` its AP averaged over IoU 0.50:0.05:0.95.
``precision`` and ``recall`` count the detections scoring at least ``score_threshold`` (0.25,
ultralytics' default for prediction) with COCOeval's own matching at IoU 0.5: precision = matched
/ kept detections (0 when none are kept), recall = matched / ground-truth boxes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, MetricInfo, Task

if TYPE_CHECKING:
    from grader.harness.tasks.common import LabelMap
    from grader.harness.tasks.yolo import Detections, Layout, Letterbox, NmsSettings

MAP50 = MetricInfo(direction="higher", bounded=True, label_en="mAP@0.5", label_ru="mAP@0.5")
MAP = MetricInfo(direction="higher", bounded=True, label_en="mAP@0.5:0.95", label_ru="mAP@0.5:0.95")
PRECISION = MetricInfo(
    direction="higher", bounded=True, label_en="Precision (score ≥ 0.25)", label_ru="Точность (score ≥ 0.25)"
)
RECALL = MetricInfo(
    direction="higher", bounded=True, label_en="Recall (score ≥ 0.25)", label_ru="Полнота (score ≥ 0.25)"
)
INPUT_NAME = "images"  # ultralytics' and YOLOv5's export name; a single input may be named anything


class ObjectDetection(Task):
    name = "object-detection"
    # Not a transformers head the grader decodes (DETR-style outputs are refused): YOLO weights
    # come as ONNX; the class is named because the transformers backend asks every task for one.
    model_heads = ("AutoModelForObjectDetection",)
    metrics = {"map50": MAP50, "map": MAP, "precision": PRECISION, "recall": RECALL}
    primary = "map50"
    fields = ("image", "boxes", "labels")
    label_field = "labels"
    default_params = {
        "image_size": 640,  # ultralytics' default export size
        "conf_threshold": 0.001,  # ultralytics' validation settings
        "iou_threshold": 0.7,
        "max_detections": 300,
        "score_threshold": 0.25,  # precision and recall only
        "seed": 0,  # the latency scene
    }

    # --- parameters ---------------------------------------------------------------------------

    def image_size(self) -> int:
        from grader.harness.tasks.common import task_error

        size = self.params["image_size"]
        if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 4096:
            raise task_error(
                "Q003",
                "the object-detection task's image_size is not a usable size",
                file="course.yaml",
                field="tasks.object-detection.params.image_size",
                expected="an integer between 32 and 4096: the size the models were exported at",
                found=repr(size),
            )
        return size

    def nms_settings(self) -> NmsSettings:
        from grader.harness.tasks.yolo import NmsSettings

        return NmsSettings(
            conf_threshold=float(self.params["conf_threshold"]),
            iou_threshold=float(self.params["iou_threshold"]),
            max_detections=int(self.params["max_detections"]),
        )

    # --- latency ------------------------------------------------------------------------------

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        """A fixed scene of shapes (grader.data.shapes, seeded), letterboxed to ``image_size``."""
        from grader.data.shapes import scene
        from grader.harness.tasks.common import pick_input
        from grader.harness.tasks.yolo import letterbox

        pixels, _ = letterbox(scene(int(self.params["seed"])).image, self.image_size())
        name = pick_input(input_names, INPUT_NAME, self.model_dir)
        return {name: np.repeat(pixels[None], batch_size, axis=0)}

    # --- quality ------------------------------------------------------------------------------

    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        from grader.harness.tasks.common import batches, dataset_labels, label_mapping, pick_input, run_batch
        from grader.harness.tasks.yolo import decode, letterbox

        labels = dataset_labels(data)
        mapping = label_mapping(self.model_dir, labels)
        classes = mapping.model_labels if mapping.model_labels is not None else len(labels)
        size, settings = self.image_size(), self.nms_settings()
        name = pick_input(backend.input_names(), INPUT_NAME, self.model_dir)
        found: list[Detections] = []
        for batch, real in batches(data.items, batch_size):
            prepared = [letterbox(item["image"], size) for item in batch]
            outputs = run_batch(backend, {name: np.stack([pixels for pixels, _ in prepared])})
            output = self._detection_output(outputs, len(batch))
            layout = self._layout(output.shape, classes)
            for row, (_, placed) in zip(output[:real], prepared[:real], strict=True):
                found.append(self._in_image(decode(row, layout, classes, settings), placed, mapping))
        return coco_scores(
            data.items, labels, found, settings.max_detections, float(self.params["score_threshold"])
        )

    def _in_image(self, detections: Detections, placed: Letterbox, mapping: LabelMap) -> Detections:
        """Boxes in the original image's pixels, classes as dataset label indices (a class the
        dataset lacks is dropped: COCO scores each dataset class on its own)."""
        from grader.harness.tasks.yolo import Detections

        classes = mapping.predictions(detections.classes)
        known = classes >= 0
        boxes = placed.to_image(detections.boxes[known]) if known.any() else np.zeros((0, 4))
        return Detections(boxes, detections.scores[known], classes[known])

    def _detection_output(self, outputs: Mapping[str, np.ndarray], batch: int) -> np.ndarray:
        """The first output (ultralytics' output0, YOLOv5's output), batch first."""
        from grader.harness.tasks.common import task_error

        if "pred_boxes" in outputs:
            raise task_error(
                "Q005",
                "the model returns DETR-style logits and pred_boxes, which the grader does not decode yet",
                file=self.model_dir,
                expected="a YOLO export: one output [batch, 4 + C, N], [batch, N, 5 + C] or [batch, N, 6]",
                found=", ".join(outputs),
                hint="export a YOLO model to ONNX (ultralytics: model.export(format='onnx'))",
            )
        output = np.asarray(next(iter(outputs.values())))
        if output.ndim != 3 or output.shape[0] != batch:
            raise self._no_layout(output.shape, None, f"a 3-D output with the batch ({batch}) first")
        return output

    def _layout(self, shape: tuple[int, ...], classes: int) -> Layout:
        from grader.harness.tasks.yolo import layouts_matching

        matching = layouts_matching(shape, classes)
        if len(matching) == 1:
            return matching[0]
        raise self._no_layout(shape, classes, f"it fits both {' and '.join(matching)}" if matching else "")

    def _no_layout(self, shape: tuple[int, ...], classes: int | None, why: str) -> Exception:
        from grader.harness.tasks.common import task_error
        from grader.harness.tasks.yolo import LAYOUT_SHAPES

        counted = "" if classes is None else f" for {classes} classes"
        return task_error(
            "Q005",
            f"the model's output {list(shape)} is not a YOLO detection layout the grader reads{counted}"
            + (f" ({why})" if why else ""),
            file=self.model_dir / "config.json",
            field="id2label",
            expected="; ".join(LAYOUT_SHAPES.values())
            + (f", with C = {classes}" if classes is not None else ""),
            found=str(list(shape)),
            hint="export with ultralytics (format='onnx', optionally nms=True) or YOLOv5's export.py, and "
            "keep config.json's id2label to the classes the head predicts",
        )


# --- scoring -----------------------------------------------------------------------------------


def coco_scores(
    items: Sequence[dict[str, Any]],
    labels: Sequence[str],
    detections: Sequence[Detections],
    max_detections: int,
    score_threshold: float,
) -> dict[str, float]:
    """Every metric of the task, from pycocotools' COCOeval (see the module docstring).

    ``items`` carry ``boxes`` ([x, y, w, h]) and ``labels`` (names in ``labels``); ``detections``
    one per item, x1, y1, x2, y2 in the image's pixels, classes as indices into ``labels``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    index = {name: i for i, name in enumerate(labels)}
    truth = COCO()
    truth.dataset = cast(Any, _coco_truth(items, labels, index))  # the stubs' TypedDict, built as JSON
    results = [
        {
            "image_id": image_id,
            "category_id": int(cls) + 1,
            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
            "score": float(score),
        }
        for image_id, found in enumerate(detections, start=1)
        for (x1, y1, x2, y2), score, cls in zip(found.boxes, found.scores, found.classes, strict=True)
    ]
    if not results:  # COCO.loadRes cannot take an empty list: nothing found scores 0
        return {"map50": 0.0, "map": 0.0, "precision": 0.0, "recall": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.params.maxDets = [1, 10, max_detections]
        evaluation.evaluate()
        evaluation.accumulate()
    # COCOeval.summarize's AP over 0.50:0.95 reads maxDets=100 whatever maxDets holds, so the
    # averages are taken here, as summarize does: precision[IoU, recall, class, area, maxDets],
    # every area, the last maxDets, over the cells that have ground truth (-1 marks the others).
    curves = evaluation.eval["precision"][:, :, :, 0, -1]
    precision, recall = _at_score(evaluation, score_threshold)
    return {"map50": _mean_ap(curves[0]), "map": _mean_ap(curves), "precision": precision, "recall": recall}


def _mean_ap(curves: np.ndarray) -> float:
    counted = curves[curves > -1]
    return float(counted.mean()) if counted.size else 0.0


def _coco_truth(
    items: Sequence[dict[str, Any]], labels: Sequence[str], index: dict[str, int]
) -> dict[str, Any]:
    """The eval items as a COCO ground truth: image ids 1..n, category ids 1..C in label order."""
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(items, start=1):
        for box, name in zip(item["boxes"], item["labels"], strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": index[name] + 1,
                    "bbox": [float(v) for v in box],
                    "area": float(box[2]) * float(box[3]),
                    "iscrowd": 0,
                }
            )
    return {
        "images": [{"id": i} for i in range(1, len(items) + 1)],
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(labels)],
    }


def _at_score(evaluation: Any, score_threshold: float) -> tuple[float, float]:
    """Precision and recall of the detections scoring at least ``score_threshold``, matched at IoU
    0.5 by COCOeval (greedy by score, so a kept detection's match never depends on a dropped one)."""
    every_area = evaluation.params.areaRng[0]
    matched = kept = truths = 0
    for image in evaluation.evalImgs:
        if image is None or image["aRng"] != every_area:
            continue
        scores = np.asarray(image["dtScores"], dtype=np.float64)
        counted = (scores >= score_threshold) & ~np.asarray(image["dtIgnore"][0], dtype=bool)
        matched += int(((np.asarray(image["dtMatches"][0]) > 0) & counted).sum())
        kept += int(counted.sum())
        truths += int((~np.asarray(image["gtIgnore"], dtype=bool)).sum())
    return (matched / kept if kept else 0.0), (matched / truths if truths else 0.0)
