"""analyze_size on OpenVINO IR: a real IR written by openvino (when installed) and hand-written ones.

The analyzer itself never imports openvino; the real IR checks that it reads what OpenVINO
writes, the hand-written IRs check exact figures and refusals without openvino installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.harness.models import SizeReport
from grader.harness.size import SizeError, analyze_size
from grader.messages import render_note

RNG = np.random.default_rng(5)


def _notes(report: SizeReport, language: str = "en") -> list[str]:
    """The report's size notes as a reader sees them (the catalog renders their keys and params)."""
    return [render_note(note, language) for note in report.notes]


def _ir(
    folder: Path, constants: list[tuple[str, str, str, int, int]], bin_bytes: bytes, extra: str = ""
) -> Path:
    """An IR with Const layers (name, element_type, shape, offset, size), each feeding a Result."""
    layers, edges = [], []
    for i, (name, element_type, shape, offset, size) in enumerate(constants):
        layers.append(
            f'<layer id="{2 * i}" name="{name}" type="Const" version="opset1">'
            f'<data element_type="{element_type}" shape="{shape}" offset="{offset}" size="{size}"/>'
            f'<output><port id="0" precision="FP32"/></output></layer>'
            f'<layer id="{2 * i + 1}" name="out{i}" type="Result" version="opset1">'
            f'<input><port id="0"/></input></layer>'
        )
        edges.append(f'<edge from-layer="{2 * i}" from-port="0" to-layer="{2 * i + 1}" to-port="0"/>')
    folder.mkdir(parents=True, exist_ok=True)
    xml = folder / "openvino_model.xml"
    xml.write_text(
        f'<?xml version="1.0"?>\n{extra}<net name="hand" version="11"><layers>{"".join(layers)}</layers>'
        f"<edges>{''.join(edges)}</edges></net>\n"
    )
    (folder / "openvino_model.bin").write_bytes(bin_bytes)
    return xml


def test_hand_written_ir_exact_figures_and_shared_constants(tmp_path: Path) -> None:
    weight = RNG.standard_normal((16, 8)).astype(np.float32)
    weight[:, :4] = 0.0
    half = np.array([1.0, 0.0, 1.0, 2.0], dtype=np.float16)
    nibbles = np.arange(5, dtype=np.uint8)  # u4 × [3, 3] = 9 values in 5 bytes
    data = weight.tobytes() + half.tobytes() + nibbles.tobytes()
    xml = _ir(
        tmp_path / "ir",
        [
            ("w", "f32", "16, 8", 0, 512),
            ("h", "f16", "4", 512, 8),
            ("tied", "f32", "16,8", 0, 512),  # the same bytes as "w": counted once
            ("q", "u4", "3, 3", 520, 5),
            ("scalar", "f16", "", 512, 2),
        ],
        data,
    )

    report = analyze_size(tmp_path / "ir", "openvino")

    assert {f.path: f.role for f in report.files} == {
        "openvino_model.bin": "weights",
        "openvino_model.xml": "config",
    }
    assert report.weights_bytes == len(data)
    assert report.files_bytes == len(data) + xml.stat().st_size
    assert report.params == 128 + 4 + 9 + 1
    assert {k: (v.params, v.bytes) for k, v in report.dtypes.items()} == {
        "F32": (128, 512),
        "F16": (5, 10),
        "U4": (9, 5),
    }
    w = next(t for t in report.tensors if t.name == "w")
    assert (w.zeros, w.unique, w.file) == (64, len(np.unique(weight)), "openvino_model.bin")
    assert next(t for t in report.tensors if t.name == "h").zeros == 1
    assert any("1 Const layers reuse the bytes" in n for n in _notes(report))
    # The .xml alone names its .bin.
    assert analyze_size(xml, "openvino").weights_bytes == len(data)


