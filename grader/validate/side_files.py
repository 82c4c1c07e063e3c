"""Side files: what an exported model (ONNX, the ONNX a TensorRT engine is built from, OpenVINO,
TorchScript, torch.export) needs beside its graph for the grader to feed it and score it.

The grader runs such a graph with its own pre- and post-processing (grader.harness.tasks): texts
are tokenized with tokenizer.json, images and audio are prepared as preprocessor_config.json says,
and class ids are named by config.json's id2label. `torch.onnx.export`, `openvino.save_model` and
`torch.jit.save` write none of these, so students forget them, and the quality phase would fail on
the GPU runner. Validation names the missing file first (A016); a classifier without id2label is
scored by class position, which is right only if its head follows the dataset's order (A017).

Only `path:` artifacts are checked here: a Hub or URL artifact's files are not on disk yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.findings import Finding, Location, Severity
from grader.formats import FORMATS, format_spec
from grader.jsonio import read_json
from grader.validate.read import Entry
from grader.validate.rules import ManifestPlace
from grader.yamlio import PositionMap

# The formats that run with the grader's own pre- and post-processing (FormatSpec.needs_side_files).
EXPORT_FORMATS = frozenset(name for name in FORMATS if format_spec(name).needs_side_files)
CONFIG_MAX_BYTES = 64 * 2**20  # as grader.validate.contents reads JSON (it reports a bigger one)


@dataclass(frozen=True)
class SideFile:
    names: tuple[str, ...]  # any one of them will do
    why: str
    how: str  # the call that writes it


TOKENIZER = SideFile(
    ("tokenizer.json",),
    "the grader tokenizes the eval texts with it",
    "AutoTokenizer.from_pretrained(...).save_pretrained(folder) (a fast tokenizer)",
)
IMAGE_PROCESSOR = SideFile(
    ("preprocessor_config.json",),
    "it says how to resize, scale and normalise the images",
    "AutoImageProcessor.from_pretrained(...).save_pretrained(folder)",
)
FEATURE_EXTRACTOR = SideFile(
    ("preprocessor_config.json",),
    "it says how to turn audio into the model's input features",
    "AutoFeatureExtractor.from_pretrained(...).save_pretrained(folder)",
)
CLASS_NAMES = SideFile(
    ("config.json",),
    "its id2label names the classes the detector predicts (and says how many there are)",
    'json.dump({"id2label": {"0": "square", ...}}, open("config.json", "w")), in the head\'s class order',
)
TRANSCRIPT_VOCAB = SideFile(
    ("tokenizer.json", "vocab.json"),
    "the grader turns the predicted token ids into text with it",
    "AutoProcessor.from_pretrained(...).save_pretrained(folder)",
)

# task → the side files it cannot run without.
REQUIRED: dict[str, tuple[SideFile, ...]] = {
    "text-classification": (TOKENIZER,),
    "token-classification": (TOKENIZER,),
    "causal-lm": (TOKENIZER,),
    "seq2seq": (TOKENIZER,),
    "image-classification": (IMAGE_PROCESSOR,),
    "speech-recognition": (FEATURE_EXTRACTOR, TRANSCRIPT_VOCAB),
    "object-detection": (CLASS_NAMES,),
}
# Tasks that map the model's class ids to the dataset's label names through config.json.
LABELLED = frozenset(
    {"text-classification", "token-classification", "image-classification", "object-detection"}
)


def side_file_findings(
    folder: Path | None, fmt: str | None, task: str | None, location: Location
) -> list[Finding]:
    """A016 for each side file the task needs that ``folder`` lacks; A017 for a classifier with
    no id2label. ``folder`` is where the exported model's files are (a file artifact's folder)."""
    if folder is None or fmt not in EXPORT_FORMATS or task not in REQUIRED or not folder.is_dir():
        return []
    findings = [
        _missing(side, fmt, task, location)
        for side in REQUIRED[task]
        if not any(_is_file(folder / name) for name in side.names)
    ]
    if task in LABELLED:
        findings += _labels(folder, fmt, location)
    return findings


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()  # links are refused by the artifact checks


def _missing(side: SideFile, fmt: str, task: str, location: Location) -> Finding:
    wanted = " or ".join(side.names)
    return Finding(
        code="A016",
        location=location,
        message=f"the {fmt} model has no {wanted} beside it, which {task} needs: {side.why}",
        expected=f"{wanted} in the same folder as the model file",
        found=f"no {wanted}",
        hint=f"write it into the export's folder with {side.how}; the export itself writes only "
        "the model (`optimum-cli export` writes both)",
    )


def _labels(folder: Path, fmt: str, location: Location) -> list[Finding]:
    config = folder / "config.json"
    if not _is_file(config):
        found = "no config.json"
    else:
        read = read_json(config, CONFIG_MAX_BYTES)
        if read.problem is not None or not isinstance(read.data, dict):
            return []  # an unreadable config.json is grader.validate.contents' finding (A013)
        labels = read.data.get("id2label")
        if isinstance(labels, dict) and labels:
            return []
        found = "config.json without id2label"
    return [
        Finding(
            code="A017",
            severity=Severity.WARNING,
            location=location,
            message=f"the {fmt} model does not name its classes, so they are matched to the eval "
            "dataset's labels by position",
            expected='config.json with id2label beside the model, e.g. {"id2label": {"0": "negative", '
            '"1": "positive"}} in the order the head predicts them',
            found=found,
            hint="copy config.json from the checkpoint you exported (model.config.save_pretrained(folder)); "
            "for images it also gives num_channels",
        )
    ]


def entry_side_files(
    entry: Entry, artifact_dir: str | None, place: ManifestPlace, positions: PositionMap, task: str | None
) -> list[Finding]:
    """side_file_findings for one manifest entry whose `path:` artifact passed the path checks
    (``artifact_dir``: relative to the repository root, as ArtifactChecker.check returns it)."""
    if artifact_dir is None:
        return []
    target = place.repo_root / artifact_dir
    folder = target if target.is_dir() else target.parent  # a file's side files sit beside it
    location = positions.location((*entry.part.path_of("artifact"), "path"))
    return side_file_findings(folder, entry.part.get("format"), task, location)
