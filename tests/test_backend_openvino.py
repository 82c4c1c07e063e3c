"""OpenVINO backend: a tiny BERT classifier → ONNX → OpenVINO IR (converted in the test) → logits."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from harness_support import padded_batch, tiny_bert_classifier

from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
from grader.harness.backends.base import LoadSpec, NotMeasurable
from grader.harness.backends.openvino import OpenVinoBackend

ov = pytest.importorskip("openvino", reason="OpenVINO is not installed (the `openvino` extra)")


def torch_logits(model: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.inference_mode():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """The PyTorch model and a folder with its ONNX export and the IR converted from it."""
    model = tiny_bert_classifier()
    folder = tmp_path_factory.mktemp("openvino")
    sample = {k: torch.from_numpy(v) for k, v in padded_batch().items()}
    torch.onnx.export(
        model,
        (sample["input_ids"], sample["attention_mask"]),
        str(folder / "model.onnx"),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
        opset_version=17,
        dynamo=False,
    )
    ov.save_model(
        ov.convert_model(str(folder / "model.onnx")), str(folder / "model.xml"), compress_to_fp16=False
    )
    return model, folder


def ir_only(exported: tuple[Any, Path], tmp_path: Path) -> Path:
    _, folder = exported
    for name in ("model.xml", "model.bin"):
        shutil.copy(folder / name, tmp_path / name)
    return tmp_path


def test_registered_for_the_openvino_format() -> None:
    assert FORMAT_BACKENDS["openvino"] == "openvino"
    assert BACKENDS.load("openvino") is OpenVinoBackend


def test_ir_logits_match_pytorch(exported: tuple[Any, Path], tmp_path: Path) -> None:
    model, _ = exported
    folder = ir_only(exported, tmp_path)
    spec = LoadSpec(model_dir=folder, format="openvino", intra_op_threads=2)
    with OpenVinoBackend(spec) as backend:
        assert backend.input_names() == ["input_ids", "attention_mask"]
        for inputs in (padded_batch(), padded_batch(batch_size=3, length=20, seed=1)):  # dynamic shapes
            outputs = backend.to_numpy(backend.run(backend.prepare(inputs)))
            np.testing.assert_allclose(outputs["logits"], torch_logits(model, inputs), atol=1e-5, rtol=1e-4)
        assert backend.info.as_run_bytes == (folder / "model.bin").stat().st_size
        assert backend.info.providers == ["OpenVINO CPU"]


def test_thread_settings_are_applied_and_recorded(exported: tuple[Any, Path], tmp_path: Path) -> None:
    folder = ir_only(exported, tmp_path)
    with OpenVinoBackend(LoadSpec(model_dir=folder, format="openvino", intra_op_threads=1)) as backend:
        settings = backend.runtime_settings()  # read back from the compiled model
        note = backend.info.notes[-1]
    assert settings["INFERENCE_NUM_THREADS"] == "1"
    assert settings["NUM_STREAMS"] == "1"
    assert settings["INFERENCE_PRECISION_HINT"] == "f32"
    assert settings["PERFORMANCE_HINT"] == "LATENCY"
    assert "INFERENCE_NUM_THREADS=1" in note and note.startswith("OpenVINO 20")


def test_int32_ids_in_the_ir_are_fed_int32(exported: tuple[Any, Path], tmp_path: Path) -> None:
    model, folder = exported
    ir = ov.convert_model(
        str(folder / "model.onnx"), input=[("input_ids", ov.Type.i32), ("attention_mask", ov.Type.i32)]
    )
    ov.save_model(ir, str(tmp_path / "model.xml"), compress_to_fp16=False)
    with OpenVinoBackend(LoadSpec(model_dir=tmp_path, format="openvino")) as backend:
        prepared = backend.prepare(padded_batch())
        assert {array.dtype for array in prepared.values()} == {np.dtype(np.int32)}
        logits = backend.to_numpy(backend.run(prepared))["logits"]
    np.testing.assert_allclose(logits, torch_logits(model, padded_batch()), atol=1e-5, rtol=1e-4)


def test_onnx_file_is_read_through_openvino(exported: tuple[Any, Path], tmp_path: Path) -> None:
    model, folder = exported
    shutil.copy(folder / "model.onnx", tmp_path / "model.onnx")
    with OpenVinoBackend(LoadSpec(model_dir=tmp_path, format="openvino")) as backend:
        logits = backend.to_numpy(backend.run(backend.prepare(padded_batch())))["logits"]
        assert any("ONNX frontend" in note for note in backend.info.notes)
    np.testing.assert_allclose(logits, torch_logits(model, padded_batch()), atol=1e-5, rtol=1e-4)


def test_named_model_file_is_used(exported: tuple[Any, Path]) -> None:
    _, folder = exported  # holds model.xml and model.onnx: the name decides
    spec = LoadSpec(model_dir=folder, format="openvino", model_file="model.xml")
    with OpenVinoBackend(spec) as backend:
        assert not any("ONNX frontend" in note for note in backend.info.notes)


def test_missing_weights_file(exported: tuple[Any, Path], tmp_path: Path) -> None:
    _, folder = exported
    shutil.copy(folder / "model.xml", tmp_path / "model.xml")
    with pytest.raises(FileNotFoundError, match=r"needs its weights file model\.bin beside it"):
        OpenVinoBackend(LoadSpec(model_dir=tmp_path, format="openvino")).load()


def test_ambiguous_folder_names_the_candidates(exported: tuple[Any, Path], tmp_path: Path) -> None:
    folder = ir_only(exported, tmp_path)
    shutil.copy(folder / "model.xml", folder / "other.xml")
    with pytest.raises(FileNotFoundError, match=r"found model\.xml, other\.xml; name the file"):
        OpenVinoBackend(LoadSpec(model_dir=folder, format="openvino")).load()


def test_wrong_file_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.engine").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="not an OpenVINO IR"):
        OpenVinoBackend(LoadSpec(model_dir=tmp_path, format="openvino", model_file="model.engine")).load()


def test_garbage_ir_fails_with_openvino_error(tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_text("<net>not an IR")
    (tmp_path / "model.bin").write_bytes(b"\x00" * 8)
    with pytest.raises(Exception, match=r"(?i)xml|parse|model"):
        OpenVinoBackend(LoadSpec(model_dir=tmp_path, format="openvino")).load()


def test_not_measurable_without_openvino(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import openvino` fail as on a runner without the extra.
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert OpenVinoBackend.unavailable_reason("cpu") == (
        "OpenVINO is not installed on this runner (install the `openvino` extra)"
    )
    with pytest.raises(NotMeasurable, match="install the `openvino` extra"):
        OpenVinoBackend(LoadSpec(model_dir=tmp_path, format="openvino")).load()


def test_cpu_only() -> None:
    # The declared devices decide: a device not declared has a reason, whatever its words.
    assert OpenVinoBackend.devices == ("cpu",) and OpenVinoBackend.unavailable_reason("cuda") is not None
