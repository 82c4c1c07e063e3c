"""The object-detection task end to end on real onnxruntime sessions: tiny ONNX detectors that really
find the shipped shapes (tests/detector_models.py) score mAP 1.0 in each YOLO layout; one that
misses a column of the grid scores what the test computes from the annotations; a layout the
grader does not read is a FAILED measurement with its reason; the eval set is the generator's,
pinned; validation refuses a detector whose graph cannot fit."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from detector_models import build_detector
from harness_support import FAST_LATENCY, validated
from test_tasks_support import make_course

from grader.course import load_course
from grader.course.model import Course
from grader.data import shapes
from grader.data.synth import read_sums
from grader.errors import InputError
from grader.harness.backends.base import LoadSpec
from grader.harness.backends.onnxruntime import OnnxRuntimeBackend
from grader.harness.data import SHIPPED_DIR, load_eval_data
from grader.harness.measure import measure_submission
from grader.harness.models import Status
from grader.harness.tasks.base import EvalData
from grader.harness.tasks.object_detection import ObjectDetection
from grader.harness.tasks.yolo import NmsSettings, decode, letterbox
from grader.validate.manifest import validate_manifest

REPO = Path(__file__).resolve().parent.parent
SIZE = 144  # the scenes' width: letterboxing pads 24 rows above and below, at scale 1
SETTINGS = NmsSettings(conf_threshold=0.001, iou_threshold=0.7, max_detections=300)


@pytest.fixture(scope="module")
def data() -> EvalData:
    course = make_course({"shapes": {"task": "object-detection", "source": {"builtin": "shapes-test"}}})
    return load_eval_data("shapes", course, REPO)


def evaluate(folder: Path, data: EvalData, size: int = SIZE, batch_size: int = 4) -> dict[str, float]:
    spec = LoadSpec(model_dir=folder, format="onnx", model_file="model.onnx")
    with OnnxRuntimeBackend(spec) as backend:
        return ObjectDetection(folder, {"image_size": size}).evaluate(backend, data, batch_size)


# --- the eval data ---------------------------------------------------------------------------------


def test_the_generator_is_deterministic_and_made_the_pinned_files() -> None:
    first, again = shapes.eval_scenes(), shapes.eval_scenes()
    assert all(
        np.array_equal(a.image, b.image) and a.shapes == b.shapes for a, b in zip(first, again, strict=True)
    )
    assert shapes.check() == []  # shipped pixels and annotations == the generator's
    sums = read_sums(SHIPPED_DIR)
    folder = SHIPPED_DIR / shapes.EVAL_NAME
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == shapes.EVAL_COUNT + 1 and sum((folder / f).stat().st_size for f in files) < 300_000
    for name in files:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sums[f"shapes-test/{name}"], name


def test_every_box_is_the_exact_extent_of_its_shape(data: EvalData) -> None:
    # Recomputed from the decoded PNGs: within a box's grid cell, the pixels that are not the
    # background grey span exactly the box (one shape per cell, by construction).
    assert data.labels == list(shapes.CLASSES) and len(data.items) == shapes.EVAL_COUNT
    total = 0
    for item in data.items:
        image = item["image"].astype(int)
        background = image[0, 0]
        assert 2 <= len(item["boxes"]) <= 5
        for (x, y, w, h), label in zip(item["boxes"], item["labels"], strict=True):
            column, row = int(x) // shapes.CELL, int(y) // shapes.CELL
            cell = image[row * 48 : row * 48 + 48, column * 48 : column * 48 + 48]
            ink = np.abs(cell - background).max(axis=2) > 0
            ys, xs = np.nonzero(ink)
            assert (
                xs.min() + column * 48,
                ys.min() + row * 48,
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1,
            ) == (
                x,
                y,
                w,
                h,
            )
            colour = cell[ink].mean(axis=0)
            assert np.abs(colour - np.array(shapes.COLOURS[label])).max() <= shapes.JITTER
            total += 1
    assert total == 113


def test_a_coco_folder_loads_through_path_like_the_builtin(tmp_path: Path, data: EvalData) -> None:
    shutil.copytree(SHIPPED_DIR / "shapes-test", tmp_path / "shapes")
    course = make_course(
        {"mine": {"task": "object-detection", "source": {"path": "shapes"}, "labels": list(shapes.CLASSES)}}
    )
    mine = load_eval_data("mine", course, tmp_path)
    assert mine.digest == data.digest
    annotations = json.loads((tmp_path / "shapes" / "annotations.json").read_text())
    annotations["annotations"][0]["category_id"] = 9
    (tmp_path / "shapes" / "annotations.json").write_text(json.dumps(annotations))
    with pytest.raises(InputError) as refused:
        load_eval_data("mine", course, tmp_path)
    assert (
        refused.value.findings[0].code == "E004"
        and "unknown category_id 9" in refused.value.findings[0].message
    )


# --- pre- and post-processing ----------------------------------------------------------------------


def test_letterbox_centres_the_image_and_boxes_map_back() -> None:
    image = np.zeros((96, 144, 3), dtype=np.uint8)
    image[10:20, 30:50] = 255
    pixels, placed = letterbox(image, 288)  # scale 2, 48 grey rows above and below
    assert pixels.shape == (3, 288, 288) and pixels.dtype == np.float32
    assert (placed.scale, placed.top, placed.left) == (2.0, 48, 0)
    assert np.allclose(pixels[:, :48], 114 / 255) and np.allclose(pixels[:, 48 + 192 :], 114 / 255)
    assert np.allclose(pixels[:, 48 + 22 : 48 + 38, 62:98], 1.0)  # the white block, inside its blend
    back = placed.to_image(np.array([[60.0, 68.0, 100.0, 88.0], [-10.0, 0.0, 400.0, 300.0]]))
    assert back.tolist() == [[30.0, 10.0, 50.0, 20.0], [0.0, 0.0, 144.0, 96.0]]  # clipped to the image


def test_the_grader_nms_keeps_the_best_box_per_class() -> None:
    # [4 + C, N] with C = 2: two overlapping boxes of class 0 (IoU 0.82), one of class 1 on top of them
    boxes = np.array([[50, 50, 20, 20], [51, 50, 20, 20], [50, 50, 20, 20], [10, 10, 4, 4]], dtype=np.float64)
    scores = np.array([[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.0005, 0.0]])
    found = decode(np.concatenate([boxes, scores], axis=1).T, "yolov8", 2, SETTINGS)
    assert found.classes.tolist() == [0, 1] and found.scores.tolist() == [0.9, 0.7]
    assert found.boxes.tolist() == [[40.0, 40.0, 60.0, 60.0], [40.0, 40.0, 60.0, 60.0]]
    # YOLOv5: score = objectness × class probability, below the threshold dropped
    v5 = np.array([[50, 50, 20, 20, 0.5, 0.2, 0.8], [10, 10, 4, 4, 0.0001, 1.0, 0.0]])
    found = decode(v5, "yolov5", 2, SETTINGS)
    assert found.classes.tolist() == [1, 0] and np.allclose(found.scores, [0.4, 0.1])


# --- quality on real sessions ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["yolov8", "yolov5", "nms"])
def test_a_detector_that_finds_every_shape_scores_map_1(tmp_path: Path, data: EvalData, layout: str) -> None:
    build_detector(tmp_path, image_size=SIZE, layout=layout)
    assert evaluate(tmp_path, data) == {"map50": 1.0, "map": 1.0, "precision": 1.0, "recall": 1.0}


def test_class_names_are_matched_by_name_not_position(tmp_path: Path, data: EvalData) -> None:
    # the head predicts square, circle, triangle; config.json names them so, in another key order
    build_detector(tmp_path, image_size=SIZE, id2label={"2": "triangle", "0": "square", "1": "circle"})
    assert evaluate(tmp_path, data, batch_size=3)["map50"] == 1.0
    build_detector(tmp_path, image_size=SIZE, id2label={"0": "circle", "1": "square", "2": "triangle"})
    swapped = evaluate(tmp_path, data)  # squares called circles and back: only triangles are right
    triangles = sum(label == "triangle" for item in data.items for label in item["labels"])
    assert swapped["map50"] == pytest.approx(1 / 3)
    assert swapped["recall"] == pytest.approx(triangles / 113) and swapped["precision"] == pytest.approx(
        triangles / 113
    )


def test_a_detector_blind_to_the_right_column_scores_what_it_found(tmp_path: Path, data: EvalData) -> None:
    keep = np.array([[1, 1, 0], [1, 1, 0]])
    build_detector(tmp_path, image_size=SIZE, keep=keep)
    scores = evaluate(tmp_path, data)
    # Independently: every found box is exact (precision 1), the right third's shapes are missed.
    # COCO's AP of a class is the share of its 101 recall thresholds 0, 0.01, ..., 1 at or below
    # the recall reached, as every found box outranks nothing wrong.
    found = {name: 0 for name in shapes.CLASSES}
    total = {name: 0 for name in shapes.CLASSES}
    for item in data.items:
        for (x, _, _, _), label in zip(item["boxes"], item["labels"], strict=True):
            total[label] += 1
            found[label] += int(x < 2 * shapes.CELL)
    ap = [float(np.mean(np.linspace(0, 1, 101) <= found[c] / total[c])) for c in shapes.CLASSES]
    assert 0 < sum(found.values()) < 113
    assert scores["map50"] == pytest.approx(np.mean(ap)) and scores["map"] == pytest.approx(np.mean(ap))
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(sum(found.values()) / sum(total.values()))


def test_an_unknown_layout_is_a_finding_not_a_crash(tmp_path: Path, data: EvalData) -> None:
    build_detector(tmp_path, image_size=SIZE, layout="wrong")
    with pytest.raises(InputError) as refused:
        evaluate(tmp_path, data)
    finding = refused.value.findings[0]
    assert finding.code == "Q005" and "[4, 5, 18] is not a YOLO detection layout" in finding.message
    assert "C = 3" in finding.expected


# --- through the harness and validation -----------------------------------------------------------


def detection_course() -> Course:
    return Course.model_validate(
        {
            "name": {"ru": "Тест", "en": "Test"},
            "language": "en",
            "runner": {
                "devices": ["cpu"],
                "threads": {"intra_op": 1, "inter_op": 1},
                "speed": {"min_rounds": 2, "max_rounds": 2},
                "latency": FAST_LATENCY,
                "limits": {"phase_timeout_s": 120, "memory_mib": 8192, "artifact_max_mib": 100},
            },
            "tasks": {"object-detection": {"dataset": "shapes", "params": {"image_size": SIZE}}},
            "datasets": {
                "shapes": {"task": "object-detection", "source": {"builtin": "shapes-test"}, "limit": 8}
            },
            "homeworks": [{"id": 2, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["quantization"]}],
            "teams": {"team": {"members": ["someone"]}},
        }
    )


def test_measure_grades_a_detector_and_fails_a_wrong_layout_with_its_reason(tmp_path: Path) -> None:
    hw = tmp_path / "submissions" / "team" / "hw-2"
    build_detector(hw / "raw", image_size=SIZE)
    build_detector(hw / "wrong", image_size=SIZE, layout="wrong")
    submission = validated(
        tmp_path,
        "object-detection",
        [("raw/model.onnx", {"format": "onnx"}), ("wrong/model.onnx", {"format": "onnx"})],
    )
    run = measure_submission(submission, detection_course(), tmp_path, use_zygote=False)
    base, wrong = run.model("baseline"), run.model("models[0]")
    assert base is not None and wrong is not None
    assert base.status is Status.OK, base.reason
    assert base.quality is not None and base.quality.n == 8
    assert base.quality.metrics == {"map50": 1.0, "map": 1.0, "precision": 1.0, "recall": 1.0}
    assert base.devices["cpu"].latency is not None  # timed on the course's image size
    quality = next(p for p in wrong.phases if p.phase == "quality")
    assert wrong.status is Status.FAILED and quality.status is Status.FAILED
    assert "is not a YOLO detection layout" in (quality.reason or "") and "Traceback" not in (
        quality.reason or ""
    )


MANIFEST = """\
schema_version: 1
team: ml_masters
homework: 2
task: object-detection
baseline:
  name: yolo
  format: onnx
  artifact: {path: onnx/model.onnx}
