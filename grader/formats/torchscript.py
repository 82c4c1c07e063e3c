"""TorchScript: one archive torch.jit.save wrote. Loading it runs the code inside, so it is
measured only after an instructor's label (M010; the backend checks it again)."""

from __future__ import annotations

from collections.abc import Collection

from grader.formats.base import FormatSpec, LayoutResult, Listing


class TorchScript(FormatSpec):
    name = "torchscript"
    # What torch.jit.save is given by habit; `.pt`/`.pth` are pickle suffixes too, which this
    # format's label lets through (own_data).
    suffixes = (".pt", ".pth", ".ts", ".torchscript", ".jit", ".ptl")
    carries_code = True
    needs_side_files = True
    size_reader = "grader.harness.size_archive:read_torchscript_model"
    backend = "torchscript"
    onnx_graph = False
    quantization_config = False
    hub_patterns = tuple(f"*{suffix}" for suffix in suffixes)

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        scripts = [name for name in listing.top if TorchScript.is_model_file(name)]
        if len(scripts) == 1:
            return [], listing.root / scripts[0]
        return listing.wrong(
            "no single TorchScript file here",
            "one file written by torch.jit.save (.pt or .ts)",
            "point `path:` at the TorchScript file",
        ), None

    @classmethod
    def own_data(cls, names: Collection[str]) -> frozenset[str]:
        return frozenset(name for name in names if cls.is_model_file(name))  # gated by M010 instead
