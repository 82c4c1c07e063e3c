"""Each file format `path:` accepts, written by the test with the real libraries, and each way a
file can be broken, with the line and field the error names."""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from test_tasks_support import make_course

from grader.harness.data import DataError, load_eval_data, read_wav

TEXTS = ["Отличный телефон", "Ужасный чайник, вернул", "Обычная лампа, пришла вчера"]
LABELS = ["positive", "negative", "neutral"]


def course(path: str, task: str = "text-classification", **dataset: object) -> object:
    return make_course({"d": {"task": task, "source": {"path": path}, **dataset}})


def load(tmp_path: Path, path: str, **kwargs: object) -> object:
    return load_eval_data("d", course(path, **kwargs), tmp_path)


def texts_and_labels(loaded: object) -> list[tuple[str, str]]:
    return [(item["text"], item["label"]) for item in loaded.items]


EXPECTED = list(zip(TEXTS, LABELS, strict=True))


# --- text formats ------------------------------------------------------------------------------------


def test_json_list_and_data_wrapper(tmp_path: Path) -> None:
    records = [{"text": t, "label": lab} for t, lab in EXPECTED]
    (tmp_path / "a.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"data": records}), encoding="utf-8")
    assert texts_and_labels(load(tmp_path, "a.json")) == EXPECTED
    assert texts_and_labels(load(tmp_path, "b.json")) == EXPECTED
    (tmp_path / "c.json").write_text('{"text": "x"}', encoding="utf-8")
    with pytest.raises(DataError, match="not a list of items") as caught:
        load(tmp_path, "c.json")
    assert caught.value.findings[0].code == "E004"


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "a", "label": "x"}),
        "",
        '{"text": "b", "label": }',
        json.dumps({"text": "c"}),
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load(tmp_path, "r.jsonl")
    finding = caught.value.findings[0]
    assert finding.code == "E004" and finding.location.line == 3 and finding.location.file == "r.jsonl"
    assert '"label": }' in finding.found
    (tmp_path / "r.jsonl").write_text('["not", "an", "object"]\n', encoding="utf-8")
    with pytest.raises(DataError, match="not a JSON object") as caught:
        load(tmp_path, "r.jsonl")
    assert caught.value.findings[0].location.line == 1


def test_csv_with_bom_quotes_and_tsv(tmp_path: Path) -> None:
    rows = "".join(f'"{t}",{lab}\n' for t, lab in EXPECTED)
    (tmp_path / "r.csv").write_text("\ufefftext,label\n" + rows, encoding="utf-8")
    assert texts_and_labels(load(tmp_path, "r.csv")) == EXPECTED  # the comma inside quotes stays
    (tmp_path / "r.tsv").write_text(
        "label\ttext\n" + "".join(f"{lab}\t{t}\n" for t, lab in EXPECTED), encoding="utf-8"
    )
    assert texts_and_labels(load(tmp_path, "r.tsv")) == EXPECTED
    (tmp_path / "bad.csv").write_text("text,label\na,b\nc,d,e\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load(tmp_path, "bad.csv")
    finding = caught.value.findings[0]
    assert (
        finding.code == "E004"
        and finding.location.line == 3
        and "more cells than the header" in finding.message
    )


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"sentence": TEXTS, "y": [2, 0, 1]})
    pq.write_table(table, tmp_path / "r.parquet")
    loaded = load(tmp_path, "r.parquet", columns={"label": "y"}, labels=["negative", "neutral", "positive"])
    assert texts_and_labels(loaded) == EXPECTED  # `sentence` is a known alias of `text`
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"cannot read broken\.parquet as Parquet"):
        load(tmp_path, "broken.parquet")


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError) as caught:
        load(tmp_path, "r.parquet")
    finding = caught.value.findings[0]
    assert finding.code == "E008" and "pip install" in finding.hint and "pyarrow" in finding.message


