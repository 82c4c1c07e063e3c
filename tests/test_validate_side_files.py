"""An exported model needs its task's side files beside it; validation names the missing one (A016)
and warns about a classifier whose classes have no names (A017)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness_support import write_tokenizer
from test_validate_manifest import VALID, Repo, errors, line_of, warnings

from grader.findings import Location, Severity
from grader.harness.tasks import TASKS
from grader.validate.side_files import LABELLED, REQUIRED, side_file_findings

ONNX_ENTRY = "    format: onnx\n    artifact:\n      path: onnx/model.onnx\n"
LABELS = {"id2label": {"0": "negative", "1": "positive"}}


def tiny_onnx(path: Path) -> None:
    """A one-node graph with one weight: enough for validation's ONNX checks."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), name="w")
    graph = helper.make_graph(
        # The input is named as a text model's (A019 checks inputs against the task; an image
        # model's only input may have any name).
        [helper.make_node("MatMul", ["input_ids", "w"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)  # its course grades text- and image-classification


def put_onnx(repo: Repo, task: str = "text-classification") -> tuple[str, Path]:
    """The fixture manifest whose int8 model is an ONNX file in onnx/, and that folder."""
    text = VALID.replace("    artifact:\n      path: model/\n", ONNX_ENTRY)
    text = text.replace("task: text-classification", f"task: {task}")
    if task != "text-classification":
        text = text.replace("      quality:\n        accuracy: 0.865\n", "")
    assert ONNX_ENTRY in text
    manifest = repo.put(text, model=False)
    folder = manifest.parent / "onnx"
    tiny_onnx(folder / "model.onnx")
    return text, folder


def codes(result) -> list[str]:
    return [f.code for f in result.findings if f.code in ("A016", "A017")]


def test_a_bare_onnx_export_names_the_missing_tokenizer_and_labels(repo: Repo) -> None:
    text, _ = put_onnx(repo)
    result = repo.validate(repo.root / "submissions/ml_masters/hw-2/submission.yaml")
    line = line_of(text, "path: onnx/model.onnx")
    assert errors(result) == [("A016", line)]
    assert ("A017", line) in warnings(result)
    a016 = next(f for f in result.findings if f.code == "A016")
    assert "tokenizer.json" in a016.message and "text-classification" in a016.message
    assert a016.location.field == "models[0].artifact.path"
    assert "save_pretrained" in a016.hint
    a017 = next(f for f in result.findings if f.code == "A017")
    assert a017.severity is Severity.WARNING and a017.found == "no config.json"


def test_an_export_with_its_side_files_validates_cleanly(repo: Repo) -> None:
    _, folder = put_onnx(repo)
    write_tokenizer(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", **LABELS}), encoding="utf-8")
    result = repo.validate(repo.root / "submissions/ml_masters/hw-2/submission.yaml")
    assert codes(result) == [] and result.ok, result.findings


def test_an_image_export_needs_its_preprocessor_config(repo: Repo) -> None:
    text, folder = put_onnx(repo, "image-classification")
    (folder / "config.json").write_text('{"num_channels": 1}', encoding="utf-8")
    result = repo.validate(repo.root / "submissions/ml_masters/hw-2/submission.yaml")
    assert errors(result) == [("A016", line_of(text, "path: onnx/model.onnx"))]
    a016 = next(f for f in result.findings if f.code == "A016")
    assert "preprocessor_config.json" in a016.message and "tokenizer" not in a016.message
    a017 = next(f for f in result.findings if f.code == "A017")
    assert a017.found == "config.json without id2label"


def test_a_safetensors_checkpoint_is_not_asked_for_them(repo: Repo) -> None:
    result = repo.validate(repo.put(VALID))  # model/ holds config.json and weights, no tokenizer
    assert codes(result) == [] and result.ok


def test_speech_needs_a_feature_extractor_and_a_vocabulary(tmp_path: Path) -> None:
    where = Location(file="submission.yaml", line=3)
    (tmp_path / "model.onnx").write_bytes(b"")
    found = side_file_findings(tmp_path, "onnx", "speech-recognition", where)
    assert [(f.code, f.found) for f in found] == [
        ("A016", "no preprocessor_config.json"),
        ("A016", "no tokenizer.json or vocab.json"),
    ]
    (tmp_path / "preprocessor_config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "vocab.json").write_text("{}", encoding="utf-8")  # a CTC model's vocabulary will do
    assert side_file_findings(tmp_path, "onnx", "speech-recognition", where) == []
    for fmt in ("openvino", "tensorrt", "torchscript"):
        assert side_file_findings(tmp_path, fmt, "text-classification", where)[0].code == "A016"
    assert side_file_findings(tmp_path, "safetensors", "text-classification", where) == []


def test_every_task_says_which_side_files_it_needs() -> None:
    assert set(REQUIRED) == set(TASKS)  # a new task decides what an export of it needs


def test_the_format_table_names_every_side_file() -> None:
    readme = (Path(__file__).resolve().parents[1] / "submissions" / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("**Side files of an exported model.**") :]
    for task, sides in REQUIRED.items():
        row = next(line for line in table.splitlines() if line.startswith("|") and f"`{task}`" in line)
        for side in sides:
            assert any(f"`{name}`" in row for name in side.names), (task, side.names)
        assert ("`id2label`" in row) == (task in LABELLED), task
    assert "A016" in table and "A017" in table
