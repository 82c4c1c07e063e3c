"""TensorRT backend: engines are built on the runner from ONNX, never loaded from a submission.

Without a GPU (CI, developer machines) the tests check the refusals and the NotMeasurable reasons
with real files; the `gpu`-marked test builds a real engine from a tiny BERT's ONNX export and
compares its logits with PyTorch (run it on the GPU runner: `pytest -m gpu tests/test_backend_tensorrt.py`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from harness_support import padded_batch, tiny_bert_classifier
from onnx import TensorProto, helper

from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
from grader.harness.backends.base import LoadSpec, NotMeasurable
from grader.harness.backends.tensorrt import (
    EngineFileRefused,
    ProfileLimits,
    TensorRTBackend,
    check_onnx_domains,
    limits_for,
    profile_shapes,
    tensorrt_major,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    model = tiny_bert_classifier()
    folder = tmp_path_factory.mktemp("tensorrt")
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
    model.config.save_pretrained(folder)  # exporters ship config.json beside the ONNX
    return model, folder


def one_node_model(
    path: Path, domain: str, *, in_subgraph: bool = False, local_function: bool = False
) -> None:
    """A float [2] → [2] model whose one op is in ``domain`` (optionally inside an If branch)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node("MyOp", ["x"], ["y"], domain=domain)
    functions = []
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
    if local_function:
        body = [helper.make_node("Relu", ["a"], ["b"])]
        functions.append(
            helper.make_function(domain, "MyOp", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
        )
    if in_subgraph:
        branch = helper.make_graph([node], "branch", [], [y])
        cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
        nodes = [
            helper.make_node("Constant", [], ["c"], value=cond),
            helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch),
        ]
    else:
        nodes = [node]
    graph = helper.make_graph(nodes, "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=opsets, functions=functions), str(path))


def test_registered_for_the_tensorrt_format() -> None:
    assert FORMAT_BACKENDS["tensorrt"] == "tensorrt"
    assert BACKENDS.load("tensorrt") is TensorRTBackend


@pytest.mark.parametrize("name", ["model.engine", "model.plan", "model.trt"])
def test_submitted_engine_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"ftrt" + b"\x00" * 64)
    (tmp_path / "model.onnx").write_bytes(b"")  # even with an ONNX beside it: the engine is not welcome
    for spec in (
        LoadSpec(model_dir=tmp_path, format="tensorrt", device="cuda"),
        LoadSpec(model_dir=tmp_path, format="tensorrt", device="cuda", model_file=name),
    ):
        with pytest.raises(EngineFileRefused) as caught:
            TensorRTBackend(spec).load()
        assert isinstance(caught.value, NotMeasurable)
        message = str(caught.value)
        assert f"{name} is a prebuilt TensorRT engine" in message
        assert "never loads submitted engines" in message and "Submit the ONNX file" in message


def test_not_measurable_without_tensorrt(exported: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, folder = exported
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as on a runner without the `gpu` extra
    reason = TensorRTBackend.unavailable_reason("cuda")
    assert reason == "TensorRT is not installed on this runner (install the `gpu` extra)"
    with pytest.raises(NotMeasurable, match="install the `gpu` extra"):
        TensorRTBackend(LoadSpec(model_dir=folder, format="tensorrt", device="cuda")).load()


def test_not_measurable_on_cpu(exported: tuple[Any, Path]) -> None:
    _, folder = exported
    with pytest.raises(NotMeasurable, match="TensorRT runs on NVIDIA GPUs only"):
        TensorRTBackend(LoadSpec(model_dir=folder, format="tensorrt", device="cpu")).load()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this runner has a GPU")
def test_not_measurable_without_a_gpu(exported: tuple[Any, Path]) -> None:
    _, folder = exported
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        expected = "install the `gpu` extra"
    else:
        expected = "this runner has no CUDA GPU"
    with pytest.raises(NotMeasurable, match=expected):
        TensorRTBackend(LoadSpec(model_dir=folder, format="tensorrt", device="cuda")).load()


def test_not_onnx_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_text("<net/>")
    spec = LoadSpec(model_dir=tmp_path, format="tensorrt", device="cuda", model_file="model.xml")
    with pytest.raises(ValueError, match="builds from an ONNX file"):
        TensorRTBackend(spec).load()


def test_standard_export_passes_the_domain_check(exported: tuple[Any, Path]) -> None:
    _, folder = exported
    assert check_onnx_domains(folder / "model.onnx") == ["ai.onnx:17"]


def test_custom_op_domain_is_refused(tmp_path: Path) -> None:
    one_node_model(tmp_path / "m.onnx", "com.microsoft")
    with pytest.raises(NotMeasurable, match=r"custom domains \(com\.microsoft::MyOp\).*loads none"):
        check_onnx_domains(tmp_path / "m.onnx")


def test_custom_op_hidden_in_a_subgraph_is_refused(tmp_path: Path) -> None:
    one_node_model(tmp_path / "m.onnx", "evil.ops", in_subgraph=True)
    with pytest.raises(NotMeasurable, match=r"evil\.ops::MyOp"):
        check_onnx_domains(tmp_path / "m.onnx")


def test_local_functions_are_not_custom_ops(tmp_path: Path) -> None:
    one_node_model(tmp_path / "m.onnx", "pkg.onnxscript.torch_lib", local_function=True)
    assert "ai.onnx:17" in check_onnx_domains(tmp_path / "m.onnx")


def test_profile_shapes() -> None:
    limits = ProfileLimits(max_batch=32, opt_batch=4, max_length=256, opt_length=64)
    assert profile_shapes((-1, -1), limits) == ((1, 1), (4, 64), (32, 256))
    assert profile_shapes((-1, 3, 224, 224), limits) == (
        (1, 3, 224, 224),
        (4, 3, 224, 224),
        (32, 3, 224, 224),
    )
    assert profile_shapes((8, 128), limits) == ((8, 128), (8, 128), (8, 128))


def test_profile_is_capped_by_the_model_positions(exported: tuple[Any, Path], tmp_path: Path) -> None:
    _, folder = exported
    assert limits_for(folder, ProfileLimits()) == ProfileLimits(max_length=64, opt_length=64)
    assert limits_for(tmp_path, ProfileLimits()) == ProfileLimits()  # no config.json: defaults


def test_tensorrt_major_versions() -> None:
    assert tensorrt_major("10.13.0.35") == 10
    assert tensorrt_major("11.4.0.106") == 11


@pytest.mark.gpu
def test_engine_built_from_onnx_matches_pytorch(exported: tuple[Any, Path]) -> None:
    reason = TensorRTBackend.unavailable_reason("cuda")
    if reason:
        pytest.skip(reason)
    model, folder = exported
    spec = LoadSpec(model_dir=folder, format="tensorrt", device="cuda")
    with TensorRTBackend(spec) as backend:
        assert backend.info.build_s is not None and backend.info.build_s > 0
        assert backend.input_names() == ["input_ids", "attention_mask"]
        for inputs in (padded_batch(), padded_batch(batch_size=3, length=20, seed=1)):
            prepared = backend.prepare(inputs)
            outputs = backend.run(prepared)
            backend.synchronize()
            logits = backend.to_numpy(outputs)["logits"]
            with torch.inference_mode():
                want = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
            # TF32 may be on for fp32 matmuls: close, not bit-equal
            np.testing.assert_allclose(logits, want, atol=2e-3, rtol=1e-2)
        with pytest.raises(ValueError, match="outside the engine's optimization profile"):
            backend.prepare(padded_batch(batch_size=2, length=65))  # max_position_embeddings is 64
