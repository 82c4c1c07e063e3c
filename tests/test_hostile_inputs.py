"""Hostile submissions, built here, refused by `grader validate` with a located finding, in seconds
and bounded memory (issue #10): YAML alias bombs and deep nesting, oversized manifests, thousands of
models, deep JSON, and every artifact the runner would refuse later (bad safetensors headers, ONNX
tensors without data, code files, `auto_map`, unknown quantizers, broken tokenizers)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from grader.course import load_course
from grader.validate import validate_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
HW2 = "submissions/ml_masters/hw-2"
PATH_LINE = 13  # the `path:` line of MANIFEST

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
HEAD = "team: ml_masters\nhomework: 2\ntask: text-classification\n"

# What `grader validate` may spend on any of these: the bomb ran past 120 s and 9 GB.
MAX_SECONDS = 20.0  # generous for a loaded 2-core CI machine; each case takes well under 2 s
MAX_RSS_MIB = 600


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "course.yaml", tmp_path / "course.yaml")
    (tmp_path / HW2).mkdir(parents=True)
    return tmp_path


def validate_text(root: Path, text: str):
    manifest = root / HW2 / "submission.yaml"
    manifest.write_text(text, encoding="utf-8")
    return validate_manifest(manifest, load_course(root / "course.yaml"), root)


def validate_artifact(root: Path, path: str, fmt: str = "safetensors"):
    return validate_text(root, MANIFEST.format(fmt=fmt, path=path))


def codes(result) -> list[tuple[str, int | None]]:
    return [(f.code, f.location.line) for f in result.findings]


def only(result, code: str):
    """The one error finding of the result, which must have ``code``, located at a line."""
    errors = [f for f in result.findings if f.is_error]
    assert [f.code for f in errors] == [code], result.findings
    finding = errors[0]
    assert finding.location.file.endswith("submission.yaml") and finding.location.line is not None
    assert finding.expected and finding.found and finding.hint
    return finding


# --- the hostile manifests ------------------------------------------------------------------------


def billion_laughs() -> str:
    """Nine levels of nine aliases: 9⁹ ≈ 387 million strings once expanded, in 700-odd bytes."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [{','.join(['*' + previous] * 9)}]\n"
        previous = name
    return HEAD + text


def deep_yaml(levels: int = 100_000) -> str:
    return HEAD + "notes: " + "[" * levels + "]" * levels + "\n"


def deep_block_yaml(levels: int = 100_000) -> str:
    return HEAD + "notes:\n  " + "- " * levels + "x\n"


def many_models(count: int = 10_000) -> str:
    entries = ", ".join(f"{{name: m{i}}}" for i in range(count))  # ~120 KB: under the byte cap
    return HEAD + f"models: [{entries}]\n"


def oversized() -> str:
    return HEAD + "notes: |\n" + "  padding padding padding padding padding padding padding\n" * 6000


def test_billion_laughs_is_refused_before_it_expands(root: Path) -> None:
    text = billion_laughs()
    assert len(text.encode()) < 1024
    started = time.monotonic()
    finding = only(validate_text(root, text), "Y006")
    assert time.monotonic() - started < 2
    assert finding.location.line >= 4 and "aliases" in finding.message
    # refused where the running count passes the budget: within `e` (9⁵ strings), long before `i`
    assert finding.location.field.startswith("e[") and finding.location.line == 8


def test_an_alias_inside_its_own_anchor_is_refused(root: Path) -> None:
    finding = only(validate_text(root, HEAD + "notes: &loop [1, *loop]\n"), "Y006")
    assert finding.location.line == 4 and "*loop" in finding.found
    assert finding.location.field == "notes[1]"


def test_a_flat_list_of_110_000_values_is_over_the_node_budget_too(root: Path) -> None:
    text = HEAD + "notes: [" + ",".join(["1"] * 110_000) + "]\n"
    assert len(text.encode()) < 256 * 1024  # under the byte cap: the node budget refuses it
    finding = only(validate_text(root, text), "Y006")
    assert finding.location.field == "notes[49993]"  # the scan stops where the budget is passed


def test_small_aliases_still_work(root: Path) -> None:
    result = validate_text(root, HEAD + "x-claims: &c {size: 1 MB}\nnotes: [*c, *c]\n")
    assert "Y006" not in {f.code for f in result.findings}


@pytest.mark.parametrize(("build", "line"), [(deep_yaml, 4), (deep_block_yaml, 5)], ids=["flow", "block"])
def test_yaml_nested_100_000_deep_is_refused(root: Path, build, line: int) -> None:
    finding = only(validate_text(root, build()), "Y005")
    assert finding.location.line == line and finding.location.field.startswith("notes")


