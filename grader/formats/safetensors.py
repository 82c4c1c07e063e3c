"""Safetensors checkpoints: a folder `save_pretrained` wrote (config.json and .safetensors files).

Quantized checkpoints (GPTQ, AWQ, compressed-tensors) are this format too: their packed tensors
are safetensors, and config.json's quantization_config says how the transformers backend loads
them (grader.harness.backends.quantized; validation checks it, grader.validate.contents).
"""

from __future__ import annotations

from pathlib import Path

from grader.file_kinds import is_lfs_pointer
from grader.formats.base import FormatSpec, LayoutResult, Listing

SAVE_HINT = "save the model with `model.save_pretrained(folder, safe_serialization=True)`"


class Safetensors(FormatSpec):
    name = "safetensors"
    suffixes = (".safetensors",)
    carries_code = False
    needs_side_files = False  # the checkpoint folder holds its own tokenizer and config
    size_reader = "grader.harness.size_checkpoint:read_safetensors_model"
    backend = "transformers"
    onnx_graph = False
    quantization_config = True
    hub_patterns = ()  # *.safetensors and their index are among the common patterns

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        if not listing.is_dir:
            return listing.wrong(
                "a safetensors checkpoint is a folder, not a single file",
                "path: the folder that holds config.json and the .safetensors files",
                "point `path:` at the folder that `save_pretrained(folder, safe_serialization=True)` wrote",
            ), None
        findings = []
        if "config.json" not in listing.top:
            findings += listing.wrong(
                "the checkpoint folder has no config.json",
                "config.json next to the .safetensors files",
                SAVE_HINT + "; it writes config.json too",
            )
        weights = [name for name in listing.top if name.endswith(".safetensors")]
        if not weights:
            findings += listing.wrong(
                "the checkpoint folder has no .safetensors file", "model.safetensors", SAVE_HINT
            )
        for name in weights:
            problem = header_problem(listing.root / name, listing.files[name])
            if problem:
                findings += listing.wrong(
                    f"{name} is not a safetensors file: {problem}", "a safetensors file", SAVE_HINT
                )
        return findings, None


def header_problem(path: Path, size: int) -> str | None:
    """The size stage's own strict reading of the header (grader.harness.size_safetensors): dtypes,
    shapes and offsets against the file's real size, tensors tiling the data without overlap.
    Only the header is read; a problem the runner would report is reported here instead."""
    from grader.harness.size_safetensors import read_safetensors
    from grader.harness.size_types import SizeError

    if is_lfs_pointer(path, size):
        return None  # A010 says it
    try:
        read_safetensors(path, path.name)
    except SizeError as error:
        return str(error).removeprefix(f"{path.name}: ").removeprefix("not a valid safetensors file: ")
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    return None
