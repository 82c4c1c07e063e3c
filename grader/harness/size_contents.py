"""What a format's size reader returns (grader.formats.base.FormatSpec.size_reader), and the
helpers every reader shares. A reader is `(base, files) -> Contents`: ``base`` the model's folder,
``files`` its regular files (grader.harness.size_files.list_files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.harness.size_files import ModelFile
from grader.harness.size_notes import NoteFacts
from grader.harness.size_types import TensorRecord


@dataclass
class Contents:
    """What a format reader found: the tensors, which files are weights, and facts for the notes."""

    records: list[TensorRecord]
    weight_files: set[str]
    extra_files: list[ModelFile] = field(default_factory=list)  # companions of a single-file root
    methods: list[str] = field(default_factory=list)
    facts: NoteFacts = field(default_factory=lambda: NoteFacts(format=""))


def by_suffix(files: list[ModelFile], *suffixes: str) -> list[ModelFile]:
    return [f for f in files if f.rel.lower().endswith(suffixes)]


def companion(base: Path, rel: str) -> ModelFile:
    path = base / PurePosixPath(rel)
    return ModelFile(rel, path, path.stat().st_size)


def found_names(files: list[ModelFile]) -> str:
    """The first few files, for a message that says what a folder holds instead."""
    return ", ".join(f.rel for f in files[:8]) or "nothing"
