"""ONNX graphs, run by onnxruntime: one .onnx file (and the external data files it names), or an
encoder-decoder model split into graphs the way Optimum exports it (`SplitExport`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.file_kinds import ENGINE_SUFFIXES
from grader.findings import Finding
from grader.formats.base import FormatSpec, LayoutResult, Listing, suffix_of

# Optimum's file names for the graphs of an encoder-decoder model (`optimum-cli export onnx`),
# longest first so that decoder_model_merged is not read as decoder_model with a "_merged" suffix;
# the optional suffix is the one ORTQuantizer & co. add (encoder_model_quantized.onnx).
SPLIT_ROLES = ("decoder_model_merged", "decoder_with_past_model", "decoder_model", "encoder_model")
_SPLIT_NAME = re.compile(rf"^(?P<role>{'|'.join(SPLIT_ROLES)})(?P<suffix>_[A-Za-z0-9_]+)?\.onnx$")
SPLIT_EXPORT_HINT = (
    "`optimum-cli export onnx --model <checkpoint> <folder>` writes encoder_model.onnx, "
    "decoder_model.onnx and decoder_with_past_model.onnx (or decoder_model_merged.onnx): submit the "
    "folder with all of them and the side files"
)


@dataclass(frozen=True)
class SplitExport:
    """The graphs of a split encoder-decoder export, by role (file names in the artifact folder)."""

    encoder: str | None
    decoder: str | None  # decoder_model: the first step, without past key values
    with_past: str | None  # decoder_with_past_model: every later step, from the past key values
    merged: str | None  # decoder_model_merged: both, told apart by its use_cache_branch input

    @property
    def graphs(self) -> list[str]:
        """The graphs the grader runs: the encoder, then the decoder(s) it decodes with (a merged
        decoder only where the pair is not there)."""
        decoders = [self.decoder, self.with_past] if self.decoder else [self.merged]
        return [name for name in (self.encoder, *decoders) if name]

    @property
    def missing(self) -> str | None:
        """What the export lacks to be run, in words, or None when it is complete."""
        if self.decoder is None and self.merged is None:
            if self.with_past is not None:
                return (
                    f"{self.with_past} decodes only from past key values, and there is no decoder for the "
                    "first step (decoder_model.onnx or decoder_model_merged.onnx)"
                )
            return "there is no decoder (decoder_model.onnx or decoder_model_merged.onnx)"
        if self.encoder is None:
            return "there is no encoder_model.onnx: the decoder needs the encoder's hidden states"
        return None


def split_export(names: Iterable[str]) -> SplitExport | str | None:
    """The split export among the top-level file ``names``: None when none of them is an Optimum
    split graph, a problem (str) when they are not one export (several sets, or other graphs too)."""
    onnx_files = [name for name in names if name.lower().endswith(".onnx")]
    found: dict[str, dict[str, str]] = {}  # suffix → role → name
    for name in onnx_files:
        match = _SPLIT_NAME.match(name)
        if match:
            found.setdefault(match["suffix"] or "", {})[match["role"]] = name
    if not found:
        return None
    if len(found) > 1:
        sets = ", ".join(sorted(f"*{suffix}.onnx" if suffix else "*.onnx" for suffix in found))
        return f"it holds several sets of split graphs ({sets}); keep one set per folder"
    roles = next(iter(found.values()))
    others = sorted(set(onnx_files) - set(roles.values()))
    if others:
        return (
            f"it holds {', '.join(others[:3])} besides the split graphs {', '.join(sorted(roles.values()))}"
        )
    return SplitExport(
        encoder=roles.get("encoder_model"),
        decoder=roles.get("decoder_model"),
        with_past=roles.get("decoder_with_past_model"),
        merged=roles.get("decoder_model_merged"),
    )


def split_graphs(folder: Path) -> list[Path]:
    """The graphs of a complete split export in ``folder`` (encoder first), else []."""
    if not folder.is_dir():
        return []
    split = split_export(sorted(p.name for p in folder.iterdir() if p.is_file()))
    if not isinstance(split, SplitExport) or split.missing:
        return []
    return [folder / name for name in split.graphs]


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
        return onnx_layout(listing, split=True)


def onnx_layout(listing: Listing, *, split: bool = False) -> LayoutResult:
    """Exactly one .onnx graph: the file named, or the only one in the folder; with ``split`` (the
    onnx format, run by onnxruntime) also a folder with an encoder-decoder split into graphs, whose
    encoder is returned as the model file. Also the layout of the TensorRT format, whose engine the
    runner builds from one graph."""
    if not listing.is_dir and suffix_of(listing.target.name) in ENGINE_SUFFIXES:
        return [], None  # A006 says it
    models = [name for name in listing.top if name.lower().endswith(".onnx")]
    halves = split_export(models)
    if halves is not None:
        return _split_layout(listing, halves, split=split)
    if len(models) == 1:
        return [], listing.root / models[0]
    if not models:
        return listing.wrong(
            "no .onnx model here",
            "an .onnx file, or a folder with exactly one .onnx file (and its external data)",
            "export with torch.onnx.export or optimum-cli export onnx",
        ), None
    return listing.wrong(
        f"{len(models)} .onnx files here; the grader needs to know which one to measure",
        "a folder with exactly one .onnx file",
        "point `path:` at the .onnx file to measure, e.g. `path: onnx/model.onnx`",
    ), None


def _split_layout(listing: Listing, halves: SplitExport | str, *, split: bool) -> LayoutResult:
    """A folder (or a file) of Optimum's split encoder-decoder graphs."""
    if isinstance(halves, str):
        return listing.wrong(
            f"the split encoder-decoder export cannot be read: {halves}",
            "encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx "
            "(or decoder_model_merged.onnx) and their external data, nothing else of .onnx",
            "move the other .onnx files out of the folder",
        ), None
    if (
        halves.encoder is not None
        and halves.decoder is None
        and halves.merged is None
        and not halves.with_past
    ):
        return [], listing.root / halves.encoder  # an encoder alone is one graph: its task says if it fits
    if not split:
        return listing.wrong(
            "a split encoder/decoder export: the TensorRT format builds its engine from one graph",
            "one .onnx graph that takes the encoder inputs and decoder_input_ids and returns logits",
            "grade the split export with `format: onnx` (onnxruntime runs it)",
        ), None
    problem = halves.missing
    if problem is None and listing.is_dir:
        return [], listing.root / halves.graphs[0]
    if not listing.is_dir:  # one graph named: is the rest of the export beside it?
        beside = split_export(sorted(p.name for p in listing.root.iterdir() if p.is_file()))
        if isinstance(beside, SplitExport) and beside.missing is None:
            folder = listing.raw.rpartition("/")[0] or "."
            problem = (
                f"`path:` names one of its graphs; name the folder that holds them all: `path: {folder}/`"
            )
    return [
        Finding(
            code="A022",
            location=listing.location,
            message=f"{listing.raw} is part of a split encoder-decoder export, which cannot run alone: "
            f"{problem}",
            expected="a folder with encoder_model.onnx and decoder_model.onnx (with decoder_with_past_model"
            ".onnx for decoding from past key values), or with encoder_model.onnx and "
            "decoder_model_merged.onnx; `path:` names the folder",
            found=listing.raw + (f" (holds: {', '.join(listing.top[:8])})" if listing.is_dir else ""),
            hint=SPLIT_EXPORT_HINT,
        )
    ], None
