"""What a format declares: the one place a stage asks what a format's files are and need.

A format is a class of class attributes and static methods, never an instance: nothing about a
format varies from one manifest to the next, and the registry (grader.formats.FORMATS) loads
classes, as the backends' registry does. Every part is required (``__init_subclass__`` refuses a
format that leaves one out, tests/test_format_contract.py checks the targets exist), so a new
format cannot quietly fall back on another format's behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import ClassVar

from grader.findings import Finding, Location

# (findings, the model file when the layout names one): what validation's ONNX checks parse.
LayoutResult = tuple[list[Finding], Path | None]


@dataclass(frozen=True)
class Listing:
    """What validation found at an artifact path, as a layout check sees it: names and sizes from
    lstat, nothing followed, opened only where a check reads a header."""

    target: Path  # the artifact: a folder, or one file
    root: Path  # the folder the names in ``files`` are relative to (a file's own folder)
    files: Mapping[str, int]  # regular files: relative path → bytes
    symlinks: Collection[str]
    is_dir: bool
    raw: str  # the path as the manifest writes it
    location: Location

    @cached_property
    def top(self) -> list[str]:
        """The files at the artifact's top level (a single-file artifact: that file)."""
        return sorted(name for name in self.files if "/" not in name) if self.is_dir else [self.target.name]

    def wrong(self, message: str, expected: str, hint: str) -> list[Finding]:
        """The one finding a layout check reports (A005), with what the folder holds."""
        found = self.raw + (f" (holds: {', '.join(self.top[:8])})" if self.is_dir and self.top else "")
        return [
            Finding(
                code="A005",
                location=self.location,
                message=message,
                expected=expected,
                found=found,
                hint=hint,
            )
        ]


def suffix_of(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


class FormatSpec:
    """One artifact format. Subclasses set every attribute below and override ``layout``."""

    name: ClassVar[str]  # as the manifest's `format:` spells it
    suffixes: ClassVar[tuple[str, ...]]  # the model file's suffixes, lower case
    carries_code: ClassVar[bool]  # loading it runs code: measured only with an instructor's label
    # An exported graph run with the grader's own pre- and post-processing: it needs tokenizer.json,
    # preprocessor_config.json, id2label beside it (grader.validate.side_files).
    needs_side_files: ClassVar[bool]
    # "module:function" of its size reader, (base, files) -> grader.harness.size_contents.Contents;
    # a string, so that measuring one format imports only its reader (onnx, numpy, ...).
    size_reader: ClassVar[str]
    backend: ClassVar[str | None]  # its name in grader.harness.backends.BACKENDS; None: none yet
    onnx_graph: ClassVar[bool]  # the model file is an ONNX graph: validation parses and checks it
    quantization_config: ClassVar[bool]  # its loader reads config.json's quantization_config
    hub_patterns: ClassVar[tuple[str, ...]]  # files a Hub snapshot needs beyond the common ones

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "name",
        "suffixes",
        "carries_code",
        "needs_side_files",
        "size_reader",
        "backend",
        "onnx_graph",
        "quantization_config",
        "hub_patterns",
    )

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        missing = [part for part in cls.REQUIRED if not hasattr(cls, part)]
        if missing:
            raise TypeError(f"format {cls.__name__} does not declare {', '.join(missing)}")

    @staticmethod
    def layout(listing: Listing) -> LayoutResult:
        """Does what is on disk fit the format? Findings (A005) and the model file, when named."""
        raise NotImplementedError

    @classmethod
    def own_data(cls, names: Collection[str]) -> frozenset[str]:
        """The files among ``names`` that carry a pickle's suffix but are this format's own data
        (an OpenVINO IR's .bin, a code format's archive that its label gates): not refused as pickles."""
        return frozenset()

    @classmethod
    def companions(cls, name: str) -> tuple[str, ...]:
        """Files that a single-file artifact ``name`` needs beside it (an IR's .bin)."""
        return ()

    @classmethod
    def is_model_file(cls, name: str) -> bool:
        return suffix_of(name) in cls.suffixes