def test_an_oversized_manifest_is_refused_unread(root: Path) -> None:
    text = oversized()
    assert len(text.encode()) > 256 * 1024
    finding = only(validate_text(root, text), "Y004")
    assert "256 KiB" in finding.expected


def test_ten_thousand_models_are_refused(root: Path) -> None:
    finding = only(validate_text(root, many_models()), "M016")
    assert finding.location.field == "models[16]" and "10,000" in finding.found


# --- the hostile artifacts ------------------------------------------------------------------------


def safetensors_file(path: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def checkpoint(folder: Path, config: str = '{"model_type": "bert"}', header: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config)
    header = header or {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    safetensors_file(folder / "model.safetensors", header, b"\0" * 4)
    return folder


def test_a_plain_checkpoint_passes(root: Path) -> None:
    checkpoint(root / HW2 / "model")
    assert validate_artifact(root, "model/").ok


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, "past the end"),
        (
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            "overlap",
        ),
        ({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, "unknown dtype"),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, "non-negative"),
        ({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}, "past the end"),
    ],
    ids=["offsets-past-end", "overlap", "unknown-dtype", "negative-shape", "10^12-elements"],
)
def test_bad_safetensors_headers_are_refused(root: Path, header: dict, words: str) -> None:
    checkpoint(root / HW2 / "model", header=header)
    finding = only(validate_artifact(root, "model/"), "A005")
    assert finding.location.line == PATH_LINE and words in finding.message


def test_a_safetensors_header_nested_200_000_deep_is_refused(root: Path) -> None:
    model = checkpoint(root / HW2 / "model")
    raw = b"{" + b'"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    (model / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    only(validate_artifact(root, "model/"), "A005")


def onnx_model(path: Path, initializer: onnx.TensorProto, domain: str = "") -> Path:
    node = helper.make_node("Add", ["input_ids", initializer.name], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [initializer],
    )
    onnx.save_model(helper.make_model(graph), str(path))
    return path


def test_an_onnx_initializer_declaring_5_gb_is_refused(root: Path) -> None:
    huge = TensorProto()
    huge.name, huge.data_type = "W", TensorProto.FLOAT
    huge.dims.extend([1_250_000_000])  # 5 GB of float32, and not one byte of data
    path = onnx_model(root / HW2 / "model.onnx", huge)
    assert path.stat().st_size < 1024
    finding = only(validate_artifact(root, "model.onnx", fmt="onnx"), "A005")
    assert "5,000,000,000 bytes" in finding.message


def test_an_onnx_external_range_past_its_file_is_refused(root: Path) -> None:
    folder = root / HW2 / "onnx"
    folder.mkdir()
    (folder / "w.data").write_bytes(b"\0" * 16)
    weight = TensorProto()
    weight.name, weight.data_type, weight.data_location = "W", TensorProto.FLOAT, TensorProto.EXTERNAL
    weight.dims.extend([1_250_000_000])
    for key, value in {"location": "w.data", "offset": "0", "length": "5000000000"}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    onnx_model(folder / "model.onnx", weight)
    finding = only(validate_artifact(root, "onnx/", fmt="onnx"), "A005")
    assert "runs past the end" in finding.message


def test_an_onnx_custom_op_domain_is_refused(root: Path) -> None:
    weight = numpy_helper.from_array(np.ones(1, np.float32), "W")
    onnx_model(root / HW2 / "model.onnx", weight, domain="com.example.customops")
    finding = only(validate_artifact(root, "model.onnx", fmt="onnx"), "A011")
    assert "com.example.customops" in finding.found


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ('{"model_type": "bert",', "not JSON"),
        ("[" * 200_000 + "]" * 200_000, "nests deeper"),
        ('["a list"]', "not a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
    ids=["truncated", "200000-deep", "not-an-object", "not-utf8"],
)
def test_a_bad_config_json_is_refused(root: Path, config: str | bytes, words: str) -> None:
    model = checkpoint(root / HW2 / "model")
    if isinstance(config, bytes):
        (model / "config.json").write_bytes(config)
    else:
        (model / "config.json").write_text(config)
    finding = only(validate_artifact(root, "model/"), "A013")
    assert words in finding.message and finding.found == "config.json"


def test_auto_map_is_refused(root: Path) -> None:
    config = {"model_type": "bert", "auto_map": {"AutoModel": "modeling_evil.Model"}}
    checkpoint(root / HW2 / "model", config=json.dumps(config))
    finding = only(validate_artifact(root, "model/"), "A014")
    assert "auto_map" in finding.found


