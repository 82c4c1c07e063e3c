"""What the transformers and onnxruntime backends refuse, transform and count, in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness_support import bert_inputs, export_onnx, make_bert

from grader.harness.backends.base import LoadSpec, NotMeasurable
from grader.harness.backends.onnxruntime import OnnxRuntimeBackend, initializer_bytes
from grader.harness.backends.transformers import TransformersBackend, weight_bytes


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    folder = tmp_path_factory.mktemp("bert") / "model"
    return make_bert(folder), folder


def spec(folder: Path, **fields: Any) -> LoadSpec:
    return LoadSpec(
        model_dir=folder, format=fields.pop("format", "safetensors"), task="text-classification", **fields
    )


def logits(backend: Any, inputs: dict[str, np.ndarray] | None = None) -> np.ndarray:
    prepared = backend.prepare(inputs or bert_inputs(batch=2))
    return backend.to_numpy(backend.run(prepared))["logits"]


def reference(model: Any) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model(**{k: torch.from_numpy(v) for k, v in bert_inputs(batch=2).items()}).logits.numpy()


def copy_of(folder: Path, target: Path) -> Path:
    shutil.copytree(folder, target)
    return target


# --- transformers: refusals -----------------------------------------------------------------------


def test_pickle_weights_are_refused_before_loading(bert: tuple[Any, Path], tmp_path: Path) -> None:
    folder = copy_of(bert[1], tmp_path / "m")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(NotMeasurable, match=r"pickle weights \(pytorch_model\.bin\)"):
        TransformersBackend(spec(folder)).load()


def test_custom_code_is_refused(bert: tuple[Any, Path], tmp_path: Path) -> None:
    folder = copy_of(bert[1], tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.Evil"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(NotMeasurable, match="trust_remote_code stays off"):
        TransformersBackend(spec(folder)).load()


def test_an_unknown_architecture_is_not_measurable(bert: tuple[Any, Path], tmp_path: Path) -> None:
    folder = copy_of(bert[1], tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "brand-new-arch"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(NotMeasurable, match="'brand-new-arch' is not an architecture"):
        TransformersBackend(spec(folder)).load()


def test_a_model_without_the_tasks_head_is_not_measurable(bert: tuple[Any, Path]) -> None:
    with pytest.raises(NotMeasurable, match="no AutoModelForImageClassification head"):
        TransformersBackend(
            LoadSpec(model_dir=bert[1], format="safetensors", task="image-classification")
        ).load()


def test_missing_weights_are_an_error_not_a_random_head(bert: tuple[Any, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = copy_of(bert[1], tmp_path / "m")
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["classifier.weight"]
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"missing 1 weights \(classifier\.weight\)"):
        TransformersBackend(spec(folder)).load()


def test_an_empty_folder_says_what_to_save(tmp_path: Path) -> None:
    with pytest.raises(NotMeasurable, match=r"config\.json is missing"):
        TransformersBackend(spec(tmp_path)).load()


# --- transformers: transforms, pruning, bytes -----------------------------------------------------


def test_fp32_checkpoint_runs_as_stored(bert: tuple[Any, Path]) -> None:
    model, folder = bert
    with TransformersBackend(spec(folder)) as backend:
        np.testing.assert_allclose(logits(backend), reference(model), atol=1e-5, rtol=0)
        fp32_bytes = sum(p.numel() * 4 for p in model.parameters())
        assert backend.info.as_run_bytes == fp32_bytes
        assert backend.input_names() == ["input_ids", "attention_mask", "token_type_ids"]


@pytest.mark.parametrize("transform", ["fp16", "bf16"])
def test_half_precision_halves_the_weights_and_stays_close(transform: str, bert: tuple[Any, Path]) -> None:
    model, folder = bert
    with TransformersBackend(spec(folder, transform=transform)) as backend:
        assert backend.info.as_run_bytes == sum(p.numel() * 2 for p in model.parameters())
        np.testing.assert_allclose(logits(backend), reference(model), atol=0.05, rtol=0)
        assert any(f"transform {transform}" in note for note in backend.info.notes)


def test_dynamic_int8_counts_packed_weights_scales_and_biases(bert: tuple[Any, Path]) -> None:
    import torch

    model, folder = bert
    with TransformersBackend(spec(folder, transform="dynamic-int8")) as backend:
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        linear_ids = {id(p) for m in linears for p in m.parameters()}
        others = sum(p.numel() * 4 for p in model.parameters() if id(p) not in linear_ids)
        packed = sum(m.weight.numel() + 16 + m.bias.numel() * 4 for m in linears)
        assert backend.info.as_run_bytes == others + packed
        np.testing.assert_allclose(logits(backend), reference(model), atol=0.05, rtol=0)


def test_tied_weights_count_once() -> None:
    import torch

    shared = torch.nn.Linear(4, 4, bias=False)
    model = torch.nn.Sequential(shared, shared)
    assert weight_bytes(model) == 16 * 4


def test_pruning_masks_are_folded_into_the_weights(bert: tuple[Any, Path], tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from torch.nn.utils import prune

    model, folder = bert
    pruned = copy_of(folder, tmp_path / "pruned")
    student = type(model)(model.config).eval()
    student.load_state_dict(model.state_dict())
    for layer in student.bert.encoder.layer:
        prune.l1_unstructured(layer.intermediate.dense, name="weight", amount=0.5)
    state = {k: v.contiguous() for k, v in student.state_dict().items()}
    assert any(k.endswith("weight_orig") for k in state) and any(k.endswith("weight_mask") for k in state)
    (pruned / "model.safetensors").unlink()
    save_file(state, str(pruned / "model.safetensors"), metadata={"format": "pt"})
    with torch.inference_mode():
        want = student(**{k: torch.from_numpy(v) for k, v in bert_inputs(batch=2).items()}).logits.numpy()
    with TransformersBackend(spec(pruned)) as backend:
        np.testing.assert_allclose(logits(backend), want, atol=1e-5, rtol=0)
        assert any("folded 2 pruning masks" in note for note in backend.info.notes)
        weight = backend.model.bert.encoder.layer[0].intermediate.dense.weight
        assert float((weight == 0).float().mean()) >= 0.5
        scratch = backend._scratch
    assert scratch is not None and not scratch.exists()  # close() removed the folded copy


# --- onnxruntime ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_model(bert: tuple[Any, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("onnx")
    export_onnx(bert[0], bert[1], folder, bert_inputs())
    return folder


def test_onnx_runs_with_explicit_threads_and_records_its_provider(
    bert: tuple[Any, Path], onnx_model: Path
) -> None:
    with OnnxRuntimeBackend(spec(onnx_model, format="onnx", intra_op_threads=1)) as backend:
        np.testing.assert_allclose(logits(backend), reference(bert[0]), atol=1e-4, rtol=0)
        assert backend.info.providers == ["CPUExecutionProvider"]
        assert any(
            "intra_op 1, inter_op 1" in note and "ORT_ENABLE_ALL" in note for note in backend.info.notes
        )
        # The exporter folds constants (unused token-type rows, ...): the graph holds about the weights.
        fp32 = sum(p.numel() * 4 for p in bert[0].parameters())
        assert backend.info.as_run_bytes == pytest.approx(fp32, rel=0.05)


def test_onnx_inputs_follow_the_graph(bert: tuple[Any, Path], tmp_path: Path) -> None:
    """A graph without token_type_ids gets none; one that needs an input the task lacks says so."""
    model, folder = bert
    inputs = bert_inputs()
    export_onnx(model, folder, tmp_path / "two", {k: inputs[k] for k in ("input_ids", "attention_mask")})
    with OnnxRuntimeBackend(spec(tmp_path / "two", format="onnx")) as backend:
        assert backend.input_names() == ["input_ids", "attention_mask"]
        assert set(backend.prepare(inputs)) == {"input_ids", "attention_mask"}
        with pytest.raises(
            ValueError, match=r"needs input\(s\) attention_mask, which the task does not provide"
        ):
            backend.prepare({"input_ids": inputs["input_ids"]})


def _tiny_graph(domain: str = "", function_domain: str | None = None) -> Any:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])
    values = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32).tobytes()
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], values, raw=True)  # raw: may go external
    op = "Mul" if not domain else "Scale"
    node = helper.make_node(op, ["x", "w"], ["logits"], domain=domain)
    functions = []
    opsets = [helper.make_opsetid("", 17)]
    if function_domain:
        body = helper.make_node("Mul", ["a", "b"], ["c"])
        functions.append(helper.make_function(function_domain, "Scale", ["a", "b"], ["c"], [body], opsets))
        opsets.append(helper.make_opsetid(function_domain, 1))
    elif domain:
        opsets.append(helper.make_opsetid(domain, 1))
    graph = helper.make_graph([node], "g", [x], [y], initializer=[weight])
    model = helper.make_model(graph, opset_imports=opsets, functions=functions)
    model.ir_version = 8
    return model, onnx


def test_a_custom_op_domain_is_refused(tmp_path: Path) -> None:
    model, onnx = _tiny_graph(domain="com.example.custom")
    onnx.save(model, str(tmp_path / "model.onnx"))
    with pytest.raises(NotMeasurable, match=r"custom operators \(com\.example\.custom::Scale\)"):
        OnnxRuntimeBackend(spec(tmp_path, format="onnx")).load()


def test_a_local_function_domain_is_not_a_custom_op(tmp_path: Path) -> None:
    model, onnx = _tiny_graph(domain="local.fn", function_domain="local.fn")
    onnx.save(model, str(tmp_path / "model.onnx"))
    with OnnxRuntimeBackend(spec(tmp_path, format="onnx")) as backend:
        out = logits(backend, {"x": np.ones((1, 4), dtype=np.float32)})
        np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0, 4.0]])


def _external(tmp_path: Path, location: str) -> Path:
    model, onnx = _tiny_graph()
    folder = tmp_path / "m"
    folder.mkdir()
    onnx.save(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        location="weights.data",
        size_threshold=0,
    )
    if location != "weights.data":
        proto = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        for entry in proto.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = location
        onnx.save(proto, str(folder / "model.onnx"))
    return folder


def test_external_data_inside_the_folder_loads(tmp_path: Path) -> None:
    folder = _external(tmp_path, "weights.data")
    with OnnxRuntimeBackend(spec(folder, format="onnx")) as backend:
        np.testing.assert_array_equal(
            logits(backend, {"x": np.ones((1, 4), dtype=np.float32)}), [[1, 2, 3, 4]]
        )
        assert backend.info.as_run_bytes == 16


@pytest.mark.parametrize("location", ["../weights.data", "/etc/passwd"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, location: str) -> None:
    folder = _external(tmp_path, location)
    with pytest.raises(NotMeasurable, match="outside the artifact folder"):
        OnnxRuntimeBackend(spec(folder, format="onnx")).load()


def test_missing_external_data_is_named(tmp_path: Path) -> None:
    folder = _external(tmp_path, "weights.data")
    (folder / "weights.data").unlink()
    with pytest.raises(ValueError, match=r"external data file weights\.data of tensor 'w' is missing"):
        OnnxRuntimeBackend(spec(folder, format="onnx")).load()


def test_garbage_named_onnx_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match=r"model\.onnx is not a valid ONNX model"):
        OnnxRuntimeBackend(spec(tmp_path, format="onnx")).load()


def test_several_onnx_files_need_a_choice(tmp_path: Path) -> None:
    model, onnx = _tiny_graph()
    onnx.save(model, str(tmp_path / "a.onnx"))
    onnx.save(model, str(tmp_path / "b.onnx"))
    with pytest.raises(NotMeasurable, match=r"several \.onnx files \(a\.onnx, b\.onnx\)"):
        OnnxRuntimeBackend(spec(tmp_path, format="onnx")).load()
    with OnnxRuntimeBackend(spec(tmp_path, format="onnx", model_file="b.onnx")) as backend:
        assert backend.input_names() == ["x"]


def test_four_bit_initializers_count_half_a_byte() -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [],
        "g",
        [],
        [],
        initializer=[
            helper.make_tensor("q", TensorProto.INT4, [5, 2], np.zeros(10, dtype=np.int8).tolist()),
            helper.make_tensor("s", TensorProto.FLOAT16, [3], [0.5, 0.5, 0.5]),
        ],
    )
    assert initializer_bytes(helper.make_model(graph)) == 5 + 6
