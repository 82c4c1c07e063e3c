"""Packed quantized checkpoints (GPTQ, AWQ, compressed-tensors, bitsandbytes) built by hand.

Each test packs random low-bit integers into int32 the way the real packers do, checks the
packing round-trips, writes the checkpoint with config.json, and compares every figure with
numbers computed here from the shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from grader.harness.models import SizeReport
from grader.harness.size import SizeError, analyze_size
from grader.messages import render_note

RNG = np.random.default_rng(7)


def _notes(report: SizeReport, language: str = "en") -> list[str]:
    """The report's size notes as a reader sees them (the catalog renders their keys and params)."""
    return [render_note(note, language) for note in report.notes]


def pack_rows(values: np.ndarray, bits: int) -> np.ndarray:
    """GPTQ qweight: 32/bits consecutive input rows share one int32, lowest bits first."""
    per = 32 // bits
    rows, cols = values.shape
    packed = np.zeros((rows // per, cols), dtype=np.uint32)
    for j in range(per):
        packed |= values[j::per].astype(np.uint32) << np.uint32(bits * j)
    return packed.view(np.int32)


def unpack_rows(packed: np.ndarray, bits: int) -> np.ndarray:
    per, mask = 32 // bits, (1 << bits) - 1
    raw = packed.view(np.uint32)
    out = np.zeros((raw.shape[0] * per, raw.shape[1]), dtype=np.uint32)
    for j in range(per):
        out[j::per] = (raw >> np.uint32(bits * j)) & np.uint32(mask)
    return out


def pack_columns(values: np.ndarray, bits: int, order: list[int] | None = None) -> np.ndarray:
    """Packing along the output dimension (GPTQ qzeros, AWQ qweight/qzeros with AWQ's order)."""
    per = 32 // bits
    order = order or list(range(per))
    rows, cols = values.shape
    packed = np.zeros((rows, cols // per), dtype=np.uint32)
    for slot, j in enumerate(order):
        packed |= values[:, j::per].astype(np.uint32) << np.uint32(bits * slot)
    return packed.view(np.int32)


def _write(folder: Path, tensors: dict[str, np.ndarray], quantization_config: dict | None) -> Path:
    folder.mkdir(parents=True)
    safetensors.numpy.save_file(tensors, str(folder / "model.safetensors"))
    config = {"model_type": "llama"}
    if quantization_config is not None:
        config["quantization_config"] = quantization_config
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _gptq_layer(prefix: str, n_in: int, n_out: int, bits: int, group: int) -> dict[str, np.ndarray]:
    weights = RNG.integers(0, 1 << bits, size=(n_in, n_out))
    zeros = RNG.integers(0, 1 << bits, size=(n_in // group, n_out))
    qweight = pack_rows(weights, bits)
    assert np.array_equal(unpack_rows(qweight, bits), weights)  # the packing is GPTQ's
    return {
        f"{prefix}.qweight": qweight,
        f"{prefix}.qzeros": pack_columns(zeros, bits),
        f"{prefix}.scales": RNG.standard_normal((n_in // group, n_out)).astype(np.float16),
        f"{prefix}.g_idx": (np.arange(n_in) // group).astype(np.int32),
        f"{prefix}.bias": RNG.standard_normal(n_out).astype(np.float16),
    }


@pytest.mark.parametrize("bits", [4, 8, 2])
def test_gptq_counts_the_weights_the_int32_words_hold(tmp_path: Path, bits: int) -> None:
    n_in, n_out, group = 256, 64, 128
    tensors = _gptq_layer("model.layers.0.mlp.up_proj", n_in, n_out, bits, group)
    tensors |= _gptq_layer("model.layers.0.mlp.down_proj", n_in, n_out, bits, group)
    tensors["model.embed_tokens.weight"] = RNG.standard_normal((100, n_in)).astype(np.float16)
    folder = _write(
        tmp_path / "gptq",
        tensors,
        {"quant_method": "gptq", "bits": bits, "group_size": group, "desc_act": False},
    )

    report = analyze_size(folder, "safetensors")

    logical = 2 * n_in * n_out
    unquantized = 2 * n_out + 100 * n_in  # biases + embeddings
    assert report.params == logical + unquantized
    assert report.quantization == ["gptq"]
    qweight = next(t for t in report.tensors if t.name == "model.layers.0.mlp.up_proj.qweight")
    assert (qweight.dtype, qweight.shape, qweight.params, qweight.quant) == (
        "I32",
        [n_in * bits // 32, n_out],
        n_in * n_out,
        "packed",
    )
    assert qweight.packed_bits == bits
    assert qweight.zeros is None and qweight.unique is None  # int32 words are not weights
    for leaf in ("qzeros", "scales", "g_idx"):
        meta = next(t for t in report.tensors if t.name == f"model.layers.0.mlp.up_proj.{leaf}")
        assert (meta.quant, meta.params) == ("metadata", 0)
    packed_bytes = 2 * n_in * n_out * bits // 8
    scales_bytes = 2 * (n_in // group) * n_out * 2
    qzeros_bytes = 2 * (n_in // group) * n_out * bits // 8
    g_idx_bytes = 2 * n_in * 4
    assert {k: (v.params, v.bytes) for k, v in report.dtypes.items()} == {
        f"INT{bits} (packed in I32)": (logical, packed_bytes),
        "F16": (unquantized, unquantized * 2),
        "F16 (quantization metadata)": (0, scales_bytes),
        "I32 (quantization metadata)": (0, qzeros_bytes + g_idx_bytes),
    }
    overhead = packed_bytes + scales_bytes + qzeros_bytes + g_idx_bytes
    assert report.packed_bits_per_weight == pytest.approx(overhead * 8 / logical)
    weights_bytes = (folder / "model.safetensors").stat().st_size
    assert report.effective_bits_per_weight == pytest.approx(weights_bytes * 8 / report.params)
    assert any(f"hold {logical:,} weights at {bits} bits" in n for n in _notes(report))


def test_gptq_bit_width_inferred_from_shapes_and_checked_against_config(tmp_path: Path) -> None:
    tensors = _gptq_layer("layer", 128, 32, 4, 64)
    report = analyze_size(_write(tmp_path / "no_config", tensors, None), "safetensors")
    assert report.params == 128 * 32 + 32
    assert report.quantization == ["gptq"]  # packed along the input dimension

    wrong = _write(tmp_path / "wrong", tensors, {"quant_method": "gptq", "bits": 8})
    with pytest.raises(SizeError, match=r"config.json says 8-bit, but layer.qzeros packs 4-bit zero points"):
        analyze_size(wrong, "safetensors")

    lonely = {"layer.qweight": tensors["layer.qweight"]}
    with pytest.raises(SizeError, match=r"cannot tell how many bits layer.qweight packs"):
        analyze_size(_write(tmp_path / "lonely", lonely, None), "safetensors")


def test_awq_gemm_checkpoint(tmp_path: Path) -> None:
    n_in, n_out, group, bits = 128, 64, 32, 4
    awq_order = [0, 2, 4, 6, 1, 3, 5, 7]
    tensors = {
        "layers.0.q_proj.qweight": pack_columns(RNG.integers(0, 16, (n_in, n_out)), bits, awq_order),
        "layers.0.q_proj.qzeros": pack_columns(RNG.integers(0, 16, (n_in // group, n_out)), bits, awq_order),
        "layers.0.q_proj.scales": RNG.standard_normal((n_in // group, n_out)).astype(np.float16),
        "norm.weight": np.ones(n_in, dtype=np.float16),
    }
    config = {"quant_method": "awq", "bits": 4, "group_size": group, "version": "gemm", "zero_point": True}
    for name, qconfig in (("declared", config), ("inferred", None)):
        report = analyze_size(_write(tmp_path / name, tensors, qconfig), "safetensors")
        assert report.params == n_in * n_out + n_in
        assert report.quantization == ["awq"]
        assert report.dtypes["INT4 (packed in I32)"].params == n_in * n_out
        assert report.dtypes["INT4 (packed in I32)"].bytes == n_in * n_out // 2
        overhead = n_in * n_out // 2 + (n_in // group) * n_out // 2 + (n_in // group) * n_out * 2
        assert report.packed_bits_per_weight == pytest.approx(overhead * 8 / (n_in * n_out))


def _compressed_config(num_bits: int) -> dict:
    return {
        "quant_method": "compressed-tensors",
        "format": "pack-quantized",
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": {"num_bits": num_bits, "type": "int", "symmetric": True, "strategy": "group"},
            }
        },
    }


def test_compressed_tensors_pack_quantized_with_row_padding(tmp_path: Path) -> None:
    n_out, n_in, group = 48, 100, 50  # 100 inputs do not fill whole int32 words: the last one is padded
    values = RNG.integers(0, 16, size=(n_out, n_in))
    padded = np.zeros((n_out, 104), dtype=np.int64)
    padded[:, :n_in] = values
    packed = pack_columns(padded, 4)  # compressed-tensors packs along the input dimension
    assert packed.shape == (n_out, 13)
    tensors = {
        "model.layers.0.self_attn.o_proj.weight_packed": packed,
        "model.layers.0.self_attn.o_proj.weight_scale": RNG.standard_normal((n_out, n_in // group)).astype(
            np.float16
        ),
        "model.layers.0.self_attn.o_proj.weight_shape": np.array([n_out, n_in], dtype=np.int64),
        "lm_head.weight": RNG.standard_normal((10, n_out)).astype(np.float32),
    }
    report = analyze_size(_write(tmp_path / "ct", tensors, _compressed_config(4)), "safetensors")

    assert report.params == n_out * n_in + 10 * n_out
    assert report.quantization == ["compressed-tensors"]
    weight = next(t for t in report.tensors if t.name.endswith("weight_packed"))
    assert weight.params == n_out * n_in
    assert weight.packed_bits == pytest.approx(n_out * 13 * 32 / (n_out * n_in)) == pytest.approx(4.16)
    share = report.dtypes["INT4 (packed in I32)"]
    assert (share.params, share.bytes) == (n_out * n_in, n_out * 13 * 4)
    meta = (
        report.dtypes["F16 (quantization metadata)"].bytes
        + report.dtypes["I64 (quantization metadata)"].bytes
    )
    assert meta == n_out * (n_in // group) * 2 + 16

    del tensors["model.layers.0.self_attn.o_proj.weight_shape"]  # then the config's num_bits decides
    report = analyze_size(_write(tmp_path / "no_shape", tensors, _compressed_config(4)), "safetensors")
    assert next(t for t in report.tensors if t.name.endswith("weight_packed")).params == n_out * 13 * 8


def test_compressed_tensors_int8_weights_keep_their_params_and_scales_are_metadata(tmp_path: Path) -> None:
    weight = RNG.integers(-128, 128, size=(32, 64), dtype=np.int8)
    weight[:, ::2] = 0
    tensors = {
        "fc.weight": weight,
        "fc.weight_scale": RNG.random((32, 1)).astype(np.float32),
        "fc.bias": RNG.standard_normal(32).astype(np.float32),
    }
    qconfig = _compressed_config(8) | {"format": "int-quantized"}
    report = analyze_size(_write(tmp_path / "int8", tensors, qconfig), "safetensors")
    assert report.params == 32 * 64 + 32
    assert report.dtypes["I8"].params == 2048
    assert report.dtypes["F32 (quantization metadata)"].bytes == 32 * 4
    # int8 weights are value tensors: their zeros count towards sparsity.
    fc = next(t for t in report.tensors if t.name == "fc.weight")
    assert fc.zeros == int(np.count_nonzero(weight == 0))
    assert report.zeros_fraction == pytest.approx(fc.zeros / (2048 + 32))


def test_bitsandbytes_nf4_uses_the_shape_in_its_quant_state(tmp_path: Path) -> None:
    n_out, n_in = 24, 33  # odd element count: 792 values in 396 bytes
    state = json.dumps({"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [n_out, n_in]})
    prefix = "model.layers.0.mlp.gate_proj.weight"
    tensors = {
        prefix: RNG.integers(0, 256, size=(n_out * n_in // 2, 1), dtype=np.uint8),
        f"{prefix}.absmax": RNG.random(13).astype(np.float32),
        f"{prefix}.quant_map": np.linspace(-1, 1, 16, dtype=np.float32),
        f"{prefix}.quant_state.bitsandbytes__nf4": np.frombuffer(state.encode(), dtype=np.uint8).copy(),
        "model.norm.weight": np.ones(n_in, dtype=np.float16),
    }
    qconfig = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    report = analyze_size(_write(tmp_path / "bnb", tensors, qconfig), "safetensors")
    assert report.params == n_out * n_in + n_in
    assert report.quantization == ["bitsandbytes"]
    assert report.dtypes["NF4 (packed in U8)"].params == n_out * n_in
    assert report.dtypes["NF4 (packed in U8)"].bytes == n_out * n_in // 2
    assert report.packed_bits_per_weight == pytest.approx(
        (n_out * n_in // 2 + 13 * 4 + 16 * 4 + len(state)) * 8 / (n_out * n_in)
    )
