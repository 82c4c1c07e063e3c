"""Backends, one module per model format, registered by name and imported only when used."""

from __future__ import annotations

from grader.formats import format_backends
from grader.harness.backends.base import Backend
from grader.registry import Registry

# name → "module:Class". A new backend: one module, one line here, one entry in
# tests/test_backend_contract.py.
BACKENDS: Registry[Backend] = Registry(
    "backend",
    Backend,
    {
        "transformers": "grader.harness.backends.transformers:TransformersBackend",
        "onnxruntime": "grader.harness.backends.onnxruntime:OnnxRuntimeBackend",
        "openvino": "grader.harness.backends.openvino:OpenVinoBackend",
        "torchscript": "grader.harness.backends.torchscript:TorchScriptBackend",
        "tensorrt": "grader.harness.backends.tensorrt:TensorRTBackend",
    },
)

# The backend that loads each manifest format, as each format declares it (grader.formats);
# a format without one is measured for size only.
FORMAT_BACKENDS: dict[str, str] = dict(format_backends())
