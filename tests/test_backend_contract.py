"""Every registered backend through the same cycle: load → input_names → prepare → run →
synchronize → to_numpy → close, on the same tiny model, against the PyTorch original's logits.

A new backend: one module, one line in grader.harness.backends.BACKENDS, and one entry in
ARTIFACTS below (how to save the tiny model in its format). Backends that cannot run here (no
GPU, runtime missing) are skipped with their own reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_support import bert_inputs, export_onnx, make_bert, make_vit

from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
from grader.harness.backends.base import Backend, LoadSpec
from grader.registry import Registry

ATOL = 1e-4


@dataclass(frozen=True)
class Artifact:
    format: str
    spec: dict[str, Any]  # LoadSpec fields beyond model_dir / format


def _safetensors(model: Any, source: Path, target: Path, inputs: dict[str, np.ndarray]) -> Artifact:
    return Artifact("safetensors", {"model_dir": source})


def _onnx(model: Any, source: Path, target: Path, inputs: dict[str, np.ndarray]) -> Artifact:
    export_onnx(model, source, target, inputs)
    return Artifact("onnx", {"model_dir": target})


def _openvino(model: Any, source: Path, target: Path, inputs: dict[str, np.ndarray]) -> Artifact:
    import openvino as ov

    onnx_path = export_onnx(model, source, target / "onnx", inputs)
    ov.save_model(ov.convert_model(str(onnx_path)), str(target / "model.xml"))
    return Artifact("openvino", {"model_dir": target})


def _torchscript(model: Any, source: Path, target: Path, inputs: dict[str, np.ndarray]) -> Artifact:
    import torch

    target.mkdir(parents=True, exist_ok=True)
    example = {name: torch.from_numpy(array) for name, array in inputs.items()}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example_kwarg_inputs=example, strict=False)
    traced.save(str(target / "model.pt"))
    return Artifact("torchscript", {"model_dir": target, "allow_code_formats": True})


def _tensorrt(model: Any, source: Path, target: Path, inputs: dict[str, np.ndarray]) -> Artifact:
    export_onnx(model, source, target, inputs)  # the runner builds the engine from the ONNX itself
    return Artifact("tensorrt", {"model_dir": target, "device": "cuda"})


ARTIFACTS: dict[str, Callable[[Any, Path, Path, dict[str, np.ndarray]], Artifact]] = {
    "transformers": _safetensors,
    "onnxruntime": _onnx,
    "openvino": _openvino,
    "torchscript": _torchscript,
    "tensorrt": _tensorrt,
}


def test_every_registered_backend_has_a_contract_entry() -> None:
    missing = sorted(set(BACKENDS) - set(ARTIFACTS))
    assert not missing, f"add an ARTIFACTS entry for {', '.join(missing)} (see the module docstring)"
    for fmt, backend in FORMAT_BACKENDS.items():
        assert backend in BACKENDS
        assert fmt in BACKENDS.load(backend).formats


# The abilities a backend declares (class attributes, default methods on Backend) rather than
# leaves for the harness to probe with hasattr; a new ability: a line here.
DECLARED_FLAGS = ("cuda_events", "torch_allocator", "reports_execution_providers")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_declares_its_abilities(name: str, tmp_path: Path) -> None:
    cls = BACKENDS.load(name)
    assert issubclass(cls, Backend) and cls.name == name
    assert cls.formats and set(cls.devices) <= {"cpu", "cuda"}
    assert all(isinstance(getattr(cls, flag), bool) for flag in DECLARED_FLAGS)
    assert isinstance(cls.preload, tuple) and all(isinstance(m, str) for m in cls.preload)
    # An ability declared is an ability implemented: the base's default says nothing.
    if cls.reports_execution_providers:
        assert cls.execution_providers is not Backend.execution_providers
    for device in cls.devices:
        spec = LoadSpec(model_dir=tmp_path, format=cls.formats[0], device=device)
        imports = cls.pre_load_imports(spec)  # a model folder with nothing in it: no error either
        assert isinstance(imports, list) and all(isinstance(m, str) for m in imports)


def test_a_registry_refuses_a_class_that_is_not_of_its_kind() -> None:
    entries = {"spec": "grader.harness.backends.base:LoadSpec"}
    registry: Registry[Backend] = Registry("backend", Backend, entries)
    assert registry.base() is Backend
    with pytest.raises(TypeError, match="not a Backend"):
        registry.load("spec")


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, dict[str, np.ndarray], np.ndarray]:
    import torch

    folder = tmp_path_factory.mktemp("bert") / "model"
    model = make_bert(folder)
    inputs = bert_inputs(seq_len=12, batch=2)
    with torch.inference_mode():
        reference = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    return model, folder, inputs, reference


def cycle(cls: type[Backend], spec: LoadSpec, inputs: dict[str, np.ndarray]) -> tuple[Backend, dict]:
    with cls(spec) as backend:
        names = backend.input_names()
        assert names and set(names) <= set(inputs) | {"pixel_values"}
        # Inputs the model does not declare are dropped by prepare(), not fed.
        prepared = backend.prepare({**inputs, "unrelated_input": np.zeros((1,), dtype=np.int64)})
        outputs = backend.run(prepared)
        backend.synchronize()
        again = backend.to_numpy(backend.run(prepared))
        result = backend.to_numpy(outputs)
        np.testing.assert_array_equal(result["logits"], again["logits"])  # deterministic calls
    return backend, result


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_backend_runs_the_contract_and_agrees_with_pytorch(
    name: str, bert: tuple[Any, Path, dict[str, np.ndarray], np.ndarray], tmp_path: Path
) -> None:
    if name not in BACKENDS:
        pytest.skip(f"{name} is not registered")
    cls = BACKENDS.load(name)
    # Ask first: building the artifact needs the runtime too (e.g. OpenVINO's converter).
    device = "cpu" if "cpu" in cls.devices else cls.devices[0]
    reason = cls.unavailable_reason(device)
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    model, folder, inputs, reference = bert
    artifact = ARTIFACTS[name](model, folder, tmp_path / name, inputs)
    spec_fields = {"device": device, "task": "text-classification", **artifact.spec}
    assert artifact.format in cls.formats
    spec = LoadSpec(format=artifact.format, intra_op_threads=1, inter_op_threads=1, **spec_fields)
    backend, result = cycle(cls, spec, inputs)
    assert result["logits"].shape == reference.shape
    np.testing.assert_allclose(result["logits"], reference, atol=ATOL, rtol=0)
    assert backend.info.as_run_bytes is None or backend.info.as_run_bytes > 0


def test_transformers_and_onnx_logits_agree_for_a_vit(tmp_path: Path) -> None:
    import torch

    vit = make_vit(tmp_path / "vit")
    pixels = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    export_onnx(vit, tmp_path / "vit", tmp_path / "vit-onnx", {"pixel_values": pixels})
    with torch.inference_mode():
        reference = vit(pixel_values=torch.from_numpy(pixels)).logits.numpy()
    got = {}
    for name, folder, fmt in (("transformers", "vit", "safetensors"), ("onnxruntime", "vit-onnx", "onnx")):
        spec = LoadSpec(model_dir=tmp_path / folder, format=fmt, task="image-classification")
        _backend, result = cycle(BACKENDS.load(name), spec, {"pixel_values": pixels})
        got[name] = result["logits"]
    np.testing.assert_allclose(got["transformers"], reference, atol=ATOL, rtol=0)
    np.testing.assert_allclose(got["onnxruntime"], got["transformers"], atol=ATOL, rtol=0)
