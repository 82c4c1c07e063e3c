"""An ONNX detector's inputs and outputs, checked before the runner loads it (object-detection).

The harness feeds one letterboxed RGB image batch, ``[batch, 3, S, S]``, and reads the first output
as one of the YOLO layouts (grader.yolo_layouts) for the classes config.json's ``id2label`` names.
A graph that cannot fit is refused here with its shapes (A019 for the input, A020 for the output),
not after a runner has loaded it. Symbolic dimensions fit any size; without id2label the class
count is the dataset's, which validation does not load, so only the output's rank is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.findings import Finding, Location
from grader.jsonio import read_json
from grader.yolo_layouts import LAYOUT_SHAPES, layouts_matching

TASK = "object-detection"
CONFIG_MAX_BYTES = 64 * 2**20


def _dims(value_info: Any) -> list[int | None] | None:
    """The declared shape (None for a symbolic or unknown dimension), or None without a shape."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor.shape.dim]


def _shown(value_info: Any) -> str:
    """The shape as the graph declares it: sizes, symbolic names, ? for unknown."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return "[?]"
    return (
        "["
        + ", ".join(
            str(d.dim_value) if d.HasField("dim_value") else d.dim_param or "?" for d in tensor.shape.dim
        )
        + "]"
    )


def _classes(folder: Path) -> int | None:
    config = folder / "config.json"
    if not config.is_file() or config.is_symlink():
        return None
    read = read_json(config, CONFIG_MAX_BYTES)
    labels = read.data.get("id2label") if read.problem is None and isinstance(read.data, dict) else None
    return len(labels) if isinstance(labels, dict) and labels else None


def detection_graph_findings(
    model: Any, task: str | None, model_file: Path, location: Location
) -> list[Finding]:
    """A019 for an input that is not one image batch, A020 for an output no YOLO layout fits."""
    if task != TASK:
        return []
    constants = {tensor.name for tensor in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in constants]
    findings = []
    shape = _dims(inputs[0]) if len(inputs) == 1 else None
    if len(inputs) != 1 or (shape is not None and (len(shape) != 4 or shape[1] not in (None, 3))):
        findings.append(
            Finding(
                code="A019",
                location=location,
                message=f"{model_file.name} does not take one RGB image batch, which the {TASK} task feeds",
                expected="one input [batch, 3, S, S] (ultralytics names it `images`)",
                found=", ".join(f"{i.name} {_shown(i)}" for i in inputs) or "no inputs",
                hint="export the detector alone (ultralytics: model.export(format='onnx', imgsz=S))",
            )
        )
    if not model.graph.output:
        return findings
    output = model.graph.output[0]
    dims = _dims(output)
    if dims is None:
        return findings
    classes = _classes(model_file.parent)
    fits = len(dims) == 3 if classes is None else bool(layouts_matching(dims, classes))
    if not fits:
        counted = "" if classes is None else f" for the {classes} classes of config.json's id2label"
        findings.append(
            Finding(
                code="A020",
                location=location,
                message=f"{model_file.name}'s output {output.name} {_shown(output)} is not a YOLO detection "
                f"layout{counted}",
                expected="; ".join(LAYOUT_SHAPES.values()),
                found=_shown(output),
                hint="export with ultralytics (format='onnx', optionally nms=True) or YOLOv5's export.py; "
                "keep id2label to the classes the head predicts",
            )
        )
    return findings
