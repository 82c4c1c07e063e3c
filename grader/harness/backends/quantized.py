"""Quantized transformers checkpoints (GPTQ, AWQ, compressed-tensors, bitsandbytes) via their quantizers.

A quantized checkpoint is an ordinary safetensors folder whose config.json carries a
`quantization_config`; transformers picks the quantizer from its `quant_method` and replaces the
Linear layers with packed ones before the weights load. The packages behind each method:

- GPTQ → gptqmodel (kernels) + optimum (transformers' GPTQ integration calls optimum.gptq);
- AWQ → gptqmodel (it took over the AWQ kernels; autoawq and auto-gptq are dead upstream) + accelerate;
- compressed-tensors → compressed-tensors (pack-quantized int4/int8 and friends). On CPU it has no
  packed kernels: the weights are dequantized to the checkpoint's float dtype at load, so the model
  runs (and is measured) dense; LoadInfo notes say so.
- bitsandbytes → bitsandbytes + accelerate: LLM.int8 (int8 weights + SCB) and 4-bit NF4/FP4
  (uint8-packed weights + absmax / quant_map / quant_state, optionally double-quantized), as
  `save_pretrained` writes them after `load_in_8bit` / `load_in_4bit`. bitsandbytes >= 0.46.1 (the
  oldest transformers 5 loads) runs both on CPU with its PyTorch ops, and on CUDA with its kernels.
  The packed layers stay packed (Linear8bitLt / Linear4bit); int8 casts fp32 activations to fp16
  on every call, and bitsandbytes logs that at every call: silenced (:func:`prepare_quantized_load`),
  so the timed loop does not time a logger. The 4-bit CPU path would use a Hub kernel through the
  `kernels` package when installed; the grader never installs it (no network on the runner), so
  the PyTorch fallback runs. On a CPU with AVX512-BF16, bitsandbytes instead repacks each 4-bit
  weight at its first inference call for a bf16 kernel that needs out_features divisible by 32,
  and crashes on any other layer (a 2-class head): :func:`fit_loaded_model` keeps those layers on
  the PyTorch path and says how many ran which (the two agree to about 0.3 % of a logit).

They are the `quant` extra. The transformers backend calls :func:`prepare_quantized_load` before
`from_pretrained` and merges the kwargs it returns; a missing package becomes NotMeasurable with
the extra to install, never a traceback in the child. It also imports :func:`pre_load_modules`
before the child's pre-load RSS reading: importing gptqmodel costs about 155 MiB of RSS and 2.6 s
(it pulls in torchao, datasets, pyarrow, ...), which is code, not the model's memory or load time.

gptqmodel versions (pinned in the `quant` extra): 7.7 asks for torch >= 2.14.1; 7.0-7.6 accept
torch >= 2.8 and so install with the torch 2.13 CPU build, but pin numpy==2.2.6 on Python < 3.14;
optimum 2.x refuses gptqmodel < 7.0 (and 5.x/6.x sdists run a CUDA-extension setup.py that needs
torch at build time). 7.6.0 is the newest that installs with torch 2.13: it is pure Python, and
its kernels used here (`gptq_torch_aten`, `torch`, `torch_awq`) need no compiler.

Kernel choice is explicit so runs are comparable and load time does not hide a compiler run.
On CPU: 4-bit GPTQ uses gptqmodel's `gptq_torch_aten` (torch's own int4pack CPU matmul: no build
step, about as fast as the dense model); other GPTQ widths use the portable `torch` kernel (much
slower: about 10 s to the first call and several times the dense latency on the 2-core dev machine);
AWQ uses `torch_awq` (transformers accepts only its AwqBackend names). gptqmodel's `auto` would pick
the AVX512 kernel, which JIT-compiles a C++ extension on first use (about 150 s here), landing in
one child's load time and not the next one's. On CUDA gptqmodel picks its best kernel (`auto`).
The kernel that really ran is recorded (:func:`quantization_notes`).

This module also holds a numpy reference for GPTQ/AWQ/compressed-tensors int4 packing
(:func:`dequantize_gptq`, :func:`dequantize_awq`, :func:`dequantize_pack_quantized`), used by the
tests to check a real load against the dequantised weights, and usable wherever the grader wants
the weights a packed checkpoint stands for.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.backends.base import NotMeasurable

# The config.json reading and the supported methods are shared with validation; re-exported here,
# where the backend and its tests have always found them.
from grader.quantization import (
    COMPRESSED_TENSORS_MODES,
    SUPPORTED,
    MethodSupport,
    QuantizationInfo,
    bitsandbytes_problem,
    bitsandbytes_version,
    detect_quantization,
    read_config,
)

__all__ = [
    "AWQ_ORDER",
    "COMPRESSED_TENSORS_MODES",
    "QUANT_EXTRA",
    "SUPPORTED",
    "MethodSupport",
    "QuantizationInfo",
    "default_kernel",
    "dequantize_awq",
    "dequantize_gptq",
    "dequantize_pack_quantized",
    "describe_quantized_modules",
    "detect_quantization",
    "fit_loaded_model",
    "missing_packages",
    "pre_load_modules",
    "prepare_quantized_load",
    "quantization_notes",
    "quantized_weight_bytes",
    "read_config",
    "unavailable_reason",
    "unpack_int32",
]

QUANT_EXTRA = "quant"


def missing_packages(info: QuantizationInfo, device: str = "cpu") -> list[str]:
    """pip names of the packages the method needs on ``device`` that are not importable here."""
    support = SUPPORTED.get(info.method)
    if support is None:
        return []
    needed = dict(zip(support.packages, support.pip_names, strict=True))
    if device != "cpu":
        needed["accelerate"] = "accelerate"  # transformers needs it for device_map
    return [pip_name for package, pip_name in needed.items() if not _importable(package)]


def unavailable_reason(info: QuantizationInfo, device: str) -> str | None:
    """None if this checkpoint can load here; otherwise why not and what to install."""
    if not info.supported:
        return (
            f"quantization method {info.method!r} is not one the grader loads; supported: "
            f"{', '.join(SUPPORTED)} (GPTQ and AWQ through gptqmodel, compressed-tensors, bitsandbytes)"
        )
    missing = missing_packages(info, device)
    if missing:
        return (
            f"{info.describe()} checkpoints need {', '.join(missing)}, which this runner lacks "
            f"(install the `{QUANT_EXTRA}` extra: pip install 'compression-grader[{QUANT_EXTRA}]')"
        )
    if info.bits is not None and info.bits not in (2, 3, 4, 8) and info.method in ("gptq", "awq"):
        return f"{info.method.upper()} with {info.bits} bits has no kernel (2, 3, 4 or 8 bits)"
    if info.method == "bitsandbytes":
        return bitsandbytes_problem(info, bitsandbytes_version())
    return None


def pre_load_modules(model_dir: Path, device: str = "cpu") -> list[str]:
    """Modules to import before a quantized checkpoint's load is measured; [] for a dense one.

    Empty too when the checkpoint cannot load here (unsupported method, missing package, bad
    config): :func:`prepare_quantized_load` then says why, as NotMeasurable or ValueError, inside
    the load stage where the report names it, instead of an ImportError while setting up.
    """
    try:
        info = detect_quantization(model_dir)
    except ValueError:
        return []
    if info is None or unavailable_reason(info, device) is not None:
        return []
    # A submodule that a later release moved is skipped: the load imports whatever it needs.
    return [name for name in SUPPORTED[info.method].modules if _importable(name)]


def prepare_quantized_load(model_dir: Path, device: str = "cpu", kernel: str | None = None) -> dict[str, Any]:
    """Extra `from_pretrained` kwargs for a quantized checkpoint; {} for a dense one.

    Raises NotMeasurable when the method is unsupported or its packages are missing here, and
    ValueError when the config is malformed. ``kernel`` overrides the per-device default (a
    gptqmodel backend name such as `torch`, `gptq_marlin`, `torch_awq`; None = the default).
    The caller merges the result over its own kwargs::

        kwargs = {"use_safetensors": True, ...} | prepare_quantized_load(folder, spec.device)
    """
    info = detect_quantization(model_dir)
    if info is None:
        return {}
    reason = unavailable_reason(info, device)
    if reason:
        raise NotMeasurable(reason)
    # On a GPU the packed layers must be created there (a kernel picked for the CPU and moved
    # later stays the CPU kernel); on the CPU transformers' default placement is already right,
    # except for bitsandbytes, whose quantizer puts an unplaced model on CUDA wherever torch sees
    # a GPU (the CPU measurement on the GPU runner would run on the GPU).
    kwargs: dict[str, Any] = {} if device == "cpu" else {"device_map": {"": device}}
    if info.method == "bitsandbytes":
        _quiet_per_call_logs()
        return {"device_map": {"": device}}
    chosen = kernel if kernel is not None else default_kernel(info, device)
    if chosen is not None:
        kwargs["quantization_config"] = _loading_config(info, chosen)
    return kwargs


# bitsandbytes' AVX512-BF16 4-bit CPU layout tiles out_features in blocks of 32
# (functional._convert_weight_packed_for_cpu, block_n=32).
BNB_CPU_BLOCK_N = 32


def fit_loaded_model(model: Any, device: str) -> list[str]:
    """After the load: what the library would get wrong at the first call is set right; notes say what.

    Only bitsandbytes 4-bit on CPU needs it (see the module docstring): its AVX512-BF16 repack
    asserts out_features % 32 == 0, so such layers are kept on the PyTorch path.
    """
    if device != "cpu":
        return []
    fast, kept = 0, 0
    for module in model.modules():
        if not getattr(module, "support_avx512bf16_for_cpu", False):
            continue
        if module.out_features % BNB_CPU_BLOCK_N:
            module.support_avx512bf16_for_cpu = False
            kept += 1
        else:
            fast += 1
    if not fast and not kept:
        return []
    note = f"bitsandbytes AVX512-BF16 CPU kernel on {fast} layer(s)"
    if kept:
        note += (
            f"; PyTorch path on {kept} layer(s) whose out_features is not a multiple of "
            f"{BNB_CPU_BLOCK_N} (the bf16 kernel cannot take them)"
        )
    return [note]


def default_kernel(info: QuantizationInfo, device: str) -> str | None:
    """The kernel the grader asks for (see the module docstring); None lets the library choose."""
    if info.method == "gptq" and device == "cpu" and info.bits == 4:
        return "gptq_torch_aten"
    return SUPPORTED[info.method].kernels.get(device)


def _loading_config(info: QuantizationInfo, kernel: str) -> Any:
    """A config of the checkpoint's own class that carries only the loading attribute `backend`.

    transformers keeps the checkpoint's quantization_config and copies just the loading attributes
    (`backend`, `max_input_length`) from the one passed to from_pretrained.
    """
    from transformers import AwqConfig, CompressedTensorsConfig, GPTQConfig

    bits = info.bits or 4
    if info.method == "compressed-tensors":
        if kernel not in COMPRESSED_TENSORS_MODES:
            raise ValueError(
                f"compressed-tensors kernel {kernel!r} is not one of {', '.join(COMPRESSED_TENSORS_MODES)}"
            )
        return CompressedTensorsConfig(
            dequantize=kernel == "dequantize", use_optimized_inference=kernel == "optimized"
        )
    if info.method == "awq":
        # AwqConfig types backend as its AwqBackend(str, Enum) but compares it by value and takes
        # plain strings (it maps the string "llm-awq" itself); the kernel names are those values.
        return AwqConfig(bits=bits, group_size=info.group_size or 128, backend=kernel)  # type: ignore[arg-type]
    return GPTQConfig(bits=bits, backend=kernel)


def quantization_notes(model_dir: Path, model: Any) -> list[str]:
    """Notes for LoadInfo after a load with :func:`prepare_quantized_load`: the method and what runs.

    `GPTQ 4-bit, group 128, symmetric, format gptq; runs 14 × TorchLinear (gptqmodel)`, or, when
    the weights were unpacked at load, that the model runs dense.
    """
    info = detect_quantization(model_dir)
    if info is None:
        return []
    layers = describe_quantized_modules(model)
    if layers:
        return [f"{info.describe()}; runs {layers}"]
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    return [
        f"{info.describe()}; weights dequantized at load to {str(dtype).removeprefix('torch.')} "
        "(no packed kernel for this method on this device): the model runs dense"
    ]


def describe_quantized_modules(model: Any) -> str | None:
    """`14 × TorchLinear (gptqmodel)`: the packed layer classes that really run, for LoadInfo.notes."""
    counts: dict[str, int] = {}
    for module in model.modules():
        label = _packed_layer_label(module)
        if label:
            counts[label] = counts.get(label, 0) + 1
    if not counts:
        return None
    return ", ".join(f"{n} × {label}" for label, n in sorted(counts.items()))


def _packed_layer_label(module: Any) -> str | None:
    cls = type(module)
    root = cls.__module__.split(".")[0]
    if root in ("gptqmodel", "bitsandbytes"):
        return f"{cls.__name__} ({root})"
    if getattr(module, "quantization_scheme", None) is not None:
        # compressed-tensors keeps nn.Linear and wraps its forward; the status says whether the
        # weights stay packed (decompressed on every call) or were decompressed once at load.
        status = getattr(module, "quantization_status", None)
        return f"{cls.__name__} (compressed-tensors, {getattr(status, 'value', status)})"
    if _has_packed_weight(module):
        return f"{cls.__name__} ({root})"
    return None


def quantized_weight_bytes(model: Any) -> int:
    """Bytes of parameters and buffers, each storage once: packed layers keep qweight/scales in buffers.

    (`sum(p.nbytes for p in model.parameters())` would miss every packed weight of a GPTQ model.)
    Non-persistent buffers that are not weights (rotary caches, position ids) are counted too; they
    are small next to the weights of any model worth quantizing. bitsandbytes keeps its scales on
    the weight itself (Int8Params.SCB, Params4bit.quant_state's absmax, code and nested state),
    neither parameters nor buffers: added here.
    """
    seen: set[tuple[str, int]] = set()
    total = 0
    tensors = [*model.parameters(), *model.buffers()]
    tensors += [side for p in model.parameters() for side in _bitsandbytes_side_tensors(p)]
    for tensor in tensors:
        if tensor.device.type == "meta":
            continue
        storage = tensor.untyped_storage()
        key = (str(tensor.device), storage.data_ptr())
        if key in seen:
            continue
        seen.add(key)
        total += storage.nbytes()
    return total


# --- numpy references for the packed formats -------------------------------------------------


def unpack_int32(
    packed: np.ndarray, bits: int, axis: int, order: tuple[int, ...] | None = None
) -> np.ndarray:
    """Unpack `32 // bits` unsigned values per int32 along ``axis`` (lowest bits first).

    ``order`` gives the logical position of the value stored in slot i of each word (AWQ stores
    the eight 4-bit values of a word in the order 0 2 4 6 1 3 5 7).
    """
    if 32 % bits:
        raise ValueError(f"{bits}-bit values do not tile an int32; only 2, 4 and 8 bits unpack this way")
    per_word = 32 // bits
    words = np.moveaxis(np.asarray(packed).astype(np.int64) & 0xFFFFFFFF, axis, -1)
    shifts = np.arange(per_word, dtype=np.int64) * bits
    slots = (words[..., None] >> shifts) & ((1 << bits) - 1)  # [..., words, slot]
    if order is not None:
        logical = np.empty_like(slots)
        logical[..., list(order)] = slots
        slots = logical
    values = slots.reshape(*words.shape[:-1], words.shape[-1] * per_word)
    return np.moveaxis(values, -1, axis)


AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)


def dequantize_gptq(
    qweight: np.ndarray,
    qzeros: np.ndarray,
    scales: np.ndarray,
    g_idx: np.ndarray | None,
    bits: int,
    checkpoint_format: str = "gptq",
) -> np.ndarray:
    """The float weight [out, in] that a GPTQ layer stands for.

    qweight [in·bits/32, out] packs input rows; qzeros [groups, out·bits/32] packs output columns;
    scales [groups, out]; g_idx [in] is each input row's group. Format `gptq` (v1, auto-gptq and
    most hub checkpoints) stores every zero point minus one; `gptq_v2` stores it as is.
    """
    q = unpack_int32(qweight, bits, axis=0)  # [in, out]
    zeros = unpack_int32(qzeros, bits, axis=1)  # [groups, out]
    if checkpoint_format == "gptq":
        zeros = (zeros + 1) & ((1 << bits) - 1)
    in_features = q.shape[0]
    groups = np.asarray(g_idx, dtype=np.int64) if g_idx is not None else _default_groups(in_features, scales)
    weight = (q - zeros[groups]) * np.asarray(scales, dtype=np.float32)[groups]
    return weight.T.astype(np.float32)


def dequantize_awq(qweight: np.ndarray, qzeros: np.ndarray, scales: np.ndarray, bits: int = 4) -> np.ndarray:
    """The float weight [out, in] of an AWQ GEMM layer: qweight [in, out·bits/32], qzeros [groups, ...]."""
    order = AWQ_ORDER if bits == 4 else None
    q = unpack_int32(qweight, bits, axis=1, order=order)  # [in, out]
    zeros = unpack_int32(qzeros, bits, axis=1, order=order)  # [groups, out]
    groups = _default_groups(q.shape[0], scales)
    weight = (q - zeros[groups]) * np.asarray(scales, dtype=np.float32)[groups]
    return weight.T.astype(np.float32)


def dequantize_pack_quantized(
    weight_packed: np.ndarray,
    weight_scale: np.ndarray,
    bits: int,
    weight_zero_point: np.ndarray | None = None,
) -> np.ndarray:
    """The float weight [out, in] of a compressed-tensors `pack-quantized` layer.

    Values are signed (−2^(bits−1) … 2^(bits−1)−1), stored offset to unsigned and packed along the
    input dimension; weight_scale is [out, groups] (one column per channel for `channel` strategy).
    """
    q = unpack_int32(weight_packed, bits, axis=1) - (1 << (bits - 1))  # [out, in]
    scale = np.asarray(weight_scale, dtype=np.float32)
    group_size = q.shape[1] // scale.shape[1]
    expanded = np.repeat(scale, group_size, axis=1)
    if weight_zero_point is not None:
        zero = unpack_int32(weight_zero_point, bits, axis=0)[: q.shape[0]] - (1 << (bits - 1))
        q = q - np.repeat(zero, group_size, axis=1)
    return (q * expanded).astype(np.float32)


def _default_groups(in_features: int, scales: np.ndarray) -> np.ndarray:
    group_size = in_features // np.asarray(scales).shape[0]
    return np.arange(in_features) // group_size


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (import blocked)
        return False


def _bitsandbytes_side_tensors(param: Any) -> list[Any]:
    """The scale tensors a bitsandbytes weight carries as attributes (none for any other weight)."""
    import torch

    found = [getattr(param, "SCB", None)]
    state = getattr(param, "quant_state", None)
    while state is not None:  # double quant: absmax is quantized again, its state nested in state2
        found += [getattr(state, "absmax", None), getattr(state, "code", None)]
        state = getattr(state, "state2", None)
    return [t for t in found if isinstance(t, torch.Tensor)]


def _quiet_per_call_logs() -> None:
    """bitsandbytes' int8 matmul logs a warning at every call whose input is not fp16; in a timed
    loop that is a logger's cost, not the model's. Errors still come through."""
    import logging

    logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)


def _has_packed_weight(module: Any) -> bool:
    names = [name for name, _ in module.named_buffers(recurse=False)]
    names += [name for name, _ in module.named_parameters(recurse=False)]
    return any(name in ("qweight", "weight_packed") for name in names)
