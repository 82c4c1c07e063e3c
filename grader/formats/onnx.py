"""ONNX graphs, run by onnxruntime: one .onnx file (and the external data files it names)."""

from __future__ import annotations

from grader.file_kinds import ENGINE_SUFFIXES
from grader.formats.base import FormatSpec, LayoutResult, Listing, suffix_of


class Onnx(FormatSpec):
    name = "onnx"
    suffixes = (".onnx",)
    carries_code = False  # custom-op libraries are refused (A011, A014), standard operators only
    needs_side_files = True
    size_reader = "grader.harness.size_onnx:read_onnx_model"
    backend = "onnxruntime"
    onnx_graph = True
    quantization_config = False
    hub_patterns = ()  # *.onnx and the external-data names are among the common patterns

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        return onnx_layout(listing)


def onnx_layout(listing: Listing) -> LayoutResult:
    """Exactly one .onnx graph: the file named, or the only one in the folder. Also the layout of
    the TensorRT format, whose engine the runner builds from that graph."""
    if not listing.is_dir and suffix_of(listing.target.name) in ENGINE_SUFFIXES:
        return [], None  # A006 says it
    models = [name for name in listing.top if name.lower().endswith(".onnx")]
    if len(models) == 1:
        return [], listing.root / models[0]
    if not models:
        return listing.wrong(
            "no .onnx model here",
            "an .onnx file, or a folder with exactly one .onnx file (and its external data)",
            "export with torch.onnx.export or optimum-cli export onnx",
        ), None
    split = any(m.startswith("encoder_model") for m in models)
    if split and any(m.startswith("decoder_") for m in models):
        return listing.wrong(  # Optimum's seq2seq layout: the decoding loop lives outside the graphs
            "a split encoder/decoder export, which the grader cannot run yet",
            "one .onnx graph that takes the encoder inputs and decoder_input_ids and returns logits",
            "export the whole model in one file (torch.onnx.export with use_cache=False), "
            "or submit the safetensors checkpoint",
        ), None
    return listing.wrong(
        f"{len(models)} .onnx files here; the grader needs to know which one to measure",
        "a folder with exactly one .onnx file",
        "point `path:` at the .onnx file to measure, e.g. `path: onnx/model.onnx`",
    ), None
