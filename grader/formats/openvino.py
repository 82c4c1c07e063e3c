"""OpenVINO IR: a model.xml (the graph) and the model.bin of raw tensors beside it."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import PurePosixPath

from grader.formats.base import FormatSpec, LayoutResult, Listing, suffix_of


class OpenVino(FormatSpec):
    name = "openvino"
    suffixes = (".xml",)
    carries_code = False
    needs_side_files = True
    size_reader = "grader.harness.size_openvino:read_openvino_model"
    backend = "openvino"
    onnx_graph = False
    quantization_config = False
    hub_patterns = ("*.bin",)  # the IR's weights; a .bin without its .xml is refused as a pickle

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        target = listing.target
        pairs = [
            name for name in listing.top if name.endswith(".xml") and name[:-4] + ".bin" in listing.files
        ]
        if not listing.is_dir and target.suffix == ".xml":
            sibling = target.with_suffix(".bin")
            if sibling.name in listing.files or sibling.name in listing.symlinks:
                return [], target
            return listing.wrong(
                f"{target.name} has no {sibling.name} beside it",
                "an OpenVINO IR: model.xml and model.bin side by side",
                "commit both files that `openvino.save_model` writes",
            ), None
        if listing.is_dir and len(pairs) == 1:
            return [], listing.root / pairs[0]
        return listing.wrong(
            "no single OpenVINO IR (.xml + .bin pair) here",
            "model.xml and model.bin side by side, or a folder with exactly one such pair",
            "point `path:` at the .xml file, or at a folder that holds one .xml and its .bin",
        ), None

    @classmethod
    def own_data(cls, names: Collection[str]) -> frozenset[str]:
        # Raw tensors next to their .xml, which openvino reads as data, never unpickles.
        stems = {name[:-4] for name in names if suffix_of(name) == ".xml"}
        return frozenset(name for name in names if suffix_of(name) == ".bin" and name[:-4] in stems)

    @classmethod
    def companions(cls, name: str) -> tuple[str, ...]:
        pure = PurePosixPath(name)
        return (pure.with_suffix(".bin").name,) if pure.suffix == ".xml" else ()
