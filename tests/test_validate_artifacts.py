"""Artifact checks (A-codes) on real files: symlinks, pickles, layouts, ONNX external data, sizes."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import onnx
import pytest
from harness_support import write_tokenizer
from onnx import TensorProto, helper, numpy_helper

from grader.course import load_course
from grader.findings import Location
from grader.validate import validate_manifest
from grader.validate.artifacts import ArtifactChecker
from grader.validate.rules import ManifestPlace
from grader.yamlio import PositionMap

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
HW2 = "submissions/ml_masters/hw-2"
LIMIT = 2**20  # the test course's artifact_max_mib: 1

MANIFEST = """\
team: ml_masters
homework: 2
task: text-classification
baseline:
  name: base
  artifact: {{hf: ml-masters/base, revision: 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8}}
  claims: {{size: 118 MB, latency_cpu: 6 ms, quality: {{accuracy: 87%}}}}
models:
  - name: candidate
    method: quantization
    format: {fmt}
    artifact:
      path: {path}
    claims: {{size: 45 MB, latency_cpu: 4 ms, quality: {{accuracy: 86%}}}}
"""
PATH_LINE = 13


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "course.yaml", tmp_path / "course.yaml")
    (tmp_path / HW2).mkdir(parents=True)
    return tmp_path


def checkpoint(folder: Path, *, config: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if config:
        (folder / "config.json").write_text('{"model_type": "bert"}')
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    return folder


def tiny_onnx(path: Path, *, external: bool = False, domain: str = "") -> Path:
    """A one-MatMul graph; with ``external``, its weight in a data file beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    # Named as a text model's input: the manifest's task is text-classification (A019 checks it).
    node = helper.make_node("MatMul", ["input_ids", "W"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph)
    if external:
        onnx.save_model(
            model, str(path), save_as_external_data=True, location=path.name + ".data", size_threshold=0
        )
    else:
        onnx.save_model(model, str(path))
    return path


def validate(root: Path, path: str, fmt: str = "safetensors", **kwargs):
    manifest = root / HW2 / "submission.yaml"
    manifest.write_text(MANIFEST.format(fmt=fmt, path=path), encoding="utf-8")
    return validate_manifest(manifest, load_course(root / "course.yaml"), root, **kwargs)


def codes(result) -> list[tuple[str, int | None]]:
    return [(f.code, f.location.line) for f in result.findings]


def finding(result, code: str):
    return next(f for f in result.findings if f.code == code)


# --- inside the team folder, present, no links ----------------------------------------------------


def test_a_checkpoint_folder_is_accepted(root: Path) -> None:
    checkpoint(root / HW2 / "model")
    result = validate(root, "model/")
    assert result.ok, result.findings
    assert result.entries[1].artifact_dir == f"{HW2}/model"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../../compressors/hw-2/model", "points outside submissions/ml_masters/"),
        ("/etc", "absolute path"),
        ("~/model", "absolute path"),
        ("model\\\\weights", "uses \\\\"),
    ],
)
def test_paths_that_leave_the_team_folder_are_refused(root: Path, path: str, why: str) -> None:
    result = validate(root, path)
    assert codes(result) == [("A001", PATH_LINE)]
    assert why.replace("\\\\", "\\") in result.findings[0].message


def test_missing_path_suggests_what_is_there(root: Path) -> None:
    checkpoint(root / HW2 / "model")
    result = validate(root, "modle/")
    assert codes(result) == [("A002", PATH_LINE)]
    assert "did you mean 'model'" in result.findings[0].hint
    assert result.entries[1].artifact_dir is None


def test_a_symlinked_artifact_folder_is_refused_not_followed(root: Path, tmp_path_factory) -> None:
    elsewhere = checkpoint(tmp_path_factory.mktemp("elsewhere") / "model")
    (root / HW2 / "model").symlink_to(elsewhere, target_is_directory=True)
    result = validate(root, "model/")
    assert codes(result) == [("A003", PATH_LINE)]
    assert finding(result, "A003").found == f"{HW2}/model"
    assert result.entries[1].artifact_dir is None


