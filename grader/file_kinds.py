"""What a file's name says it is, for every check that decides whether the grader may read it.

One set per kind, used by validation (grader.validate.artifacts), fetching (grader.fetch), size
analysis and the TorchScript backend: when two of them disagree, a file refused in one stage is
loaded in the next. Suffixes are compared in lower case.
"""

from __future__ import annotations

from pathlib import PurePosixPath

# Files that torch.load / pickle / joblib / dill would unpickle, i.e. run code from. `.bin` is also
# OpenVINO's weights file, which is allowed next to its `.xml`; `.pt`/`.pth` are also TorchScript
# archives, allowed only with the instructor's label.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".dill", ".pck"})
# Archives torch.jit.save writes (a zip of code and tensors): loading one runs its code.
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit", ".ptl")
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


def is_torchscript(name: str) -> bool:
    return suffix(name) in TORCHSCRIPT_SUFFIXES


def is_code(name: str) -> bool:
    pure = PurePosixPath(name)
    lower = pure.name.lower()
    # `libcustom.so.1` is a shared library too.
    return pure.suffix.lower() in CODE_SUFFIXES or lower in CODE_FILE_NAMES or ".so." in lower
