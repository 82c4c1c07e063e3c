"""What a file's name says it is, for every check that decides whether the grader may read it.

One set per kind, used by validation (grader.validate.artifacts), fetching (grader.fetch), size
analysis and the backends: when two of them disagree, a file refused in one stage is loaded in
the next. Suffixes are compared in lower case. What a format's own files are lives with the
format (grader.formats).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

# Files that torch.load / pickle / joblib / dill would unpickle, i.e. run code from. `.bin` is also
# OpenVINO's weights file, and `.pt`/`.pth` TorchScript archives: a format says which of its own
# files these are (FormatSpec.own_data).
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".pck"})
# Prebuilt TensorRT engines: they can carry plugins and only run on the GPU they were built for.
ENGINE_SUFFIXES = frozenset({".engine", ".plan", ".trt"})
# Code a loader could import or dlopen (custom modelling code, custom-op libraries).
CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyd", ".so", ".dll", ".dylib"})
# Files whose whole purpose is to name code libraries to load next to the model.
CODE_FILE_NAMES = frozenset({"extensions.json"})


def suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_pickle(name: str) -> bool:
    return suffix(name) in PICKLE_SUFFIXES


def is_code(name: str) -> bool:
    pure = PurePosixPath(name)
    lower = pure.name.lower()
    # `libcustom.so.1` is a shared library too.
    return pure.suffix.lower() in CODE_SUFFIXES or lower in CODE_FILE_NAMES or ".so." in lower


# A file Git LFS left in place of the real one: a few lines of text that start like this.
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"
_LFS_POINTER_MAX_BYTES = 1024


def is_lfs_pointer(path: Path, size: int | None = None) -> bool:
    """Whether ``path`` is a Git LFS pointer (``size``: its bytes, when already known)."""
    try:
        size = os.lstat(path).st_size if size is None else size
        if size > _LFS_POINTER_MAX_BYTES:
            return False
        with path.open("rb") as handle:
            return handle.read(len(_LFS_POINTER)) == _LFS_POINTER
    except OSError:
        return False