@pytest.mark.parametrize(
    "name", ["modeling_evil.py", "kernels.so", "libop.so.1", "op.dll", "extensions.json"]
)
def test_code_files_in_the_artifact_folder_are_refused(root: Path, name: str) -> None:
    model = checkpoint(root / HW2 / "model")
    (model / name).write_text("[]" if name.endswith(".json") else "import os\n")
    finding = only(validate_artifact(root, "model/"), "A014")
    assert name in finding.found


def test_code_files_beside_an_onnx_model_are_refused(root: Path) -> None:
    folder = root / HW2 / "onnx"
    folder.mkdir()
    onnx_model(folder / "model.onnx", numpy_helper.from_array(np.ones(1, np.float32), "W"))
    (folder / "custom_op.so").write_bytes(b"\x7fELF")
    only(validate_artifact(root, "onnx/", fmt="onnx"), "A014")


@pytest.mark.parametrize(
    ("quantization", "words"),
    [
        ({"quant_method": "bitsandbytes", "load_in_4bit": True, "load_in_8bit": True}, "both of"),
        ({"quant_method": "my-own-int3"}, "'my-own-int3'"),
        ({"quant_method": "gptq", "bits": 5, "group_size": 128}, "5 bits"),
        ({"bits": 4}, "quant_method"),
    ],
    ids=["bitsandbytes-4-and-8-bit", "unknown", "gptq-5-bit", "no-method"],
)
def test_quantization_the_grader_does_not_load_is_refused(root: Path, quantization: dict, words: str) -> None:
    config = {"model_type": "bert", "quantization_config": quantization}
    checkpoint(root / HW2 / "model", config=json.dumps(config))
    finding = only(validate_artifact(root, "model/"), "A015")
    assert words in finding.message


def test_a_supported_quantization_passes(root: Path) -> None:
    config = {"model_type": "bert", "quantization_config": {"quant_method": "gptq", "bits": 4}}
    checkpoint(root / HW2 / "model", config=json.dumps(config))
    assert "A015" not in {f.code for f in validate_artifact(root, "model/").findings}


@pytest.mark.parametrize(
    "tokenizer",
    ['{"version": "1.0", "model": ', '{"version": "1.0"}', '{"model": {"type": "BPE", "vocab": 7}}'],
    ids=["truncated", "no-model", "bad-vocab"],
)
def test_a_malformed_tokenizer_json_is_refused(root: Path, tokenizer: str) -> None:
    model = checkpoint(root / HW2 / "model")
    (model / "tokenizer.json").write_text(tokenizer)
    finding = only(validate_artifact(root, "model/"), "A013")
    assert finding.found == "tokenizer.json"


@pytest.mark.parametrize("name", ["weights.dill", "state.pck", "model.pkl"])
def test_every_pickle_suffix_is_refused_at_validate_as_at_fetch(root: Path, name: str) -> None:
    from grader.fetch.safety import is_pickle

    model = checkpoint(root / HW2 / "model")
    (model / name).write_bytes(b"\x80\x04")
    only(validate_artifact(root, "model/"), "A004")
    assert is_pickle(name)


def test_one_set_of_suffixes_for_every_stage() -> None:
    # A format's suffixes live with the format (grader.formats); validation, fetch and size ask
    # it, and the backend uses the same tuple.
    from grader import file_kinds
    from grader.formats.torchscript import TorchScript
    from grader.harness.backends import tensorrt, torchscript
    from grader.validate import artifacts

    assert artifacts.PICKLE_SUFFIXES is file_kinds.PICKLE_SUFFIXES
    assert torchscript.ARCHIVE_SUFFIXES is TorchScript.suffixes
    assert artifacts.ENGINE_SUFFIXES is tensorrt.ENGINE_SUFFIXES is file_kinds.ENGINE_SUFFIXES
    assert {".dill", ".pck"} <= file_kinds.PICKLE_SUFFIXES


def test_fetch_refuses_code_files_and_lets_torchscript_pass_only_as_torchscript(tmp_path: Path) -> None:
    from grader.fetch.safety import UnsafeArtifactError, check_no_code

    with pytest.raises(UnsafeArtifactError, match=r"modeling_evil\.py"):
        check_no_code(["config.json", "modeling_evil.py"])
    check_no_code(["config.json", "model.safetensors", "tokenizer.json"])


# --- end to end: the real command, its time and its peak memory -------------------------------------


