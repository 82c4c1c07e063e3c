"""TensorRT: the runner builds the engine itself from the submitted ONNX graph.

A submitted engine is never loaded (it can carry plugins and runs only on the GPU it was built
for: A006), so the files, their layout, their size and their side files are the ONNX format's.
"""

from __future__ import annotations

from grader.formats.base import FormatSpec, LayoutResult, Listing
from grader.formats.onnx import onnx_layout


class TensorRT(FormatSpec):
    name = "tensorrt"
    suffixes = (".onnx",)
    carries_code = False
    needs_side_files = True
    size_reader = "grader.harness.size_onnx:read_onnx_model"
    backend = "tensorrt"
    onnx_graph = True
    quantization_config = False
    hub_patterns = ()

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        return onnx_layout(listing)