@pytest.mark.parametrize(
    ("constants", "data", "message"),
    [
        (
            [("w", "f32", "4", 8, 16)],
            bytes(16),
            r"Const layer 'w': bytes \[8, 24\) run past the end of openvino_model\.bin",
        ),
        (
            [("w", "f32", "4", 0, 12)],
            bytes(16),
            r"Const layer 'w': f32 × \[4\] needs 16 bytes, but size is 12",
        ),
        ([("w", "f17", "4", 0, 16)], bytes(16), r"Const layer 'w' has an unknown element_type 'f17'"),
        ([("w", "f32", "a,b", 0, 16)], bytes(16), r"Const layer 'w': expected integer shape"),
    ],
)
def test_inconsistent_constants_are_refused(
    tmp_path: Path, constants: list, data: bytes, message: str
) -> None:
    _ir(tmp_path / "ir", constants, data)
    with pytest.raises(SizeError, match=r"openvino_model\.xml: " + message):
        analyze_size(tmp_path / "ir", "openvino")


def test_entities_missing_bin_and_foreign_xml_are_refused(tmp_path: Path) -> None:
    bomb = '<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n'
    _ir(tmp_path / "bomb", [("w", "f32", "1", 0, 4)], bytes(4), extra=bomb)
    with pytest.raises(SizeError, match=r"declares a DOCTYPE or entities"):
        analyze_size(tmp_path / "bomb", "openvino")

    xml = _ir(tmp_path / "nobin", [("w", "f32", "1", 0, 4)], bytes(4))
    (tmp_path / "nobin" / "openvino_model.bin").unlink()
    with pytest.raises(SizeError, match=r"its weights file openvino_model\.bin is missing"):
        analyze_size(xml, "openvino")
    with pytest.raises(SizeError, match=r"its weights file openvino_model\.bin is missing"):
        analyze_size(tmp_path / "nobin", "openvino")
    xml.unlink()
    (tmp_path / "nobin" / "config.json").write_text("{}")
    with pytest.raises(
        SizeError, match=r"no OpenVINO IR \(an \.xml with a \.bin of the same name; found: config\.json\)"
    ):
        analyze_size(tmp_path / "nobin", "openvino")

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.xml").write_text("<project><name>x</name></project>")
    (tmp_path / "other" / "model.bin").write_bytes(bytes(4))
    with pytest.raises(SizeError, match=r"model\.xml: not an OpenVINO IR \(the root element is <project>"):
        analyze_size(tmp_path / "other", "openvino")


def test_a_real_ir_written_by_openvino(tmp_path: Path) -> None:
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed (pip install .[openvino])")
    # In a child process: importing openvino in the test process would hide a stray import in the analyzer.
    script = f"""
import numpy as np, openvino as ov, openvino.opset13 as ops
rng = np.random.default_rng(0)
w = rng.standard_normal((24, 16)).astype(np.float32)
w[w < 0] = 0
b = rng.standard_normal(24).astype(np.float32)
x = ops.parameter([1, 16], np.float32, name="x")
y = ops.add(ops.matmul(x, ops.constant(w), False, True), ops.constant(b))
model = ov.Model([y], [x], "linear")
ov.save_model(model, r"{tmp_path / "fp32" / "model.xml"}", compress_to_fp16=False)
ov.save_model(model, r"{tmp_path / "fp16" / "model.xml"}", compress_to_fp16=True)
np.save(r"{tmp_path / "w.npy"}", w)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    weight = np.load(tmp_path / "w.npy")

    imported_before = "openvino" in sys.modules  # another test may have imported it
    fp32 = analyze_size(tmp_path / "fp32", "openvino")
    fp16 = analyze_size(tmp_path / "fp16", "openvino")

    assert imported_before or "openvino" not in sys.modules
    assert fp32.params == fp16.params == 24 * 16 + 24
    assert fp32.dtypes["F32"].bytes == (24 * 16 + 24) * 4
    assert fp32.weights_bytes == (tmp_path / "fp32" / "model.bin").stat().st_size == (24 * 16 + 24) * 4
    assert fp16.dtypes["F16"].params == 24 * 16 + 24
    assert fp16.weights_bytes == (24 * 16 + 24) * 2
    w = max(fp32.tensors, key=lambda t: t.bytes)
    assert (w.shape, w.zeros, w.unique) == (
        [24, 16],
        int(np.count_nonzero(weight == 0)),
        len(np.unique(weight)),
    )
