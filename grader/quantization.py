"""What a checkpoint's config.json says about its quantization, and which methods the grader loads.

Validation refuses what the runner would refuse (A015) by this same reading, and the transformers
backend (grader.harness.backends.quantized) loads by it; it lives below both stages so that
validate never imports the harness. Pure parsing: no quantization library is imported here (the
installed bitsandbytes is known by its package metadata).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MethodSupport:
    packages: tuple[str, ...]  # import names the load needs
    pip_names: tuple[str, ...]  # what to pip install for them
    # Kernel per device, passed to transformers as the quantization config's loading attribute
    # `backend`; None lets the library choose.
    kernels: Mapping[str, str | None] = field(default_factory=dict)
    # Modules from_pretrained imports for this method (found by diffing sys.modules around a load):
    # imported before the child reads its pre-load RSS, so their code is not counted as the model.
    modules: tuple[str, ...] = ()


SUPPORTED: dict[str, MethodSupport] = {
    "gptq": MethodSupport(
        packages=("gptqmodel", "optimum"),
        pip_names=("gptqmodel", "optimum"),
        kernels={"cpu": "torch", "cuda": None},
        modules=("gptqmodel", "optimum.gptq"),
    ),
    "awq": MethodSupport(
        packages=("gptqmodel", "accelerate"),
        pip_names=("gptqmodel", "accelerate"),
        kernels={"cpu": "torch_awq", "cuda": None},
        modules=("gptqmodel", "gptqmodel.quantization.awq.modules.act", "transformers.integrations.awq"),
    ),
    "compressed-tensors": MethodSupport(
        packages=("compressed_tensors",),
        pip_names=("compressed-tensors",),
        kernels={"cpu": "dequantize", "cuda": None},
        modules=("compressed_tensors",),
    ),
    # LLM.int8 and NF4/FP4 as `save_pretrained` writes them after `load_in_8bit` / `load_in_4bit`:
    # int8 weights + SCB, or uint8-packed 4-bit weights + absmax/quant_map/quant_state. transformers'
    # bitsandbytes quantizer needs accelerate even on CPU. No kernel choice: bitsandbytes picks
    # its op per device itself.
    "bitsandbytes": MethodSupport(
        packages=("bitsandbytes", "accelerate"),
        pip_names=("bitsandbytes", "accelerate"),
        modules=("bitsandbytes", "transformers.integrations.bitsandbytes"),
    ),
}

# bitsandbytes' multi-backend release (0.46) brought CPU ops for LLM.int8 and NF4/FP4 (the
# default PyTorch implementations); 0.46.1 is also the oldest that transformers 5 loads with.
# Checked for real with 0.50.2, torch 2.13 CPU and transformers 5.24: int8, NF4 and FP4 (with and
# without double quant) quantize, save, load back and run on CPU.
BNB_CPU_SINCE: tuple[int, ...] = (0, 46, 1)
BNB_4BIT_TYPES = ("nf4", "fp4")


# compressed-tensors "kernels": `dequantize` unpacks the weights once at load (on CPU there is no
# packed int kernel, and compressed-tensors would otherwise unpack them silently during the first
# call, so load time, first-call time and the weight bytes at load would all be wrong);
# `compressed` keeps them packed until then; `optimized` asks for FP8 kernels (CUDA >= sm89).
COMPRESSED_TENSORS_MODES = ("dequantize", "compressed", "optimized")


@dataclass(frozen=True)
class QuantizationInfo:
    """What config.json says about a checkpoint's quantization."""

    method: str  # quant_method as written, lower case: gptq, awq, compressed-tensors, bitsandbytes, ...
    bits: int | None = None
    group_size: int | None = None
    symmetric: bool | None = None
    desc_act: bool | None = None  # GPTQ act-order (g_idx not monotonic)
    checkpoint_format: str | None = None  # gptq / gptq_v2; awq gemm / gemv; pack-quantized, ...
    # bitsandbytes: int8 (LLM.int8), nf4 or fp4; the 4-bit compute dtype; double quant (absmax
    # quantized again, 8-bit)
    quant_type: str | None = None
    compute_dtype: str | None = None
    double_quant: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def supported(self) -> bool:
        return self.method in SUPPORTED

    def describe(self) -> str:
        """`GPTQ 4-bit, group 128, symmetric, format gptq`; `bitsandbytes 4-bit NF4, double quant, ...`."""
        if self.method == "bitsandbytes":
            return self._describe_bitsandbytes()
        head = self.method if self.method == "compressed-tensors" else self.method.upper()
        if self.bits:
            head += f" {self.bits}-bit"
        parts = [head]
        if self.group_size:
            parts.append("per-channel" if self.group_size == -1 else f"group {self.group_size}")
        if self.symmetric is not None:
            parts.append("symmetric" if self.symmetric else "asymmetric")
        if self.desc_act:
            parts.append("act-order")
        if self.checkpoint_format:
            parts.append(f"format {self.checkpoint_format}")
        return ", ".join(parts)

    def _describe_bitsandbytes(self) -> str:
        if self.bits == 8:
            return "bitsandbytes 8-bit LLM.int8"
        parts = [f"bitsandbytes 4-bit {(self.quant_type or 'fp4').upper()}"]
        if self.double_quant:
            parts.append("double quant")
        if self.compute_dtype:
            parts.append(f"compute {self.compute_dtype}")
        return ", ".join(parts)


def read_config(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"config.json is not valid JSON: {error}") from None
    return data if isinstance(data, dict) else {}


