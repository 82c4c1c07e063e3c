"""What a checkpoint's config.json says about its quantization, and which methods the grader loads.

Validation refuses what the runner would refuse (A015) by this same reading, and the transformers
backend (grader.harness.backends.quantized) loads by it; it lives below both stages so that
validate never imports the harness. Pure parsing: no quantization library is imported here.
"""

from __future__ import annotations

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
}


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
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def supported(self) -> bool:
        return self.method in SUPPORTED

    def describe(self) -> str:
        """`GPTQ 4-bit, group 128, symmetric, format gptq`."""
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
