"""Artifact formats, one module each, registered once: what every stage asks about a format.

Validation (suffixes, layout, what may look like a pickle, side files, code), fetch (the same
safety rules for downloads, what a Hub snapshot needs), size (the reader) and the harness (the
backend) all read a format's class from here; none keeps its own copy. Adding a format: one
module, one line below, the name in grader.manifest.model.Format (tests/test_format_contract.py
checks the two agree and that every part exists). See docs/developers.md, "Adding a format".
"""

from __future__ import annotations

from functools import cache

from grader.formats.base import FormatSpec
from grader.registry import Registry

# name → "module:Class", imported on first use.
FORMATS: Registry[FormatSpec] = Registry(
    "format",
    FormatSpec,
    {
        "safetensors": "grader.formats.safetensors:Safetensors",
        "onnx": "grader.formats.onnx:Onnx",
        "openvino": "grader.formats.openvino:OpenVino",
        "tensorrt": "grader.formats.tensorrt:TensorRT",
        "torchscript": "grader.formats.torchscript:TorchScript",
        "torch-export": "grader.formats.torch_export:TorchExport",
    },
)


def format_spec(name: str) -> type[FormatSpec]:
    """The format registered as ``name``; UnknownNameError (with suggestions) for another name."""
    return FORMATS.load(name)


def find_spec(name: str | None) -> type[FormatSpec] | None:
    """The format, or None for a missing or unknown name (validation reports those elsewhere)."""
    if name is None or name not in FORMATS:
        return None
    return format_spec(name)


@cache
def code_formats() -> frozenset[str]:
    """Formats whose files carry code the runtime would execute (M010: an instructor's label)."""
    return frozenset(name for name in FORMATS if format_spec(name).carries_code)


@cache
def format_backends() -> dict[str, str]:
    """format → the backend that loads it, for the formats that have one."""
    backends = {name: format_spec(name).backend for name in FORMATS}
    return {name: backend for name, backend in backends.items() if backend is not None}