def detect_quantization(model_dir: Path) -> QuantizationInfo | None:
    """The checkpoint's quantization from config.json `quantization_config`; None for a dense model.

    A folder with auto-gptq's separate `quantize_config.json` but no `quantization_config` in
    config.json would load as a dense model with missing weights, so that is an error with the fix.
    """
    config = read_config(model_dir)
    quant = config.get("quantization_config")
    if quant is None:
        if (Path(model_dir) / "quantize_config.json").is_file():
            raise ValueError(
                "the folder has quantize_config.json (the old auto-gptq layout) but config.json has no "
                "`quantization_config`; copy that JSON object into config.json as `quantization_config` "
                '(with "quant_method": "gptq"), or re-save the model with gptqmodel / transformers'
            )
        return None
    if not isinstance(quant, dict) or not isinstance(quant.get("quant_method"), str):
        raise ValueError("config.json `quantization_config` must be an object with a `quant_method` string")
    method = quant["quant_method"].strip().lower().replace("_", "-")
    if method == "compressed-tensors":
        return _compressed_tensors_info(quant)
    if method == "bitsandbytes":
        return _bitsandbytes_info(quant)
    return QuantizationInfo(
        method=method,
        bits=_int_or_none(quant.get("bits")),
        group_size=_int_or_none(quant.get("group_size", quant.get("q_group_size"))),
        symmetric=_symmetric(method, quant),
        desc_act=quant.get("desc_act") if isinstance(quant.get("desc_act"), bool) else None,
        checkpoint_format=_checkpoint_format(method, quant),
        raw=quant,
    )


# --- config parsing helpers ------------------------------------------------------------------


def _compressed_tensors_info(quant: Mapping[str, Any]) -> QuantizationInfo:
    groups = quant.get("config_groups") or {}
    weights: Mapping[str, Any] = {}
    fmt = quant.get("format")
    for group in groups.values() if isinstance(groups, dict) else []:
        if isinstance(group, dict) and isinstance(group.get("weights"), dict):
            weights = group["weights"]
            fmt = group.get("format") or fmt
            break
    return QuantizationInfo(
        method="compressed-tensors",
        bits=_int_or_none(weights.get("num_bits")),
        group_size=_int_or_none(weights.get("group_size")),
        symmetric=weights.get("symmetric") if isinstance(weights.get("symmetric"), bool) else None,
        checkpoint_format=fmt if isinstance(fmt, str) else None,
        raw=quant,
    )


def _bitsandbytes_info(quant: Mapping[str, Any]) -> QuantizationInfo:
    """LLM.int8 or 4-bit NF4/FP4 from what BitsAndBytesConfig.to_dict writes.

    transformers reads a config with neither flag set as 8-bit, and refuses both at once; a
    checkpoint whose config says neither is a hand-edited one, refused with the fields to fix.
    """
    eight, four = quant.get("load_in_8bit") is True, quant.get("load_in_4bit") is True
    if eight == four:
        said = "both" if eight else "neither"
        raise ValueError(
            f"config.json `quantization_config` (bitsandbytes) sets {said} of `load_in_8bit` and "
            "`load_in_4bit`; exactly one must be true, as BitsAndBytesConfig + save_pretrained write it"
        )
    if eight:
        return QuantizationInfo(method="bitsandbytes", bits=8, quant_type="int8", raw=quant)
    quant_type = str(quant.get("bnb_4bit_quant_type", "fp4")).lower()
    if quant_type not in BNB_4BIT_TYPES:
        raise ValueError(
            f"config.json `quantization_config.bnb_4bit_quant_type` is {quant_type[:40]!r}; "
            f"bitsandbytes 4-bit is {' or '.join(BNB_4BIT_TYPES)}"
        )
    dtype = quant.get("bnb_4bit_compute_dtype")
    return QuantizationInfo(
        method="bitsandbytes",
        bits=4,
        quant_type=quant_type,
        compute_dtype=str(dtype).removeprefix("torch.")[:40] if isinstance(dtype, str) else None,
        double_quant=quant.get("bnb_4bit_use_double_quant") is True,
        raw=quant,
    )


def bitsandbytes_version() -> str | None:
    """The installed bitsandbytes' version, read from its metadata (nothing imported); None if absent."""
    try:
        return importlib.metadata.version("bitsandbytes")
    except importlib.metadata.PackageNotFoundError:
        return None


def bitsandbytes_problem(info: QuantizationInfo, version: str | None) -> str | None:
    """None if a machine with bitsandbytes ``version`` (None: not installed) loads this checkpoint.

    Pure: the caller says what the machine has (:func:`bitsandbytes_version` here), so validation,
    the backend and the tests ask the same question of different machines. No device argument:
    every bitsandbytes that transformers 5 loads has CPU kernels for LLM.int8 and NF4/FP4, and
    CUDA's own availability is the backend's general check (a device the runner lacks is skipped
    with its reason).
    """
    floor = ".".join(map(str, BNB_CPU_SINCE))
    if version is None:
        return f"{info.describe()} checkpoints need the bitsandbytes package, which is not installed here"
    if _version_tuple(version) < BNB_CPU_SINCE:
        return (
            f"the installed bitsandbytes {version[:40]} is older than {floor}, the oldest that "
            f"transformers loads and the first with CPU kernels for {info.describe()}"
        )
    return None


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit()) if part[:1].isdigit() else ""
        numbers.append(int(digits[:6]) if digits else 0)
    return tuple(numbers)


def _checkpoint_format(method: str, quant: Mapping[str, Any]) -> str | None:
    if method == "gptq":
        value = quant.get("checkpoint_format", quant.get("format", "gptq"))
    elif method == "awq":
        value = quant.get("version", quant.get("format"))
    else:
        value = quant.get("format")
    return str(value).lower() if value is not None else None


def _symmetric(method: str, quant: Mapping[str, Any]) -> bool | None:
    if isinstance(quant.get("sym"), bool):
        return quant["sym"]
    if method == "awq" and isinstance(quant.get("zero_point"), bool):
        return not quant["zero_point"]
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