def test_a_symlink_inside_the_artifact_is_refused(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    (model / "tokenizer.json").symlink_to("/etc/passwd")
    result = validate(root, "model/")
    assert codes(result) == [("A003", PATH_LINE)]
    assert "tokenizer.json" in result.findings[0].found


def test_a_symlinked_team_folder_is_refused(tmp_path: Path, tmp_path_factory) -> None:
    shutil.copy(FIXTURES / "course.yaml", tmp_path / "course.yaml")
    real = tmp_path_factory.mktemp("real_team")
    checkpoint(real / "hw-2" / "model")
    (tmp_path / "submissions").mkdir()
    (tmp_path / "submissions" / "ml_masters").symlink_to(real, target_is_directory=True)
    result = validate(tmp_path, "model/")
    # the manifest itself is reached through the link, so nothing in it is read
    assert codes(result) == [("Y003", None)]
    assert finding(result, "Y003").found == "submissions/ml_masters is a link"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_special_files_are_refused(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    os.mkfifo(model / "pipe")
    result = validate(root, "model/")
    assert codes(result) == [("A003", PATH_LINE)]
    assert "not regular files" in result.findings[0].message


# --- no pickles, no engines, no LFS pointers -----------------------------------------------------


def test_a_bin_file_is_refused(root: Path) -> None:
    (root / HW2 / "pytorch_model.bin").write_bytes(b"\x80\x04\x95")
    result = validate(root, "pytorch_model.bin")
    assert codes(result) == [("A004", PATH_LINE)]
    assert "safe_serialization=True" in result.findings[0].hint


def test_pickle_leftovers_in_a_checkpoint_are_refused(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    for name in ("training_args.bin", "optimizer.pt", "sub/rng_state.pth", "scaler.pkl"):
        (model / name).parent.mkdir(exist_ok=True)
        (model / name).write_bytes(b"\x80\x04")
    result = validate(root, "model/")
    assert codes(result) == [("A004", PATH_LINE)]
    assert result.findings[0].found == "optimizer.pt, scaler.pkl, sub/rng_state.pth, training_args.bin"


def test_openvino_weights_bin_is_not_a_pickle(root: Path) -> None:
    ir = root / HW2 / "ov"
    ir.mkdir()
    (ir / "model.xml").write_text("<net/>")
    (ir / "model.bin").write_bytes(b"\0" * 16)
    write_tokenizer(ir)  # the side file a text model needs beside its graph (A016)
    assert validate(root, "ov/", fmt="openvino").ok
    assert validate(root, "ov/model.xml", fmt="openvino").ok
    (ir / "model.bin").unlink()
    result = validate(root, "ov/model.xml", fmt="openvino")
    assert codes(result) == [("A005", PATH_LINE)]
    assert "model.bin" in result.findings[0].message


def test_a_stray_bin_next_to_an_openvino_ir_is_still_refused(root: Path) -> None:
    ir = root / HW2 / "ov"
    ir.mkdir()
    (ir / "model.xml").write_text("<net/>")
    (ir / "model.bin").write_bytes(b"\0" * 16)
    (ir / "training_args.bin").write_bytes(b"\x80\x04")
    result = validate(root, "ov/", fmt="openvino")
    assert codes(result) == [("A004", PATH_LINE)]
    assert result.findings[0].found == "training_args.bin"


def test_prebuilt_tensorrt_engines_are_refused(root: Path) -> None:
    (root / HW2 / "model.engine").write_bytes(b"\0" * 8)
    assert codes(validate(root, "model.engine", fmt="tensorrt")) == [("A006", PATH_LINE)]
    folder = root / HW2 / "trt"
    tiny_onnx(folder / "model.onnx")
    (folder / "model.plan").write_bytes(b"\0" * 8)
    assert codes(validate(root, "trt/", fmt="tensorrt")) == [("A006", PATH_LINE)]


def test_git_lfs_pointers_are_not_weights(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    (model / "model.safetensors").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 123456\n"
    )
    result = validate(root, "model/")
    assert codes(result) == [("A010", PATH_LINE)]


# --- layouts ----------------------------------------------------------------------------------


def test_checkpoint_without_config(root: Path) -> None:
    checkpoint(root / HW2 / "model", config=False)
    result = validate(root, "model/")
    assert codes(result) == [("A005", PATH_LINE)]
    assert "config.json" in result.findings[0].message


def test_single_safetensors_file_is_not_a_checkpoint(root: Path) -> None:
    checkpoint(root / HW2 / "model")
    result = validate(root, "model/model.safetensors")
    assert codes(result) == [("A005", PATH_LINE)]
    assert "folder" in result.findings[0].message


def test_a_pickle_renamed_to_safetensors_is_caught_by_its_header(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    (model / "model.safetensors").write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    result = validate(root, "model/")
    assert codes(result) == [("A005", PATH_LINE)]
    assert "not a safetensors file" in result.findings[0].message


def test_onnx_file_and_folder(root: Path) -> None:
    tiny_onnx(root / HW2 / "onnx" / "model.onnx", external=True)
    write_tokenizer(root / HW2 / "onnx")  # the side file a text model needs beside its graph (A016)
    folder = validate(root, "onnx/", fmt="onnx")
    assert folder.ok, folder.findings
    single = validate(root, "onnx/model.onnx", fmt="onnx")
    assert single.ok, single.findings
    assert single.entries[1].artifact_dir == f"{HW2}/onnx/model.onnx"


def test_onnx_folder_with_two_models(root: Path) -> None:
    tiny_onnx(root / HW2 / "onnx" / "a.onnx")
    tiny_onnx(root / HW2 / "onnx" / "b.onnx")
    result = validate(root, "onnx/", fmt="onnx")
    assert codes(result) == [("A005", PATH_LINE)]
    assert "2 .onnx files" in result.findings[0].message


def test_unreadable_onnx(root: Path) -> None:
    (root / HW2 / "model.onnx").write_bytes(b"\xff" * 64)
    result = validate(root, "model.onnx", fmt="onnx")
    assert codes(result) == [("A005", PATH_LINE)]
    assert "not a readable ONNX model" in result.findings[0].message


def test_onnx_external_data_must_stay_in_the_models_folder(root: Path) -> None:
    path = tiny_onnx(root / HW2 / "onnx" / "model.onnx", external=True)
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../../../../etc/passwd"
    onnx.save_model(model, str(path))
    result = validate(root, "onnx/", fmt="onnx")
    assert codes(result) == [("A012", PATH_LINE)]
    assert "outside" in result.findings[0].message


def test_onnx_external_data_missing(root: Path) -> None:
    path = tiny_onnx(root / HW2 / "onnx" / "model.onnx", external=True)
    (path.parent / "model.onnx.data").unlink()
    result = validate(root, "onnx/model.onnx", fmt="onnx")
    assert codes(result) == [("A012", PATH_LINE)]
    assert "missing" in result.findings[0].message


def test_onnx_external_data_through_a_symlink_is_refused(root: Path, tmp_path_factory) -> None:
    path = tiny_onnx(root / HW2 / "model.onnx", external=True)
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "model.onnx.data"
    (path.parent / "model.onnx.data").rename(elsewhere)
    (path.parent / "model.onnx.data").symlink_to(elsewhere)
    result = validate(root, "model.onnx", fmt="onnx")
    assert codes(result) == [("A003", PATH_LINE)]
    assert result.findings[0].found == f"{HW2}/model.onnx.data"


def test_onnx_custom_operator_domain_is_refused(root: Path) -> None:
    tiny_onnx(root / HW2 / "model.onnx", domain="com.example.custom")
    result = validate(root, "model.onnx", fmt="onnx")
    assert not result.ok  # the runner would refuse it: refused here, not at measure time
    assert codes(result) == [("A011", PATH_LINE)]
    assert "com.example.custom" in result.findings[0].found


def test_artifacts_above_the_size_limit(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    with (model / "big.safetensors.tmp").open("wb") as handle:
        handle.truncate(LIMIT + 1)  # sparse: takes no disk space, stat says 1 MiB + 1
    result = validate(root, "model/")
    assert codes(result) == [("A007", PATH_LINE)]
    assert "1.00 MiB" in result.findings[0].expected


# --- hf and url: their form only ------------------------------------------------------------------


def checker(root: Path) -> ArtifactChecker:
    place = ManifestPlace.of(root / HW2 / "submission.yaml", root)
    return ArtifactChecker(place, PositionMap(file=place.display), max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://github.com/team/zoo/releases/download/v1/model.zip", None),
        ("https://user:token@example.com/model.zip", "login"),
        ("https://10.0.0.5/model.zip", "IP address"),
        ("https://[::1]/model.zip", "IP address"),
        ("https://localhost/model.zip", "not a public host"),
        ("https://models.internal/model.zip", "not a public host"),
        ("https://intranet/model.zip", "not a public host"),
        ("https://example.com:8443/model.zip", "port 8443"),
    ],
)
def test_url_form(root: Path, url: str, problem: str | None) -> None:
    findings = checker(root)._check_url(url, ("models", 0, "artifact"))
    if problem is None:
        assert findings == []
    else:
        [found] = findings
        assert found.code == "A009" and problem in found.message


def test_hf_form(root: Path) -> None:
    from grader.manifest.model import Artifact

    rev = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"
    check = checker(root)._check_hf
    assert check(Artifact(hf="team-x/bert-int8", revision=rev, subfolder="onnx/int8"), ()) == []
    [pasted] = check(Artifact(hf="https://huggingface.co/team-x/bert-int8", revision=rev), ())
    assert pasted.code == "A008" and pasted.hint == "write `hf: team-x/bert-int8`"
    [escape] = check(Artifact(hf="team-x/bert", revision=rev, subfolder="../other"), ())
    assert escape.code == "A008"


def test_check_path_reports_at_the_given_location(root: Path) -> None:
    location = Location(file="m.yaml", line=7, column=9, field="models[0].artifact.path")
    result = checker(root).check_path("nothing/", "safetensors", location)
    [missing] = result.findings
    assert missing.code == "A002" and missing.location == location
    assert result.target is None
