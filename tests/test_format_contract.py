"""Every registered format declares every part, and what it names exists.

A new format: one module in grader/formats/, one line in grader.formats.FORMATS, its name in
grader.manifest.model.Format; these tests then check its parts (see docs/developers.md).
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from grader.findings import Location
from grader.formats import FORMATS, code_formats, format_backends, format_spec
from grader.formats.base import FormatSpec, Listing
from grader.harness.backends import BACKENDS, FORMAT_BACKENDS
from grader.manifest.model import Format
from grader.registry import UnknownNameError

LOCATION = Location(file="submission.yaml")


def test_the_manifest_offers_exactly_the_registered_formats_in_order() -> None:
    assert list(get_args(Format)) == list(FORMATS)


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_declares_every_part(name: str) -> None:
    spec = format_spec(name)
    assert issubclass(spec, FormatSpec) and spec.name == name
    for part in FormatSpec.REQUIRED:
        assert part in {k for cls in spec.__mro__[:-2] for k in vars(cls)}, f"{name} inherits {part}"
    assert spec.suffixes and all(s.startswith(".") and s == s.lower() for s in spec.suffixes)
    assert all(isinstance(getattr(spec, flag), bool) for flag in ("carries_code", "needs_side_files"))
    assert all(isinstance(getattr(spec, flag), bool) for flag in ("onnx_graph", "quantization_config"))
    assert isinstance(spec.hub_patterns, tuple) and all(p.startswith("*.") for p in spec.hub_patterns)
    assert spec.layout is not FormatSpec.layout, f"{name} has no layout check"


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_s_size_reader_exists(name: str) -> None:
    module, _, function = format_spec(name).size_reader.partition(":")
    reader = getattr(importlib.import_module(module), function)
    assert list(inspect.signature(reader).parameters) == ["base", "files"]


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_s_backend_exists_and_loads_it(name: str) -> None:
    backend = format_spec(name).backend
    if backend is None:
        assert name not in FORMAT_BACKENDS
        return
    assert FORMAT_BACKENDS[name] == backend
    assert name in BACKENDS.load(backend).formats


def test_every_backend_loads_a_registered_format() -> None:
    for backend in BACKENDS:
        assert set(BACKENDS.load(backend).formats) <= set(FORMATS), backend
    assert set(format_backends().values()) <= set(BACKENDS)


def test_a_format_that_leaves_out_a_part_is_refused_when_it_is_written() -> None:
    with pytest.raises(TypeError, match=r"does not declare .*size_reader"):

        class Half(FormatSpec):
            name = "half"
            suffixes = (".half",)
            carries_code = False
            needs_side_files = False
            backend = None
            onnx_graph = False
            quantization_config = False
            hub_patterns = ()


def test_unknown_format_names_suggest_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean: onnx"):
        format_spec("onxx")


def test_code_formats_are_the_ones_that_say_so() -> None:
    assert code_formats() == {"torchscript", "torch-export"}


def test_own_data_is_what_a_format_keeps_under_a_pickle_suffix() -> None:
    names = ["model.xml", "model.bin", "other.bin", "model.pt", "a/b.XML", "a/b.bin"]
    assert format_spec("openvino").own_data(names) == {"model.bin", "a/b.bin"}
    assert format_spec("torchscript").own_data(names) == {"model.pt"}
    assert format_spec("safetensors").own_data(names) == frozenset()
    assert format_spec("openvino").companions("model.xml") == ("model.bin",)
    assert format_spec("onnx").companions("model.onnx") == ()


def test_a_layout_reads_a_listing(tmp_path: Path) -> None:
    (tmp_path / "model.pt2").write_bytes(b"PK")
    listing = Listing(
        target=tmp_path,
        root=tmp_path,
        files={"model.pt2": 2},
        symlinks=[],
        is_dir=True,
        raw="model/",
        location=LOCATION,
    )
    assert format_spec("torch-export").layout(listing) == ([], tmp_path / "model.pt2")
    empty = Listing(tmp_path, tmp_path, {}, [], True, "model/", LOCATION)
    findings, model_file = format_spec("torch-export").layout(empty)
    assert model_file is None and [f.code for f in findings] == ["A005"]


def test_reading_the_registry_imports_no_runtime() -> None:
    code = (
        "import sys\nfrom grader.formats import FORMATS, format_spec\n"
        "[format_spec(n) for n in FORMATS]\n"
        "heavy = ('onnx', 'torch', 'numpy', 'openvino', 'grader.harness')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
