"""Checks on artifact files before anything reads them: where they are, what they are.

The grader never executes code from a submission. Pickle files (PyTorch `.bin` / `.pt`, `.pkl`,
checkpoints) run code when loaded, so an artifact that contains one is refused outright, even if
the backend would not touch it: a folder is graded as a whole, and "we only read the safe file"
is a promise nobody can check later.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from grader.file_kinds import is_code, is_pickle

# What a Hugging Face snapshot may contribute: weights, configs, tokenizers, vocabularies.
HF_ALLOW_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "*.onnx",
    "*.onnx_data",
    "*.onnx.data",
    "*.json",
    "*.txt",
    "*.model",  # sentencepiece
    "*.tiktoken",
    "*.xml",  # OpenVINO IR
    "*.data",  # ONNX external data, by convention
    "*.md",
)

CHUNK = 1024 * 1024


class UnsafeArtifactError(Exception):
    """The artifact breaks a safety rule; the message names the file and the fix."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pickle_files(names: Iterable[str]) -> list[str]:
    return sorted(name for name in names if is_pickle(name))


def is_inside(path: Path, folder: Path) -> bool:
    """True if ``path`` (resolved) is ``folder`` (resolved) or below it."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def safe_relative_name(name: str) -> str | None:
    """``name`` as a clean relative POSIX path, or None if it is absolute or climbs out (`..`)."""
    if not name or "\\" in name or "\x00" in name:
        return None
    pure = PurePosixPath(name)
    if pure.is_absolute() or any(part == ".." for part in pure.parts):
        return None
    parts = [p for p in pure.parts if p not in ("", ".")]
    return "/".join(parts) if parts else None


def walk_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (or ``root`` itself); refuses symlinks and special files.

    Symlinks are refused rather than followed: a link can point anywhere on the runner, and the
    digest of a link says nothing about what it points to later.
    """
    if root.is_symlink():
        raise UnsafeArtifactError(f"{root.name} is a symbolic link; commit the file itself")
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UnsafeArtifactError(f"{root} is neither a file nor a folder")
    out: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs + files):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                raise UnsafeArtifactError(
                    f"{rel} is a symbolic link; commit the file itself, not a link to it"
                )
            if name in files and not path.is_file():
                raise UnsafeArtifactError(f"{rel} is not a regular file")
            if name in files:
                out.append(path)
    return sorted(out)


def check_no_code(names: Iterable[str]) -> None:
    """Python modules, shared libraries and extension lists: nothing a loader should import."""
    found = sorted(name for name in names if is_code(name))
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise UnsafeArtifactError(
            f"the artifact holds code files, which the grader never loads or runs: {shown}; "
            "remove them and use an architecture transformers ships (no custom modelling code)"
        )


def check_no_pickles(names: Iterable[str]) -> None:
    found = pickle_files(names)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise UnsafeArtifactError(
            f"pickle files are never loaded by the grader (they can run code): {shown}; "
            "save weights with safetensors (`model.save_pretrained(dir)` does by default) "
            "and remove the pickle files"
        )
