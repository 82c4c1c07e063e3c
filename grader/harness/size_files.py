"""The files of a model: listed without following links, named by role, hashed and compressed in one read.

Symlinks are refused, never followed: a link inside a submission could point at any file on
the runner. Special files (FIFOs, devices) are refused too: reading one could block forever.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import ModuleType
from typing import Literal

from grader.harness.size_types import SizeError

Role = Literal["weights", "config", "tokenizer", "other"]
READ_BYTES = 4 << 20
# Download bookkeeping, not the model: huggingface_hub's local_dir cache and a git checkout.
SKIPPED_DIRS = (".git", ".cache")

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
        "tokenizer.model",
        "chat_template.jinja",
        "chat_template.json",
    }
)
CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".xml")


@dataclass(frozen=True)
class ModelFile:
    rel: str  # POSIX path relative to the model root ("a single file" roots: its name)
    path: Path
    bytes: int


def _refuse_link_or_special(path: Path, rel: str) -> os.stat_result:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise SizeError(
            f"{rel}: is a symbolic link; links are refused, never followed (upload the file itself)"
        )
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise SizeError(f"{rel}: is not a regular file or folder (a FIFO, socket or device); refused")
    return info


def list_files(root: Path) -> tuple[Path, list[ModelFile]]:
    """(the folder paths are relative to, every regular file under ``root``), sorted by path.

    ``root`` may be a folder or a single file; a single file's folder becomes the base, so its
    companions (ONNX external data, an IR's .bin) can be resolved next to it.
    """
    if not os.path.lexists(root):
        raise SizeError(f"{root}: does not exist")
    info = _refuse_link_or_special(root, root.name or str(root))
    if stat.S_ISREG(info.st_mode):
        return root.parent, [ModelFile(root.name, root, info.st_size)]
    files: list[ModelFile] = []
    _walk(root, PurePosixPath(), files)
    return root, sorted(files, key=lambda f: f.rel)


def _walk(folder: Path, rel: PurePosixPath, out: list[ModelFile]) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            child_rel = rel / entry.name
            if not entry.name.isprintable() or not _is_utf8(entry.name):
                shown = entry.name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
                raise SizeError(f"{rel / shown}: the file name is not printable UTF-8 text; rename the file")
            if not rel.parts and entry.name in SKIPPED_DIRS and entry.is_dir(follow_symlinks=False):
                continue
            info = _refuse_link_or_special(Path(entry.path), str(child_rel))
            if stat.S_ISDIR(info.st_mode):
                _walk(Path(entry.path), child_rel, out)
            else:
                out.append(ModelFile(str(child_rel), Path(entry.path), info.st_size))


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")  # undecodable bytes arrive as lone surrogates, which do not encode
    except UnicodeEncodeError:
        return False
    return True


def safe_child(folder: Path, location: str, referrer: str, *, base_rel: PurePosixPath) -> tuple[Path, str]:
    """The file ``location`` names relative to ``folder``, checked to stay inside it.

    Refuses absolute paths, drive letters, `..`, backslashes, links along the way and missing or
    special files. Returns the path and its POSIX path relative to the model root.
    """
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if (
        not location
        or "\x00" in location
        or "\\" in location
        or posix.is_absolute()
        or windows.is_absolute()
        or windows.drive
        or ".." in posix.parts
    ):
        raise SizeError(
            f"{referrer}: refers to external data at {location!r}, outside the model folder; "
            "external data must be a file next to the model (save it with a relative location)"
        )
    path, rel = folder, base_rel
    for part in posix.parts:
        path, rel = path / part, rel / part
        if not os.path.lexists(path):
            raise SizeError(f"{referrer}: refers to external data {location!r}, which is missing")
        _refuse_link_or_special(path, str(rel))
    if not path.is_file():
        raise SizeError(f"{referrer}: external data {location!r} is not a file")
    return path, str(rel)


def role_of(rel: str, weight_files: set[str]) -> Role:
    if rel in weight_files:
        return "weights"
    name = PurePosixPath(rel).name
    if name in TOKENIZER_FILES:
        return "tokenizer"
    if name.endswith(CONFIG_SUFFIXES):
        return "config"
    return "other"


# --- digests and compression, in one pass --------------------------------------------------------


def compressor() -> tuple[str, Callable[[], _Codec]]:
    """zstd level 3 when zstandard is installed, otherwise gzip level 6 (stdlib)."""
    try:
        import zstandard
    except ImportError:
        return "gzip-6", _Gzip
    return "zstd-3", lambda: _Zstd(zstandard)


class _Codec:
    def compress(self, data: memoryview) -> int:  # returns bytes produced
        raise NotImplementedError

    def flush(self) -> int:
        raise NotImplementedError


class _Zstd(_Codec):
    def __init__(self, zstandard: ModuleType) -> None:
        # One frame per file, no content size (streamed), single-threaded so the figure is stable.
        self._obj = zstandard.ZstdCompressor(level=3).compressobj()

    def compress(self, data: memoryview) -> int:
        return len(self._obj.compress(data))

    def flush(self) -> int:
        return len(self._obj.flush())


class _Gzip(_Codec):
    def __init__(self) -> None:
        self._obj = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: the gzip container

    def compress(self, data: memoryview) -> int:
        return len(self._obj.compress(data))

    def flush(self) -> int:
        return len(self._obj.flush())


def digest_file(path: Path, rel: str, expected_bytes: int, codec: _Codec | None) -> tuple[str, int | None]:
    """sha256 of the file, and its compressed length when a codec is given. One read of the file."""
    sha = hashlib.sha256()
    produced = 0
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    total = 0
    with path.open("rb") as handle:
        while got := handle.readinto(buffer):
            chunk = view[:got]
            sha.update(chunk)
            if codec is not None:
                produced += codec.compress(chunk)
            total += got
    if total != expected_bytes:
        raise SizeError(f"{rel}: changed while it was read ({expected_bytes:,} bytes listed, {total:,} read)")
    if codec is not None:
        produced += codec.flush()
    return sha.hexdigest(), produced if codec is not None else None
