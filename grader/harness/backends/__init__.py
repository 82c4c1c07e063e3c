"""Backends, one module per model format, registered by name and imported only when used."""

from __future__ import annotations

from grader.registry import Registry

# name → "module:Class". A new backend: one module, one line here, one entry in
# tests/test_backend_contract.py.
BACKENDS = Registry(
    "backend",
    {
        "transformers": "grader.harness.backends.transformers:TransformersBackend",
        "onnxruntime": "grader.harness.backends.onnxruntime:OnnxRuntimeBackend",
    },
)

# The backend that loads each manifest format.
FORMAT_BACKENDS: dict[str, str] = {
    "safetensors": "transformers",
    "onnx": "onnxruntime",
}