"""


def artifact_findings(repo: Path) -> list[Any]:
    """`grader validate` of the manifest against the repository's own course.yaml: the A codes."""
    manifest = repo / "submissions" / "ml_masters" / "hw-2" / "submission.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    result = validate_manifest(manifest, load_course(repo / "course.yaml"), repo)
    return [f for f in result.findings if f.code.startswith("A")]


def test_validation_names_what_a_detector_export_lacks(tmp_path: Path) -> None:
    shutil.copy(REPO / "course.yaml", tmp_path / "course.yaml")  # it grades object-detection
    folder = tmp_path / "submissions" / "ml_masters" / "hw-2" / "onnx"
    build_detector(folder, image_size=SIZE)
    line = MANIFEST.splitlines().index("  artifact: {path: onnx/model.onnx}") + 1
    assert artifact_findings(tmp_path) == []
    (folder / "config.json").unlink()
    missing = artifact_findings(tmp_path)
    assert [(f.code, f.location.line) for f in missing] == [("A016", line), ("A017", line)]
    assert "config.json" in missing[0].message and "object-detection" in missing[0].message
    build_detector(folder, image_size=SIZE, layout="wrong")
    wrong = artifact_findings(tmp_path)
    assert [(f.code, f.location.line, f.found) for f in wrong] == [("A020", line, "[batch, 5, 18]")]
