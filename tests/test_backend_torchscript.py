"""TorchScript backend: refused without the instructor's label, and real logits with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from harness_support import padded_batch, tiny_bert_classifier

from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
from grader.harness.backends.base import LoadSpec, NotMeasurable
from grader.harness.backends.torchscript import ALLOW_LABEL, TorchScriptBackend


def torch_logits(model: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    with torch.inference_mode():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()})[0].numpy()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A traced tiny BERT saved as an archive (outputs: a dict, as `strict=False` traces give)."""
    model = tiny_bert_classifier()
    sample = {k: torch.from_numpy(v) for k, v in padded_batch().items()}
    folder = tmp_path_factory.mktemp("torchscript")
    with torch.inference_mode(False), torch.no_grad():
        archive = torch.jit.trace(model, (sample["input_ids"], sample["attention_mask"]), strict=False)
    archive.save(str(folder / "model.pt"))
    return model, folder


def test_registered_for_the_torchscript_format() -> None:
    assert FORMAT_BACKENDS["torchscript"] == "torchscript"
    assert BACKENDS.load("torchscript") is TorchScriptBackend


def test_refused_without_the_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not even the file is read: a missing folder still gives the gate's reason, and torch.jit.load
    # is never reached.
    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("torch.jit.load must not run without the label")

    monkeypatch.setattr(torch.jit, "load", forbidden)
    spec = LoadSpec(model_dir=tmp_path / "does-not-exist", format="torchscript")
    with pytest.raises(NotMeasurable) as caught:
        TorchScriptBackend(spec).load()
    reason = str(caught.value)
    assert "contain code that runs when they are loaded" in reason
    assert f"`{ALLOW_LABEL}` label" in reason and "instructor" in reason


def test_loads_and_matches_pytorch_with_the_label(traced: tuple[Any, Path]) -> None:
    model, folder = traced
    spec = LoadSpec(model_dir=folder, format="torchscript", allow_code_formats=True, intra_op_threads=1)
    with TorchScriptBackend(spec) as backend:
        assert backend.input_names() == ["input_ids", "attention_mask"]
        assert any(ALLOW_LABEL in note for note in backend.info.notes)
        assert torch.get_num_threads() == 1
        # The weights as held: the tiny BERT's parameters, once each.
        parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        assert parameter_bytes <= (backend.info.as_run_bytes or 0) < 1.2 * parameter_bytes
        for inputs in (
            padded_batch(),
            padded_batch(batch_size=3, length=20, seed=1),
        ):  # traced with dynamic sizes
            outputs = backend.to_numpy(backend.run(backend.prepare(inputs)))
            np.testing.assert_allclose(outputs["logits"], torch_logits(model, inputs), atol=1e-5, rtol=1e-4)


def test_extra_task_inputs_are_dropped_and_missing_ones_named(traced: tuple[Any, Path]) -> None:
    _, folder = traced
    spec = LoadSpec(model_dir=folder, format="torchscript", allow_code_formats=True)
    with TorchScriptBackend(spec) as backend:
        inputs = padded_batch() | {"token_type_ids": np.zeros((2, 12), dtype=np.int64)}
        assert set(backend.prepare(inputs)) == {"input_ids", "attention_mask"}
        with pytest.raises(ValueError, match=r"needs \['attention_mask'\]"):
            backend.prepare({"input_ids": inputs["input_ids"]})


def test_tuple_outputs_map_to_logits(tmp_path: Path) -> None:
    class AsTuple(torch.nn.Module):  # the classic export: (logits, ...) without names
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
            logits = self.inner(input_ids=input_ids, attention_mask=attention_mask).logits
            return logits, logits.argmax(-1)

    model = tiny_bert_classifier()
    sample = {k: torch.from_numpy(v) for k, v in padded_batch().items()}
    with torch.no_grad():
        traced = torch.jit.trace(AsTuple(model).eval(), (sample["input_ids"], sample["attention_mask"]))
    traced.save(str(tmp_path / "m.ts"))
    spec = LoadSpec(model_dir=tmp_path, format="torchscript", allow_code_formats=True)
    with TorchScriptBackend(spec) as backend:
        outputs = backend.to_numpy(backend.run(backend.prepare(padded_batch())))
    np.testing.assert_allclose(outputs["logits"], torch_logits(model, padded_batch()), atol=1e-5, rtol=1e-4)
    np.testing.assert_array_equal(outputs["output_1"], outputs["logits"].argmax(-1))


def test_scripted_module_with_optional_argument(tmp_path: Path) -> None:
    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, pixel_values: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
            out = self.linear(pixel_values)
            return out if scale is None else out * scale

    torch.manual_seed(0)
    head = Head().eval()
    torch.jit.script(head).save(str(tmp_path / "head.pt"))
    spec = LoadSpec(model_dir=tmp_path, format="torchscript", allow_code_formats=True)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with TorchScriptBackend(spec) as backend:
        assert backend.input_names() == ["pixel_values", "scale"]
        logits = backend.to_numpy(backend.run(backend.prepare({"pixel_values": x})))["logits"]
    with torch.no_grad():
        np.testing.assert_allclose(logits, head(torch.from_numpy(x)).numpy(), atol=1e-6)


def test_pickle_named_pt_is_not_a_torchscript_archive(tmp_path: Path) -> None:
    # torch.save writes a zip too; torch.jit.load rejects it without unpickling Python objects.
    torch.save({"weight": torch.zeros(2)}, tmp_path / "model.pt")
    spec = LoadSpec(model_dir=tmp_path, format="torchscript", allow_code_formats=True)
    with pytest.raises(RuntimeError):
        TorchScriptBackend(spec).load()


def test_folder_with_no_or_several_archives(tmp_path: Path) -> None:
    spec = LoadSpec(model_dir=tmp_path, format="torchscript", allow_code_formats=True)
    with pytest.raises(FileNotFoundError, match="found none"):
        TorchScriptBackend(spec).load()
    (tmp_path / "a.pt").write_bytes(b"")
    (tmp_path / "b.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"found a\.pt, b\.pt"):
        TorchScriptBackend(spec).load()


def test_cuda_needs_a_gpu() -> None:
    from grader.harness.gpu import torch_cuda_unavailable_reason

    reason = TorchScriptBackend.unavailable_reason("cuda")
    # the shared, fork-safe check (tests/test_gpu_guards.py); it never initialises CUDA
    assert reason == torch_cuda_unavailable_reason()
    if not torch.backends.cuda.is_built():
        assert reason is not None and "has no CUDA support" in reason
    assert "tpu" not in TorchScriptBackend.devices
    assert TorchScriptBackend.unavailable_reason("tpu") is not None  # a device it does not declare
