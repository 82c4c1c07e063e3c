"""`torch.export` archives (.pt2, torch.export.save): the worked example of docs/developers.md.

An archive holds a serialized program and its weights, which torch.export.load unpickles: like
TorchScript it carries code, so a manifest may name it only with an instructor's label (M010).
The grader has no backend for it yet: validation says so (A020), the size stage counts the
archive's bytes, and every other phase is "not measurable" with that reason.
"""

from __future__ import annotations

from grader.formats.base import FormatSpec, LayoutResult, Listing


class TorchExport(FormatSpec):
    name = "torch-export"
    suffixes = (".pt2",)
    carries_code = True
    needs_side_files = True  # a graph like the others: the grader tokenizes and labels for it
    size_reader = "grader.harness.size_archive:read_torch_export_model"
    backend = None
    onnx_graph = False
    quantization_config = False
    hub_patterns = ("*.pt2",)

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        archives = [name for name in listing.top if TorchExport.is_model_file(name)]
        if len(archives) == 1:
            return [], listing.root / archives[0]
        return listing.wrong(
            "no single torch.export archive here",
            "one .pt2 file written by torch.export.save",
            "point `path:` at the .pt2 file",
        ), None