# The peak RSS of `grader validate` itself. A child forked from this test process would carry the
# process's own high-water mark (pytest with torch loaded: 600+ MiB) in its ru_maxrss, exec or no
# exec; so a small launcher forks the grader and reports the grader's own peak.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
sys.stdout.flush()
print(f"\\nPEAK_RSS_KIB={usage.ru_maxrss}", flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_validate(root: Path) -> tuple[int, str, float, float]:
    """`grader validate` in a child process: (exit code, output, seconds, peak RSS in MiB)."""
    command = [sys.executable, "-c", LAUNCHER, "-m", "grader.cli", "validate", f"{HW2}/submission.yaml"]
    started = time.monotonic()
    child = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ | {"NO_COLOR": "1"},
    )
    timer = threading.Timer(MAX_SECONDS * 3, child.kill)  # a hang must not hang the test suite
    timer.start()
    try:
        output = child.stdout.read().decode() if child.stdout else ""
        status = child.wait()
    finally:
        timer.cancel()
    output, _, peak = output.rpartition("\nPEAK_RSS_KIB=")
    return status, output, time.monotonic() - started, int(peak) / 1024


def deep_config(root: Path) -> str:
    model = checkpoint(root / HW2 / "model")
    (model / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    return MANIFEST.format(fmt="safetensors", path="model/")


CASES = {
    "Y006": lambda root: billion_laughs(),
    "Y005": lambda root: deep_yaml(),
    "Y004": lambda root: oversized(),
    "M016": lambda root: many_models(),
    "A013": deep_config,
}


@pytest.mark.parametrize("code", list(CASES))
def test_grader_validate_refuses_each_case_quickly_in_bounded_memory(root: Path, code: str) -> None:
    (root / HW2 / "submission.yaml").write_text(CASES[code](root), encoding="utf-8")
    status, output, seconds, peak_mib = run_validate(root)
    assert status == 2, output
    assert f" {code} error:" in output and "Traceback" not in output and "internal error" not in output
    assert seconds < MAX_SECONDS, f"{seconds:.1f} s"
    assert peak_mib < MAX_RSS_MIB, f"{peak_mib:.0f} MiB"


# --- the same checks on what `grader fetch` downloads (hf: and url:, unseen by validation) -------


@pytest.mark.parametrize(
    ("config", "extra", "code"),
    [
        ({"model_type": "bert", "auto_map": {"AutoModel": "m.M"}}, {}, "A014"),
        ({"model_type": "bert", "quantization_config": {"quant_method": "bitsandbytes"}}, {}, "A015"),
        ({"model_type": "bert"}, {"tokenizer.json": '{"model": {"type": "BPE", "vocab": 7}}'}, "A013"),
    ],
    ids=["auto-map", "bitsandbytes", "bad-tokenizer"],
)
def test_fetch_refuses_a_downloaded_folder_the_runner_would_refuse(
    tmp_path: Path, config: dict, extra: dict, code: str
) -> None:
    from grader.fetch.artifact import FetchedArtifact, FetchError, _check_contents
    from grader.fetch.safety import UnsafeArtifactError

    folder = checkpoint(tmp_path / "snapshot", config=json.dumps(config))
    for name, text in extra.items():
        (folder / name).write_text(text)
    fetched = FetchedArtifact(root=folder, files={p.name: "" for p in folder.iterdir()}, source="hf://t/m@r")
    with pytest.raises((UnsafeArtifactError, FetchError), match=code):
        _check_contents(fetched, "safetensors")
    (folder / "config.json").write_text('{"model_type": "bert"}')
    for name in extra:
        (folder / name).unlink()
    _check_contents(FetchedArtifact(root=folder, files={p.name: "" for p in folder.iterdir()}), "safetensors")


# --- ONNX loops that never end (A018) ---------------------------------------------------------


def loop_model(path: Path, *, trips: int | None, body_condition: str) -> Path:
    """y = x after a Loop of ``trips`` iterations (None: no trip count); the body's condition is
    its input passed through ("passthrough"), a constant true ("true") or computed ("computed")."""
    cond_in = helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])
    iteration = helper.make_tensor_value_info("i", TensorProto.INT64, [])
    state_in = helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [1])
    state_out = helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [1])
    body_nodes = [helper.make_node("Identity", ["s_in"], ["s_out"])]
    if body_condition == "passthrough":
        body_nodes.append(helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    elif body_condition == "true":
        body_nodes.append(
            helper.make_node("Constant", [], ["cond_out"], value=helper.make_tensor("t", 9, [], [1]))
        )
    else:
        limit = helper.make_tensor("limit", TensorProto.INT64, [], [10])
        body_nodes.append(helper.make_node("Less", ["i", "limit"], ["cond_out"]))
    cond_out = helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])
    body = helper.make_graph(
        body_nodes,
        "body",
        [iteration, cond_in, state_in],
        [cond_out, state_out],
        [limit] if body_condition == "computed" else [],
    )
    initializers = [helper.make_tensor("cond", TensorProto.BOOL, [], [1])]
    if trips is not None:
        initializers.append(helper.make_tensor("M", TensorProto.INT64, [], [trips]))
    loop = helper.make_node(
        "Loop", ["M" if trips is not None else "", "cond", "input_ids"], ["y"], name="spin", body=body
    )
    graph = helper.make_graph(
        [loop],
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializers,
    )
    onnx.save_model(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize(
    ("trips", "condition"),
    [(2**63 - 1, "passthrough"), (None, "true"), (10**9, "true")],
    ids=["2^63-1-passthrough", "no-trip-count-constant-true", "10^9-constant-true"],
)
def test_an_onnx_loop_that_never_ends_is_refused(root: Path, trips: int | None, condition: str) -> None:
    loop_model(root / HW2 / "model.onnx", trips=trips, body_condition=condition)
    finding = only(validate_artifact(root, "model.onnx", fmt="onnx"), "A018")
    assert "'spin'" in finding.found


@pytest.mark.parametrize(("trips", "condition"), [(16, "passthrough"), (2**63 - 1, "computed")])
def test_bounded_or_computed_loops_pass(root: Path, trips: int, condition: str) -> None:
    loop_model(root / HW2 / "model.onnx", trips=trips, body_condition=condition)
    assert "A018" not in {f.code for f in validate_artifact(root, "model.onnx", fmt="onnx").findings}


def test_an_onnx_graph_with_a_precompiled_engine_is_refused(root: Path) -> None:
    """EPContext nodes carry a compiled engine blob: the onnxruntime backend refuses them, so does
    validation (they sit in the com.microsoft domain, which the custom-domain check lets through)."""
    node = helper.make_node("EPContext", ["input_ids"], ["y"], name="trt_engine", domain="com.microsoft")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save_model(helper.make_model(graph), str(root / HW2 / "model.onnx"))
    finding = only(validate_artifact(root, "model.onnx", fmt="onnx"), "A006")
    assert "trt_engine" in finding.found


# --- ONNX inputs the task cannot feed (A019) ----------------------------------------------------


def graph_with_inputs(path: Path, names: list[str]) -> Path:
    nodes = [helper.make_node("Identity", [names[0]], ["logits"])]
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, [1, 8]) for name in names]
    graph = helper.make_graph(
        nodes, "g", inputs, [helper.make_tensor_value_info("logits", TensorProto.INT64, [1, 8])]
    )
    onnx.save_model(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (["input_ids", "attention_mask", "past_length"], "does not know what to feed past_length"),
        (["tokens"], "does not know what to feed tokens"),
    ],
    ids=["extra-input", "no-input-ids"],
)
def test_onnx_inputs_a_text_task_cannot_feed_are_refused(root: Path, names: list[str], words: str) -> None:
    graph_with_inputs(root / HW2 / "model.onnx", names)
    finding = only(validate_artifact(root, "model.onnx", fmt="onnx"), "A019")
    assert words in finding.message


def test_standard_text_inputs_pass(root: Path) -> None:
    names = ["input_ids", "attention_mask", "token_type_ids", "position_ids"]
    graph_with_inputs(root / HW2 / "model.onnx", names)
    assert "A019" not in {f.code for f in validate_artifact(root, "model.onnx", fmt="onnx").findings}


@pytest.mark.skipif(importlib.util.find_spec("timm") is not None, reason="timm is installed here")
def test_a_timm_checkpoint_is_refused_before_it_would_fail_at_load(root: Path) -> None:
    # transformers' TimmWrapper builds the model with timm, which the grader does not install:
    # on the runner it would be an ImportError, so validate says it first, with the way that grades.
    config = {"model_type": "timm_wrapper", "architecture": "efficientvit_b0", "num_classes": 10}
    checkpoint(root / HW2 / "model", config=json.dumps(config))
    finding = only(validate_artifact(root, "model/"), "A023")
    assert finding.location.line == PATH_LINE
    assert "timm" in finding.message and "format: onnx" in finding.hint
    # the same folder exported to ONNX is not asked for timm
    assert "A023" not in {f.code for f in validate_artifact(root, "model/", fmt="onnx").findings}