def test_plain_text_is_one_item_per_line(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("first line\n\n  \nsecond line\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:  # text classification also needs a label
        load(tmp_path, "r.txt")
    finding = caught.value.findings[0]
    assert finding.code == "E005" and "'label'" in finding.message and "columns: text" in finding.found


def test_format_from_the_course_and_unknown_extensions(tmp_path: Path) -> None:
    (tmp_path / "r.data").write_text(json.dumps({"text": "a", "label": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load(tmp_path, "r.data")
    finding = caught.value.findings[0]
    assert (
        finding.code == "E008"
        and finding.location.field == "datasets.d.format"
        and ".jsonl" in finding.expected
    )
    assert len(load(tmp_path, "r.data", format="jsonl").items) == 1


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_bytes('{"text": "привет", "label": "x"}\n'.encode("cp1251"))
    with pytest.raises(DataError, match="not UTF-8"):
        load(tmp_path, "r.jsonl")


def test_a_value_of_the_wrong_type(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text(json.dumps({"text": 42, "label": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load(tmp_path, "r.jsonl")
    finding = caught.value.findings[0]
    assert finding.code == "E006" and "item 1" in finding.message and "int: 42" in finding.found


# --- images --------------------------------------------------------------------------------------------


def test_npz_images_without_pickle(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 17, (5, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=images, y=np.array(["3", "1", "4", "1", "5"]))
    loaded = load(tmp_path, "d.npz", task="image-classification", columns={"image": "x", "label": "y"})
    assert len(loaded.items) == 5 and np.array_equal(loaded.items[2]["image"], images[2])
    # integer-like labels (here text, as a CSV would give them) infer the label list 0..max
    assert loaded.labels == ["0", "1", "2", "3", "4", "5"] and loaded.items[0]["label"] == "3"
    np.savez(tmp_path / "plural.npz", images=images, labels=np.array([3, 1, 4, 1, 5]))
    plural = load(tmp_path, "plural.npz", task="image-classification")  # default names, plural
    assert plural.labels == [str(i) for i in range(6)] and plural.items[4]["label"] == "5"

    np.savez(tmp_path / "objects.npz", images=images, labels=np.array([3, "a", None, 1, 5], dtype=object))
    with pytest.raises(DataError) as caught:
        load(tmp_path, "objects.npz", task="image-classification")
    assert caught.value.findings[0].code == "E004" and "without pickle" in caught.value.findings[0].message
    np.savez(tmp_path / "ragged.npz", images=images, labels=np.arange(4))
    with pytest.raises(DataError, match="different lengths"):
        load(tmp_path, "ragged.npz", task="image-classification")


def write_image_folder(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    colour = rng.integers(0, 256, (4, 7, 3), dtype=np.uint8)
    (folder / "cats").mkdir(parents=True)
    Image.fromarray(grey).save(folder / "cats" / "one.png")
    Image.fromarray(colour).save(folder / "two.png")
    (folder / "labels.csv").write_text("file,label\ncats/one.png,cat\ntwo.png,dog\n", encoding="utf-8")
    return [grey, colour]


def test_image_folder_with_a_labels_file(tmp_path: Path) -> None:
    originals = write_image_folder(tmp_path / "imgs")
    loaded = load(tmp_path, "imgs", task="image-classification", labels=["cat", "dog"])
    assert [item["label"] for item in loaded.items] == ["cat", "dog"]
    assert loaded.items[0]["image"].dtype == np.uint8
    assert np.array_equal(loaded.items[0]["image"], originals[0]) and np.array_equal(
        loaded.items[1]["image"], originals[1]
    )

    (tmp_path / "imgs" / "labels.csv").write_text("file,label\nmissing.png,cat\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load(tmp_path, "imgs", task="image-classification")
    assert caught.value.findings[0].code == "E002" and "missing.png" in caught.value.findings[0].message

    (tmp_path / "imgs" / "labels.csv").unlink()
    with pytest.raises(DataError) as caught:
        load(tmp_path, "imgs", task="image-classification")
    finding = caught.value.findings[0]
    assert finding.code == "E002" and "labels.csv" in finding.expected and "two.png" in finding.found


def test_jsonl_naming_image_files_and_a_broken_image(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs")
    lines = [{"path": "imgs/two.png", "class": "dog"}, {"path": "imgs/cats/one.png", "class": "cat"}]
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    loaded = load(tmp_path, "set.jsonl", task="image-classification")
    assert [item["image"].shape for item in loaded.items] == [(4, 7, 3), (6, 5)]
    (tmp_path / "imgs" / "two.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot decode the image"):
        load(tmp_path, "set.jsonl", task="image-classification")


# --- audio ---------------------------------------------------------------------------------------------


def test_read_wav_16_bit_stereo_and_8_bit(tmp_path: Path) -> None:
    samples = np.array([[0, 16384], [-32768, 32767]], dtype="<i2")
    with wave.open(str(tmp_path / "s.wav"), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(samples.tobytes())
    audio = read_wav(tmp_path / "s.wav")
    assert audio["sampling_rate"] == 16000
    assert audio["array"].dtype == np.float32
    assert audio["array"].tolist() == pytest.approx([0.25, -0.5 / 32768])  # channels averaged, scaled by 2^15
    with wave.open(str(tmp_path / "u8.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(1)
        handle.setframerate(8000)
        handle.writeframes(bytes([128, 255, 0]))
    assert read_wav(tmp_path / "u8.wav")["array"].tolist() == pytest.approx([0.0, 127 / 128, -1.0])
    (tmp_path / "bad.wav").write_bytes(b"RIFF????")
    with pytest.raises(DataError, match="PCM WAV"):
        read_wav(tmp_path / "bad.wav")
