"""Size readers of archives that carry code (TorchScript, torch.export): their tensors sit inside
pickles, which the grader never reads, so only the archives' bytes are counted as the weights."""

from __future__ import annotations

from pathlib import Path

from grader.formats.torch_export import TorchExport
from grader.formats.torchscript import TorchScript
from grader.harness.size_contents import Contents, by_suffix
from grader.harness.size_files import ModelFile
from grader.harness.size_notes import NoteFacts
from grader.harness.size_types import SizeError


def read_torchscript_model(base: Path, files: list[ModelFile]) -> Contents:
    archives = by_suffix(files, *TorchScript.suffixes)
    if not archives:
        raise SizeError(f"{base}: no TorchScript archive ({', '.join(TorchScript.suffixes)})")
    facts = NoteFacts(format="torchscript", no_params_reason="torchscript")
    return Contents([], {a.rel for a in archives}, facts=facts)


def read_torch_export_model(base: Path, files: list[ModelFile]) -> Contents:
    archives = by_suffix(files, *TorchExport.suffixes)
    if not archives:
        raise SizeError(f"{base}: no torch.export archive ({', '.join(TorchExport.suffixes)})")
    facts = NoteFacts(format="torch-export", no_params_reason="torch-export")
    return Contents([], {a.rel for a in archives}, facts=facts)
