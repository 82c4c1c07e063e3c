"""Quantized transformers checkpoints (GPTQ, AWQ, compressed-tensors) built by hand and loaded for real.

The tests quantize a tiny random Llama themselves, pack the integers in each format's layout
with their own packers (written from the format descriptions, independent of the module under
test), and keep the float weights the packed tensors stand for. Then:
- the module's numpy dequantisation must give back exactly those weights;
- a real load through transformers' quantizers (when the `quant` extra is installed) must give
  the logits of a dense model built from those weights;
- the GPTQ checkpoint goes through the harness itself (a measurement child: load, latency, memory)
  with the gptqmodel import kept out of the model's memory.

CI installs the runtimes (the `test` extra pins gptqmodel 7.6.0, the newest that installs with
torch 2.13), so there these tests load for real; `test_ci_installs_the_quant_runtimes` fails CI
if they would be skipped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grader.harness.backends.base import NotMeasurable
from grader.harness.backends.quantized import (
    SUPPORTED,
    QuantizationInfo,
    default_kernel,
    dequantize_awq,
    dequantize_gptq,
    dequantize_pack_quantized,
    describe_quantized_modules,
    detect_quantization,
    missing_packages,
    pre_load_modules,
    prepare_quantized_load,
    quantization_notes,
    quantized_weight_bytes,
    unavailable_reason,
)

GROUP = 32
VOCAB = 128


# --- independent packers -------------------------------------------------------------------------


def pack_along(values: np.ndarray, axis: int, order: tuple[int, ...] = tuple(range(8))) -> np.ndarray:
    """Eight 4-bit unsigned values per int32 along ``axis``; slot i holds logical value order[i]."""
    values = np.moveaxis(values.astype(np.int64), axis, -1)
    words = np.zeros((*values.shape[:-1], values.shape[-1] // 8), dtype=np.int64)
    for slot, logical in enumerate(order):
        words |= values[..., logical::8] << (4 * slot)
    words = np.where(words >= 2**31, words - 2**32, words)  # as the signed int32 the files store
    return np.moveaxis(words.astype(np.int32), -1, axis)


def quantize_groups(weight: np.ndarray, symmetric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """weight [out, in] → q [out, in] in 0..15, zero [out, groups], scale [out, groups] (fp16-exact)."""
    out_f, in_f = weight.shape
    grouped = weight.reshape(out_f, in_f // GROUP, GROUP)
    if symmetric:
        scale = np.abs(grouped).max(-1) / 7.0
        zero = np.full(scale.shape, 8, dtype=np.int64)
    else:
        low, high = grouped.min(-1), grouped.max(-1)
        scale = (high - low) / 15.0
        zero = np.clip(np.round(-low / scale), 0, 15).astype(np.int64)
    scale = scale.astype(np.float16).astype(np.float32)
    q = np.clip(np.round(grouped / scale[..., None]) + zero[..., None], 0, 15).astype(np.int64)
    return q.reshape(out_f, in_f), zero, scale


def dequantized(q: np.ndarray, zero: np.ndarray, scale: np.ndarray) -> np.ndarray:
    groups = np.arange(q.shape[1]) // GROUP
    return ((q - zero[:, groups]) * scale[:, groups]).astype(np.float32)


def gptq_tensors(weight: np.ndarray, v1: bool = True, act_order: bool = False) -> tuple[dict, np.ndarray]:
    q, zero, scale = quantize_groups(weight, symmetric=True)
    g_idx = np.arange(weight.shape[1]) // GROUP
    if act_order:
        # act-order checkpoints assign input rows to groups in a permuted order
        g_idx = np.random.default_rng(1).permutation(g_idx)
        q, zero, scale = _requantize_by_gidx(weight, g_idx)
    stored_zero = (zero - 1) & 0xF if v1 else zero
    tensors = {
        "qweight": pack_along(q.T, axis=0),  # [in/8, out]
        "qzeros": pack_along(stored_zero.T, axis=1),  # [groups, out/8]
        "scales": scale.T.astype(np.float16),  # [groups, out]
        "g_idx": g_idx.astype(np.int32),
    }
    reference = ((q - zero[:, g_idx]) * scale[:, g_idx]).astype(np.float32)
    return tensors, reference


def _requantize_by_gidx(weight: np.ndarray, g_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    groups = g_idx.max() + 1
    scale = np.stack([np.abs(weight[:, g_idx == g]).max(1) / 7.0 for g in range(groups)], axis=1)
    scale = scale.astype(np.float16).astype(np.float32)
    zero = np.full(scale.shape, 8, dtype=np.int64)
    q = np.clip(np.round(weight / scale[:, g_idx]) + 8, 0, 15).astype(np.int64)
    return q, zero, scale


def awq_tensors(weight: np.ndarray) -> tuple[dict, np.ndarray]:
    q, zero, scale = quantize_groups(weight, symmetric=False)
    order = (0, 2, 4, 6, 1, 3, 5, 7)
    tensors = {
        "qweight": pack_along(q.T, axis=1, order=order),  # [in, out/8]
        "qzeros": pack_along(zero.T, axis=1, order=order),  # [groups, out/8]
        "scales": scale.T.astype(np.float16),  # [groups, out]
    }
    return tensors, dequantized(q, zero, scale)


def pack_quantized_tensors(weight: np.ndarray) -> tuple[dict, np.ndarray]:
    q, zero, scale = quantize_groups(weight, symmetric=True)  # zero is 8: signed value q - 8
    tensors = {
        "weight_packed": pack_along(q, axis=1),  # [out, in/8], signed values offset by 8
        "weight_scale": scale.astype(np.float16),  # [out, groups]
        "weight_shape": np.array(weight.shape, dtype=np.int64),
    }
    return tensors, dequantized(q, zero, scale)


# --- tiny checkpoints ----------------------------------------------------------------------------

QUANT_CONFIGS: dict[str, dict[str, Any]] = {
    "gptq": {
        "quant_method": "gptq",
        "bits": 4,
        "group_size": GROUP,
        "desc_act": False,
        "sym": True,
        "checkpoint_format": "gptq",
        "damp_percent": 0.01,
        "true_sequential": True,
    },
    "awq": {"quant_method": "awq", "bits": 4, "group_size": GROUP, "zero_point": True, "version": "gemm"},
    "compressed-tensors": {
        "quant_method": "compressed-tensors",
        "format": "pack-quantized",
        "quantization_status": "compressed",
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": {
                    "num_bits": 4,
                    "type": "int",
                    "symmetric": True,
                    "strategy": "group",
                    "group_size": GROUP,
                    "dynamic": False,
                },
                "input_activations": None,
                "output_activations": None,
                "format": "pack-quantized",
            }
        },
        "ignore": ["lm_head"],
    },
}

PACKERS = {"gptq": gptq_tensors, "awq": awq_tensors, "compressed-tensors": pack_quantized_tensors}


def tiny_llama() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


def write_checkpoint(folder: Path, method: str, act_order: bool = False) -> Any:
    """Quantize every Linear but lm_head into ``folder``; return the dense reference model."""
    from safetensors.torch import save_file

    model = tiny_llama()
    reference = tiny_llama()
    state = {}
    reference_state = {}
    quantized = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name != "lm_head"
    }
    for key, value in model.state_dict().items():
        module_name = key.removesuffix(".weight")
        if module_name in quantized:
            weight = value.float().numpy()
            tensors, dense = gptq_tensors(weight, act_order=True) if act_order else PACKERS[method](weight)
            state |= {
                f"{module_name}.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()
            }
            reference_state[key] = torch.from_numpy(dense)
        else:
            state[key] = value.half()  # the checkpoint keeps the rest in fp16, like real ones
            reference_state[key] = value.half().float()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config["dtype"] = "float16"
    config["quantization_config"] = QUANT_CONFIGS[method] | ({"desc_act": True} if act_order else {})
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    reference.load_state_dict(reference_state)
    return reference


def needs(method: str) -> pytest.MarkDecorator:
    missing = missing_packages(QuantizationInfo(method=method))
    return pytest.mark.skipif(
        bool(missing), reason=f"{method} needs {', '.join(missing)} (the `quant` extra), not installed here"
    )


def test_ci_installs_the_quant_runtimes() -> None:
    """In CI a missing runtime would turn the real-load tests below into silent skips."""
    if not os.environ.get("CI"):
        pytest.skip("checks CI's environment (CI is not set here)")
    for method in SUPPORTED:
        assert missing_packages(QuantizationInfo(method=method)) == [], method


# --- detection -----------------------------------------------------------------------------------


def test_detects_each_method_from_config_json(tmp_path: Path) -> None:
    for method, quant in QUANT_CONFIGS.items():
        folder = tmp_path / method
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": "llama", "quantization_config": quant}))
        info = detect_quantization(folder)
        assert info is not None
        assert (info.method, info.bits, info.group_size) == (method, 4, GROUP)
    gptq = detect_quantization(tmp_path / "gptq")
    assert gptq is not None and gptq.symmetric is True and gptq.checkpoint_format == "gptq"
    assert gptq.describe() == "GPTQ 4-bit, group 32, symmetric, format gptq"
    awq = detect_quantization(tmp_path / "awq")
    assert awq is not None and awq.symmetric is False and awq.checkpoint_format == "gemm"
    ct = detect_quantization(tmp_path / "compressed-tensors")
    assert ct is not None and ct.checkpoint_format == "pack-quantized" and ct.symmetric is True


def test_dense_checkpoint_needs_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert detect_quantization(tmp_path) is None
    assert prepare_quantized_load(tmp_path) == {}


def test_old_autogptq_layout_is_explained(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "quantize_config.json").write_text(json.dumps({"bits": 4, "group_size": 128}))
    with pytest.raises(ValueError, match=r"quantize_config\.json.*copy that JSON object into config\.json"):
        detect_quantization(tmp_path)


def test_malformed_quantization_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"bits": 4}}))
    with pytest.raises(ValueError, match="quant_method"):
        detect_quantization(tmp_path)


def test_unsupported_method_is_not_measurable(tmp_path: Path) -> None:
    quant = {"quant_method": "hqq", "nbits": 4}
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": quant}))
    with pytest.raises(NotMeasurable, match="'hqq' is not one the grader loads; supported: gptq"):
        prepare_quantized_load(tmp_path)


def test_missing_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail exactly as on a runner without it.
    monkeypatch.setitem(sys.modules, "gptqmodel", None)
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": QUANT_CONFIGS["gptq"]}))
    with pytest.raises(NotMeasurable) as caught:
        prepare_quantized_load(tmp_path)
    message = str(caught.value)
    assert "GPTQ 4-bit, group 32" in message and "gptqmodel" in message
    assert "install the `quant` extra" in message


def test_odd_bit_width_has_no_kernel(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"quantization_config": {**QUANT_CONFIGS["gptq"], "bits": 5}})
    )
    info = detect_quantization(tmp_path)
    assert info is not None
    reason = unavailable_reason(info, "cpu")
    assert reason is not None and ("5 bits" in reason or "install" in reason)


def test_default_kernels() -> None:
    def info(method: str, bits: int = 4) -> QuantizationInfo:
        return QuantizationInfo(method=method, bits=bits)

    assert default_kernel(info("gptq"), "cpu") == "gptq_torch_aten"  # torch's int4pack: no build step
    assert default_kernel(info("gptq", 8), "cpu") == "torch"
    assert default_kernel(info("awq"), "cpu") == "torch_awq"
    assert default_kernel(info("compressed-tensors"), "cpu") == "dequantize"
    for method in SUPPORTED:
        assert default_kernel(info(method), "cuda") is None  # the library picks the best GPU kernel


@needs("compressed-tensors")
def test_compressed_tensors_kwargs(tmp_path: Path) -> None:
    quant = QUANT_CONFIGS["compressed-tensors"]
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": quant}))
    kwargs = prepare_quantized_load(tmp_path, "cpu")
    assert set(kwargs) == {"quantization_config"}  # no device_map on CPU: it would need accelerate
    assert kwargs["quantization_config"].get_loading_attributes() == {
        "dequantize": True,
        "use_optimized_inference": False,
    }
    with pytest.raises(ValueError, match="not one of dequantize, compressed, optimized"):
        prepare_quantized_load(tmp_path, "cpu", kernel="marlin")


def test_pre_load_modules_name_each_methods_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def folder(name: str, config: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "config.json").write_text(json.dumps({"model_type": "llama", **config}))
        return path

    expected = {
        "gptq": ["gptqmodel", "optimum.gptq"],
        "awq": ["gptqmodel", "gptqmodel.quantization.awq.modules.act", "transformers.integrations.awq"],
        "compressed-tensors": ["compressed_tensors"],
    }
    for method, quant in QUANT_CONFIGS.items():
        got = pre_load_modules(folder(method, {"quantization_config": quant}))
        installed = not missing_packages(QuantizationInfo(method=method))
        assert got == (expected[method] if installed else []), method
    # nothing to import for a dense model, a broken config or an unsupported method: load() says why
    assert pre_load_modules(folder("dense", {})) == []
    assert pre_load_modules(folder("broken", {"quantization_config": {"bits": 4}})) == []
    assert pre_load_modules(folder("bnb", {"quantization_config": {"quant_method": "bitsandbytes"}})) == []
    monkeypatch.setitem(sys.modules, "gptqmodel", None)
    assert pre_load_modules(tmp_path / "gptq") == []  # missing: no ImportError while setting up


# --- numpy references ----------------------------------------------------------------------------


@pytest.fixture
def weight() -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.05, size=(48, 64)).astype(np.float32)


@pytest.mark.parametrize("v1", [True, False])
@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_dequantisation(weight: np.ndarray, v1: bool, act_order: bool) -> None:
    tensors, reference = gptq_tensors(weight, v1=v1, act_order=act_order)
    got = dequantize_gptq(
        tensors["qweight"],
        tensors["qzeros"],
        tensors["scales"],
        tensors["g_idx"],
        4,
        "gptq" if v1 else "gptq_v2",
    )
    np.testing.assert_array_equal(got, reference)
    # 4-bit error is visible but bounded: the reference is what the quantized model computes with.
    assert 0 < np.abs(got - weight).max() < 0.05


def test_gptq_v1_and_v2_differ_by_the_stored_zero(weight: np.ndarray) -> None:
    tensors, _ = gptq_tensors(weight, v1=True)
    args = (tensors["qweight"], tensors["qzeros"], tensors["scales"], tensors["g_idx"], 4)
    shift = dequantize_gptq(*args, "gptq_v2") - dequantize_gptq(*args, "gptq")
    groups = np.arange(weight.shape[1]) // GROUP
    np.testing.assert_allclose(shift, tensors["scales"].astype(np.float32).T[:, groups], rtol=1e-6)


def test_awq_dequantisation(weight: np.ndarray) -> None:
    tensors, reference = awq_tensors(weight)
    np.testing.assert_array_equal(
        dequantize_awq(tensors["qweight"], tensors["qzeros"], tensors["scales"]), reference
    )


def test_pack_quantized_dequantisation(weight: np.ndarray) -> None:
    tensors, reference = pack_quantized_tensors(weight)
    got = dequantize_pack_quantized(tensors["weight_packed"], tensors["weight_scale"], 4)
    np.testing.assert_array_equal(got, reference)


def test_pack_quantized_asymmetric_zero_points(weight: np.ndarray) -> None:
    q, zero, scale = quantize_groups(weight, symmetric=False)
    # compressed-tensors stores zero points signed (zero − 8), packed along the output dimension
    packed_zero = pack_along(zero, axis=0)
    got = dequantize_pack_quantized(pack_along(q, axis=1), scale, 4, weight_zero_point=packed_zero)
    np.testing.assert_allclose(got, dequantized(q, zero, scale), rtol=0, atol=1e-7)


# --- real loads through transformers -------------------------------------------------------------


def load_and_compare(folder: Path, reference: Any) -> Any:
    from transformers import AutoModelForCausalLM

    kwargs = prepare_quantized_load(folder, "cpu")
    model = AutoModelForCausalLM.from_pretrained(
        str(folder),
        use_safetensors=True,
        trust_remote_code=False,
        local_files_only=True,
        dtype="auto",
        **kwargs,
    ).eval()
    ids = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        got = model(input_ids=ids).logits.float()
        want = reference(input_ids=ids).logits
        dense = tiny_llama()(input_ids=ids).logits
    # fp16 kernels against an fp32 reference: a few 1e-4 on logits of magnitude ~0.5
    error = (got - want).abs().max().item()
    assert error < 5e-3, error
    # ...and the comparison can tell: the unquantized model is much further away.
    assert (got - dense).abs().max().item() > 4 * error
    return model


@needs("gptq")
@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_checkpoint_loads_through_gptqmodel(tmp_path: Path, act_order: bool) -> None:
    reference = write_checkpoint(tmp_path, "gptq", act_order=act_order)
    model = load_and_compare(tmp_path, reference)
    layers = describe_quantized_modules(model)
    assert layers == "14 × TorchAtenLinear (gptqmodel)"
    order = "act-order, " if act_order else ""
    assert quantization_notes(tmp_path, model) == [
        f"GPTQ 4-bit, group 32, symmetric, {order}format gptq; runs 14 × TorchAtenLinear (gptqmodel)"
    ]
    dense_bytes = sum(p.numel() * 2 for p in tiny_llama().parameters())
    assert quantized_weight_bytes(model) < dense_bytes


@needs("awq")
def test_awq_checkpoint_loads_through_gptqmodel(tmp_path: Path) -> None:
    reference = write_checkpoint(tmp_path, "awq")
    model = load_and_compare(tmp_path, reference)
    assert describe_quantized_modules(model) == "14 × AwqTorchLinear (gptqmodel)"


@needs("compressed-tensors")
def test_compressed_tensors_checkpoint_loads(tmp_path: Path) -> None:
    reference = write_checkpoint(tmp_path, "compressed-tensors")
    model = load_and_compare(tmp_path, reference)
    # No packed int kernels on CPU: the weights were unpacked at load, so the model runs dense fp16
    # from the start (not silently during the first timed call).
    assert describe_quantized_modules(model) is None
    assert quantization_notes(tmp_path, model) == [
        "compressed-tensors 4-bit, group 32, symmetric, format pack-quantized; weights dequantized at load "
        "to float16 (no packed kernel for this method on this device): the model runs dense"
    ]
    dense_fp16_bytes = sum(p.numel() * 2 for p in tiny_llama().parameters())
    assert quantized_weight_bytes(model) >= dense_fp16_bytes


@needs("gptq")
@pytest.mark.slow
def test_gptq_checkpoint_measured_by_the_harness(tmp_path: Path) -> None:
    """The real path: a forked measurement child loads the packed checkpoint, times it, and its
    memory reading holds the model, not the ~155 MiB that importing gptqmodel costs."""
    from harness_support import FAST_LATENCY

    from grader.course.model import LatencySettings, Threads
    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.environment import ThreadPlan
    from grader.harness.jobs import Limits, PhaseJob
    from grader.harness.memory import MIB, memory_result
    from grader.harness.runner import Runner

    write_checkpoint(tmp_path / "gptq", "gptq")
    ids = np.random.default_rng(0).integers(0, VOCAB, size=(1, 16)).astype(np.int64)
    np.savez(tmp_path / "inputs.npz", input_ids=ids)
    plan = ThreadPlan.from_course(Threads(intra_op=1, inter_op=1))
    (tmp_path / "work").mkdir()
    outcomes = {}
    with Runner(tmp_path / "work", plan.env()) as runner:
        for phase in ("latency", "memory"):
            job = PhaseJob(
                phase=phase,
                backend="transformers",
                model_dir=str(tmp_path / "gptq"),
                format="safetensors",
                inputs_file=str(tmp_path / "inputs.npz"),
                latency=LatencySettings(**FAST_LATENCY),
            )
            outcomes[phase] = runner.run(job, Limits(timeout_s=300), preload=TransformersBackend.preload)
    for phase, outcome in outcomes.items():
        assert outcome.ok, f"{phase}: {outcome.reason}\n{outcome.stderr_tail}"
    latency = outcomes["latency"].report
    assert latency is not None and latency.load is not None and latency.timing is not None
    assert "GPTQ 4-bit, group 32, symmetric, format gptq; runs 14 × TorchAtenLinear (gptqmodel)" in (
        latency.load.notes
    )
    assert latency.timing.samples_ms and min(latency.timing.samples_ms) > 0
    dense_fp16_bytes = sum(p.numel() * 2 for p in tiny_llama().parameters())
    assert latency.load.as_run_bytes is not None and latency.load.as_run_bytes < dense_fp16_bytes
    memory, info = outcomes["memory"].report, outcomes["memory"].exit
    assert memory is not None and info is not None and memory.rss_before_load_bytes is not None
    reading = memory_result(
        rss_before_load=memory.rss_before_load_bytes, ru_maxrss=info.ru_maxrss_bytes, vmhwm=memory.vmhwm_bytes
    )
    # The weights are ~60 KiB; what is left is allocator and first-call working memory.
    assert reading.peak_above_interpreter_bytes < 60 * MIB, reading.peak_above_interpreter_bytes / MIB
