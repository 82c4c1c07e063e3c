"""analyze_size on ONNX models: external data, the folder boundary, quantized initializers.

Models are built with onnx.helper and saved with onnx's own external-data writer; quantized
variants come from onnxruntime.quantization itself. Every model used for figures is also
opened by a real onnxruntime session, so the files are what a runtime would load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from grader.harness.models import SizeReport
from grader.harness.size import SizeError, analyze_size
from grader.messages import render_note

RNG = np.random.default_rng(99)


def _notes(report: SizeReport, language: str = "en") -> list[str]:
    """The report's size notes as a reader sees them (the catalog renders their keys and params)."""
    return [render_note(note, language) for note in report.notes]


def _linear_model(weight: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weight.shape[1]])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _runs(path: Path, n_in: int) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session.run(None, {"x": np.ones((1, n_in), dtype=np.float32)})


def _external_model(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    weight = RNG.standard_normal((64, 32)).astype(np.float32)
    weight[:, ::4] = 0.0
    bias = RNG.standard_normal(32).astype(np.float32)
    folder.mkdir(parents=True)
    onnx.save_model(
        _linear_model(weight, bias),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    _runs(folder / "model.onnx", 64)
    return weight, bias


def test_external_data_counts_both_files_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "onnx"
    weight, bias = _external_model(folder)
    (folder / "config.json").write_text("{}")
    onnx_bytes = (folder / "model.onnx").stat().st_size
    data_bytes = (folder / "model.onnx.data").stat().st_size
    assert data_bytes >= weight.nbytes + bias.nbytes  # the writer may align tensors

    report = analyze_size(folder, "onnx")

    assert {f.path: (f.role, f.bytes) for f in report.files} == {
        "model.onnx": ("weights", onnx_bytes),
        "model.onnx.data": ("weights", data_bytes),
        "config.json": ("config", 2),
    }
    assert report.weights_bytes == onnx_bytes + data_bytes
    assert report.params == 64 * 32 + 32
    assert report.dtypes["F32"].bytes == weight.nbytes + bias.nbytes
    w = next(t for t in report.tensors if t.name == "W")
    assert (w.file, w.shape, w.zeros, w.unique) == (
        "model.onnx.data",
        [64, 32],
        int(np.count_nonzero(weight == 0)),
        len(np.unique(weight)),
    )
    assert report.zeros_fraction == pytest.approx(int(np.count_nonzero(weight == 0)) / (64 * 32 + 32))

    # The same model given as its .onnx file: the external data comes along.
    single = analyze_size(folder / "model.onnx", "onnx")
    assert [f.path for f in single.files] == ["model.onnx", "model.onnx.data"]
    assert single.weights_bytes == report.weights_bytes and single.params == report.params
    assert analyze_size(folder, "tensorrt").weights_bytes == report.weights_bytes  # built from the ONNX


def _point_external_data_at(folder: Path, location: str) -> None:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@pytest.mark.parametrize(
    "location", ["../outside.data", "/etc/passwd", "sub/../../outside.data", "C:\\data.bin"]
)
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, location: str) -> None:
    folder = tmp_path / "model"
    _external_model(folder)
    (folder / "model.onnx.data").replace(tmp_path / "outside.data")
    _point_external_data_at(folder, location)
    with pytest.raises(
        SizeError, match=r"model\.onnx: tensor '[WB]': refers to external data .* outside the model"
    ):
        analyze_size(folder, "onnx")


def test_external_data_that_is_a_symlink_or_missing_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    _external_model(folder)
    (folder / "model.onnx.data").replace(tmp_path / "real.data")
    (folder / "model.onnx.data").symlink_to(tmp_path / "real.data")
    with pytest.raises(SizeError, match=r"model\.onnx\.data: is a symbolic link"):
        analyze_size(folder / "model.onnx", "onnx")  # even when only the .onnx is named
    (folder / "model.onnx.data").unlink()
    with pytest.raises(SizeError, match=r"refers to external data 'model\.onnx\.data', which is missing"):
        analyze_size(folder / "model.onnx", "onnx")


def test_external_data_range_is_checked(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    _external_model(folder)
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    length = next(e for e in model.graph.initializer[0].external_data if e.key == "length")
    length.value = "100"
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(
        SizeError, match=r"tensor 'W': F32 × \[64, 32\] needs 8,192 bytes but its external data length is 100"
    ):
        analyze_size(folder, "onnx")

    length.value = "8192"
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    with (folder / "model.onnx.data").open("r+b") as handle:
        handle.truncate(100)
    with pytest.raises(
        SizeError, match=r"tensor 'W': external data \[0, 8,192\) runs past the end of model\.onnx\.data"
    ):
        analyze_size(folder, "onnx")


def test_garbage_onnx_and_symlinked_onnx_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.onnx").write_bytes(b"\xff\xfe not a protobuf \x00" * 10)
    with pytest.raises(SizeError, match=r"model\.onnx: not a valid ONNX model"):
        analyze_size(tmp_path / "bad", "onnx")
    (tmp_path / "linked").mkdir()
    onnx.save_model(
        _linear_model(np.ones((2, 2), np.float32), np.ones(2, np.float32)), str(tmp_path / "real.onnx")
    )
    (tmp_path / "linked" / "model.onnx").symlink_to(tmp_path / "real.onnx")
    with pytest.raises(SizeError, match=r"model\.onnx: is a symbolic link"):
        analyze_size(tmp_path / "linked", "onnx")


def test_inline_typed_fields_and_constant_nodes(tmp_path: Path) -> None:
    half = RNG.choice(np.array([0.0, 1.5, -2.0], dtype=np.float16), size=(8, 4))
    floats = [0.0, 1.0, 0.0, 2.5]
    graph = helper.make_graph(
        [
            helper.make_node(
                "Constant", [], ["C"], value=helper.make_tensor("c", TensorProto.FLOAT, [4], floats)
            ),
            helper.make_node("Cast", ["H"], ["h32"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["x", "C"], ["y"]),
        ],
        "typed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [helper.make_tensor("H", TensorProto.FLOAT16, [8, 4], half.view(np.uint16).tolist(), raw=False)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert not model.graph.initializer[0].HasField("raw_data")  # stored in int32_data, one value each
    (tmp_path / "m").mkdir()
    onnx.save_model(model, str(tmp_path / "m" / "model.onnx"))

    report = analyze_size(tmp_path / "m", "onnx")

    h = next(t for t in report.tensors if t.name == "H")
    assert (h.dtype, h.bytes, h.zeros, h.unique) == (
        "F16",
        64,
        int(np.count_nonzero(half == 0)),
        len(np.unique(half)),
    )
    c = next(t for t in report.tensors if t.name == "c")
    assert (c.dtype, c.bytes, c.zeros, c.unique) == ("F32", 16, 2, 3)
    assert report.params == 32 + 4


def test_dynamic_int8_from_onnxruntime_keeps_the_parameter_count(tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = tmp_path / "fp32"
    weight, _ = _external_model(folder)
    (tmp_path / "int8").mkdir()
    quantize_dynamic(folder / "model.onnx", tmp_path / "int8" / "model.onnx", weight_type=QuantType.QInt8)
    _runs(tmp_path / "int8" / "model.onnx", 64)

    fp32 = analyze_size(folder, "onnx")
    int8 = analyze_size(tmp_path / "int8", "onnx")

    quantized = numpy_helper.to_array(
        next(
            t
            for t in onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.initializer
            if t.name == "W_quantized"
        )
    )
    assert int8.params == fp32.params == 64 * 32 + 32
    assert int8.quantization == ["onnx-integer-ops"]
    assert (int8.dtypes["I8"].params, int8.dtypes["I8"].bytes) == (2048, 2048)
    assert int8.dtypes["F32"].params == 32  # the bias stays float
    assert int8.dtypes["F32 (quantization metadata)"].params == 0
    w = next(t for t in int8.tensors if t.name == "W_quantized")
    assert w.zeros == int(np.count_nonzero(quantized == 0)) >= int(np.count_nonzero(weight == 0))
    assert w.unique == len(np.unique(quantized))
    assert {t.name for t in int8.tensors if t.quant == "metadata"} == {"W_scale", "W_zero_point"}
    assert any("quantization scales and zero points" in n for n in _notes(int8))
    assert int8.weights_bytes == (tmp_path / "int8" / "model.onnx").stat().st_size


def test_matmulnbits_four_bit_weights_count_k_times_n(tmp_path: Path) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    folder = tmp_path / "fp32"
    _external_model(folder)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(folder / "model.onnx")), block_size=32, is_symmetric=False)
    quantizer.process()
    (tmp_path / "q4").mkdir()
    onnx.save_model(quantizer.model.model, str(tmp_path / "q4" / "model.onnx"))
    _runs(tmp_path / "q4" / "model.onnx", 64)

    report = analyze_size(tmp_path / "q4", "onnx")

    packed = next(t for t in report.tensors if t.quant == "packed")
    assert (packed.dtype, packed.params, packed.packed_bits) == ("U8", 64 * 32, 4.0)
    assert report.params == 64 * 32 + 32
    assert report.quantization == ["onnx-matmulnbits"]
    meta = [t for t in report.tensors if t.quant == "metadata"]
    assert {t.name.split("_")[-1] for t in meta} >= {"scales", "points"}
    assert report.packed_bits_per_weight == pytest.approx(
        (packed.bytes + sum(t.bytes for t in meta)) * 8 / (64 * 32)
    )


def test_sparse_initializers_and_several_graphs_in_one_folder(tmp_path: Path) -> None:
    values = numpy_helper.from_array(np.array([1.5, -2.0, 3.0], dtype=np.float32), "S")
    indices = numpy_helper.from_array(np.array([0, 5, 9], dtype=np.int64), "S_indices")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "S"], ["y"])],
        "sparse",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [10])],
        sparse_initializer=[helper.make_sparse_tensor(values, indices, [10])],
    )
    folder = tmp_path / "two"
    folder.mkdir()
    onnx.save_model(helper.make_model(graph), str(folder / "encoder.onnx"))
    onnx.save_model(
        _linear_model(np.ones((4, 2), np.float32), np.zeros(2, np.float32)), str(folder / "decoder.onnx")
    )

    report = analyze_size(folder, "onnx")

    assert report.params == 10 + 8 + 2  # the sparse tensor counts at its dense shape; indices are metadata
    assert {f.path for f in report.files if f.role == "weights"} == {"encoder.onnx", "decoder.onnx"}
    assert any("2 model graphs (decoder.onnx, encoder.onnx)" in n for n in _notes(report))
    assert any("1 ONNX sparse initializers" in n for n in _notes(report))
