"""Eval data loading: built-in sets, digests, deterministic samples, pinned sha256, the hub cache,
and the errors a course author sees."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_tasks_support import make_course

from grader.errors import InputError
from grader.harness import data as data_module
from grader.harness.data import (
    DataError,
    digits_split,
    eval_digest,
    load_eval_data,
    source_sha256,
    tree_sha256,
)

REPO = Path(__file__).resolve().parent.parent
REVISION = "0123456789abcdef0123456789abcdef01234567"

# The digests of the shipped eval sets. They change only by a deliberate change of the data (then
# update them here and say so in the change): every grade ever given names one of them.
PINNED = {
    "sentiment-ru": "sha256:6b8d3c8e4026cdc277c465fdbcc104c67e5fe68ce7f2076fe7da7c3ada7d2a8c",
    "sentiment-en": "sha256:ed932dd758ffc65d4f8cb96188999c4ec6f8f1451eafe20614a9e29f34d20036",
    "digits-test": "sha256:0d9b2b7bb9ea7630e1aa9cdc402746abb66e5b4d748d352b2a76c91746c7e161",
    "ner-ru": "sha256:3f1e6106c315f6b43ea656c21c3a6e475392aa2cc10f601b5d3a49f748b77758",
    "ner-en": "sha256:df3cf8f43730470b71a4dbf3e210acce608743257901fd28f65d2e42fdc72faa",
    "lm-ru": "sha256:e14a4e71b21a17e692ef15ed54b31664511770b90f8b73ce042feae0cd3b5f80",
    "lm-en": "sha256:9a3dfeea43c7b7f2dc667468d8b7a62e7e96fd3eed704acf04763dd7a553546f",
    "qa-ru": "sha256:36e37bf9b81689f7bd1f8018aff23d00e68e0a7388ec0e5174e435c7424989f1",
    "qa-en": "sha256:e24bfad351ef2de02fffa3e5d8ac6b89d4847bd72a41e39c476fcaf767256bd0",
    "translation-en-ru": "sha256:b47f6e07588a61c31caffa1164322e7537a6820155332e7453857cf26e62a342",
    "asr-en": "sha256:616eb9b6e7e9f743fe09e665920ba732184228c1829a0aaac8957a7c5bf82bde",
    "asr-ru": "sha256:8a6232c4b5d0ff185609a25acdf42c16131a92ad835ec392025b4ba0434a842c",
    "shapes-test": "sha256:ca8c4208b5ba07b7f8058db314756ecb8ff606beb48087a1d20841be15daafca",
}
BUILTIN_TASKS = {
    "sentiment-ru": "text-classification",
    "sentiment-en": "text-classification",
    "digits-test": "image-classification",
    "ner-ru": "token-classification",
    "ner-en": "token-classification",
    "lm-ru": "causal-lm",
    "lm-en": "causal-lm",
    "qa-ru": "causal-lm",
    "qa-en": "causal-lm",
    "translation-en-ru": "seq2seq",
    "asr-en": "speech-recognition",
    "asr-ru": "speech-recognition",
    "shapes-test": "object-detection",
}


def builtin_course() -> object:
    return make_course(
        {
            "sentiment-ru": {"task": "text-classification", "source": {"builtin": "sentiment-ru"}},
            "sentiment-en": {"task": "text-classification", "source": {"builtin": "sentiment-en"}},
            "digits-test": {"task": "image-classification", "source": {"builtin": "digits-test"}},
            "digits-50": {"task": "image-classification", "source": {"builtin": "digits-test"}, "limit": 50},
        }
    )


def jsonl_course(path: str, **dataset: object) -> object:
    return make_course({"reviews": {"task": "text-classification", "source": {"path": path}, **dataset}})


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


REVIEWS = [{"text": f"review number {i}", "label": ["bad", "good"][i % 2]} for i in range(40)]


# --- built-in data ---------------------------------------------------------------------------------


def test_digits_split_is_stratified_disjoint_and_complete() -> None:
    train_x, train_y, test_x, test_y = digits_split(seed=0)
    assert train_x.shape == (1347, 8, 8) and test_x.shape == (450, 8, 8)
    assert train_x.dtype == np.float32 and train_y.dtype == np.int64
    assert train_x.min() == 0 and train_x.max() == 16
    from sklearn.datasets import load_digits

    everything = load_digits()
    # every image lands in exactly one part (compared as sorted lists: duplicates count)
    rows = sorted(
        x.tobytes() + bytes([y])
        for x, y in zip(everything.images.astype(np.float32), everything.target, strict=True)
    )
    split = sorted(
        x.tobytes() + bytes([int(y)])
        for x, y in zip(np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y]), strict=True)
    )
    assert split == rows
    for label in range(10):
        n = int((everything.target == label).sum())
        assert int((test_y == label).sum()) == round(n * 0.25)
    _, _, other_x, _ = digits_split(seed=1)
    assert not np.array_equal(other_x, test_x)  # the seed matters
    again = digits_split(seed=0)
    assert np.array_equal(again[2], test_x) and np.array_equal(again[3], test_y)


def test_builtin_sets_load_with_pinned_digests() -> None:
    course = builtin_course()
    ru = load_eval_data("sentiment-ru", course, REPO)
    assert len(ru.items) == 300 and ru.labels == ["negative", "neutral", "positive"]
    assert {item["label"] for item in ru.items} == set(ru.labels)
    assert any("ё" in item["text"] or "ы" in item["text"] for item in ru.items)  # it is Russian text
    assert ru.digest == PINNED["sentiment-ru"]
    en = load_eval_data("sentiment-en", course, REPO)
    assert len(en.items) == 300 and en.digest == PINNED["sentiment-en"]
    digits = load_eval_data("digits-test", course, REPO)
    assert len(digits.items) == 450 and digits.labels == [str(i) for i in range(10)]
    assert digits.items[0]["image"].shape == (8, 8)
    assert digits.digest == PINNED["digits-test"]
    assert (digits.total, digits.seed) == (450, None)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_builtin_set_has_its_pinned_digest(name: str) -> None:
    course = make_course({name: {"task": BUILTIN_TASKS[name], "source": {"builtin": name}}})
    assert load_eval_data(name, course, REPO).digest == PINNED[name]


def test_every_builtin_is_pinned() -> None:
    assert sorted(PINNED) == data_module.builtin_names()


def test_shipped_files_match_their_generator_and_sums() -> None:
    from grader.data import synth

    assert synth.check() == []
    sums = synth.read_sums()
    for name in ("sentiment-ru.jsonl", "sentiment-en.jsonl"):
        assert sums[name] == hashlib.sha256((synth.DATA_DIR / name).read_bytes()).hexdigest()


def test_synth_check_reports_a_hand_edit(tmp_path: Path) -> None:
    from grader.data import synth

    copy = tmp_path / "data"
    shutil.copytree(synth.DATA_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    assert synth.check(copy) == []
    edited = copy / "sentiment-ru.jsonl"
    edited.write_text(edited.read_text(encoding="utf-8").replace("positive", "negative", 1), encoding="utf-8")
    (copy / "asr-en" / "extra.wav").write_bytes(b"RIFF")
    (copy / "lm-en.txt").write_text("edited by hand\n", encoding="utf-8")
    problems = synth.check(copy)
    assert "sentiment-ru.jsonl: differs from what the generator makes" in problems
    assert "sentiment-ru.jsonl: sha256 differs from SHA256SUMS" in problems
    assert "lm-en.txt: sha256 differs from SHA256SUMS" in problems
    assert "asr-en/extra.wav: not listed in SHA256SUMS" in problems


def test_a_changed_shipped_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from grader.data import synth

    copy = tmp_path / "sentiment-en.jsonl"
    copy.write_bytes(
        (synth.DATA_DIR / "sentiment-en.jsonl").read_bytes() + b'{"text": "extra", "label": "neutral"}\n'
    )
    (tmp_path / synth.SUMS_FILE).write_bytes((synth.DATA_DIR / synth.SUMS_FILE).read_bytes())
    monkeypatch.setattr(data_module, "SHIPPED_DIR", tmp_path)
    with pytest.raises(DataError) as caught:
        load_eval_data("sentiment-en", builtin_course(), REPO)
    assert caught.value.findings[0].code == "E003"
    assert "SHA256SUMS" in caught.value.findings[0].message


# --- digests and samples -----------------------------------------------------------------------


def test_digest_is_stable_and_changes_with_any_item(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    write_jsonl(path, REVIEWS)
    course = jsonl_course("reviews.jsonl", labels=["bad", "good"])
    first = load_eval_data("reviews", course, tmp_path)
    assert first.digest.startswith("sha256:") and len(first.digest) == 7 + 64
    assert load_eval_data("reviews", course, tmp_path).digest == first.digest
    assert first.digest == eval_digest(first.items, first.labels)

    changed = [dict(r) for r in REVIEWS]
    changed[17]["text"] += "!"
    write_jsonl(path, changed)
    assert load_eval_data("reviews", course, tmp_path).digest != first.digest

    write_jsonl(path, REVIEWS)
    relabelled = jsonl_course("reviews.jsonl", labels=["good", "bad"])  # same items, other label order
    assert load_eval_data("reviews", relabelled, tmp_path).digest != first.digest
    # the same data written differently (CSV instead of JSON Lines) is the same eval set
    (tmp_path / "reviews.csv").write_text(
        "text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in REVIEWS), encoding="utf-8"
    )
    as_csv = load_eval_data("reviews", jsonl_course("reviews.csv", labels=["bad", "good"]), tmp_path)
    assert as_csv.digest == first.digest


def test_array_digest_sees_dtype_shape_and_values() -> None:
    image = np.arange(64, dtype=np.float32).reshape(8, 8)
    base = eval_digest([{"image": image, "label": "1"}], ["0", "1"])
    assert eval_digest([{"image": image.copy(), "label": "1"}], ["0", "1"]) == base
    assert eval_digest([{"image": image.astype(np.float64), "label": "1"}], ["0", "1"]) != base
    assert eval_digest([{"image": image.reshape(4, 16), "label": "1"}], ["0", "1"]) != base
    bumped = image.copy()
    bumped[3, 3] += 1
    assert eval_digest([{"image": bumped, "label": "1"}], ["0", "1"]) != base
    assert (
        eval_digest([{"image": image.astype(">f4"), "label": "1"}], ["0", "1"]) == base
    )  # byte order is normalised


def test_limit_and_seed_pick_a_fixed_sample_in_file_order(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "reviews.jsonl", REVIEWS)
    course = jsonl_course("reviews.jsonl", limit=10, seed=3)
    first = load_eval_data("reviews", course, tmp_path)
    again = load_eval_data("reviews", course, tmp_path)
    assert [i["text"] for i in first.items] == [i["text"] for i in again.items]
    assert first.digest == again.digest and (first.total, first.seed) == (40, 3)
    numbers = [int(item["text"].split()[-1]) for item in first.items]
    assert len(numbers) == 10 and numbers == sorted(numbers)  # original order kept
    other = load_eval_data("reviews", jsonl_course("reviews.jsonl", limit=10, seed=4), tmp_path)
    assert [i["text"] for i in other.items] != [i["text"] for i in first.items]
    # the method is the documented one: the smallest sha256(seed + item hash) keys
    hashes = [
        hashlib.sha256(data_module._canonical(item)).digest()
        for item in load_eval_data("reviews", jsonl_course("reviews.jsonl"), tmp_path).items
    ]
    keys = sorted(range(40), key=lambda i: hashlib.sha256(b"3\n" + hashes[i]).digest())[:10]
    assert numbers == sorted(keys)
    # an explicit limit overrides the course's; a limit above the size keeps everything
    assert len(load_eval_data("reviews", course, tmp_path, limit=5).items) == 5
    everything = load_eval_data("reviews", course, tmp_path, limit=1000)
    assert len(everything.items) == 40 and everything.seed is None


def test_course_limit_on_builtin_data() -> None:
    sample = load_eval_data("digits-50", builtin_course(), REPO)
    assert len(sample.items) == 50 and sample.total == 450 and sample.seed == 0
    assert sample.digest == load_eval_data("digits-50", builtin_course(), REPO).digest


# --- sha256 pins --------------------------------------------------------------------------------------


def test_sha256_of_a_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "reviews.jsonl"
    write_jsonl(path, REVIEWS)
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    course = make_course(
        {"r": {"task": "text-classification", "source": {"path": "reviews.jsonl", "sha256": good}}}
    )
    assert len(load_eval_data("r", course, tmp_path).items) == 40
    write_jsonl(path, REVIEWS[:-1])
    with pytest.raises(DataError) as caught:
        load_eval_data("r", course, tmp_path)
    finding = caught.value.findings[0]
    assert isinstance(caught.value, InputError)  # the CLI prints it as findings and exits 2
    assert finding.code == "E003" and finding.location.field == "datasets.r.source.sha256"
    assert finding.expected == good and finding.found == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "grader eval-data sha256" in finding.hint


def test_folder_digest_equals_the_documented_shell_pipeline(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_bytes(b"bee")
    (folder / "a b.txt").write_bytes(b"with a space")
    (folder / "sub" / "c.bin").write_bytes(bytes(range(256)))
    shell = subprocess.run(
        [
            "bash",
            "-c",
            '(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum',
            "_",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert tree_sha256(folder) == shell == source_sha256(folder)
    assert source_sha256(folder / "b.txt") == hashlib.sha256(b"bee").hexdigest()


# --- errors ------------------------------------------------------------------------------------------


def test_unknown_dataset_and_builtin_suggest_names() -> None:
    with pytest.raises(DataError) as caught:
        load_eval_data("sentiment-rus", builtin_course(), REPO)
    finding = caught.value.findings[0]
    assert finding.code == "E001" and "Did you mean: sentiment-ru" in finding.found
    course = make_course({"x": {"task": "text-classification", "source": {"builtin": "sentimnt-en"}}})
    with pytest.raises(DataError) as caught:
        load_eval_data("x", course, REPO)
    finding = caught.value.findings[0]
    assert (
        finding.code == "E009"
        and "sentiment-en" in finding.found
        and finding.location.field == "datasets.x.source.builtin"
    )


def test_unknown_task_and_missing_file(tmp_path: Path) -> None:
    course = make_course({"x": {"task": "text-clasification", "source": {"path": "nope.jsonl"}}})
    with pytest.raises(DataError) as caught:
        load_eval_data("x", course, tmp_path)
    assert caught.value.findings[0].code == "E011" and "text-classification" in caught.value.findings[0].found
    with pytest.raises(DataError) as caught:
        load_eval_data("reviews", jsonl_course("nope.jsonl"), tmp_path)
    finding = caught.value.findings[0]
    assert finding.code == "E002" and finding.location.field == "datasets.reviews.source.path"
    assert str(tmp_path / "nope.jsonl") in finding.found


def test_missing_column_and_unknown_label_are_located(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "r.jsonl", [{"body": "x", "label": "good"}])
    with pytest.raises(DataError) as caught:
        load_eval_data("reviews", jsonl_course("r.jsonl"), tmp_path)
    finding = caught.value.findings[0]
    assert (
        finding.code == "E005"
        and "body" in finding.found
        and "columns: {text: <column name>}" in finding.hint
    )
    assert (
        len(load_eval_data("reviews", jsonl_course("r.jsonl", columns={"text": "body"}), tmp_path).items) == 1
    )

    write_jsonl(tmp_path / "r.jsonl", [{"text": "x", "label": "good"}, {"text": "y", "label": "great"}])
    with pytest.raises(DataError) as caught:
        load_eval_data("reviews", jsonl_course("r.jsonl", labels=["bad", "good"]), tmp_path)
    finding = caught.value.findings[0]
    assert finding.code == "E006" and "item 2" in finding.message and "'great'" in finding.found
    assert finding.location.field == "datasets.reviews.labels"


def test_labels_by_index_and_inferred(tmp_path: Path) -> None:
    write_jsonl(
        tmp_path / "r.jsonl",
        [{"text": "x", "label": 1}, {"text": "y", "label": 0}, {"text": "z", "label": "2"}],
    )
    named = load_eval_data("reviews", jsonl_course("r.jsonl", labels=["neg", "neu", "pos"]), tmp_path)
    assert [i["label"] for i in named.items] == ["neu", "neg", "pos"]
    inferred = load_eval_data("reviews", jsonl_course("r.jsonl"), tmp_path)
    assert inferred.labels == ["0", "1", "2"] and [i["label"] for i in inferred.items] == ["1", "0", "2"]
    write_jsonl(tmp_path / "r.jsonl", [{"text": "x", "label": "pos"}, {"text": "y", "label": "neg"}])
    assert load_eval_data("reviews", jsonl_course("r.jsonl"), tmp_path).labels == ["neg", "pos"]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="has no items"):
        load_eval_data("reviews", jsonl_course("r.jsonl"), tmp_path)


# --- Hugging Face hub cache ----------------------------------------------------------------------


def hub_snapshot(cache: Path, repo: str = "someone/reviews") -> Path:
    """A hub cache laid out as huggingface_hub writes it: datasets--owner--name/snapshots/<commit>/."""
    snapshot = cache / f"datasets--{repo.replace('/', '--')}" / "snapshots" / REVISION
    (snapshot / "data").mkdir(parents=True)
    (snapshot / "README.md").write_text("---\nlicense: cc0-1.0\n---\n", encoding="utf-8")
    return snapshot


def hf_course(**source: object) -> object:
    return make_course(
        {
            "hub": {
                "task": "text-classification",
                "source": {"hf": "someone/reviews", "revision": REVISION, **source},
                "labels": ["bad", "good"],
            }
        }
    )


def test_hub_dataset_is_read_from_the_local_cache(tmp_path: Path) -> None:
    snapshot = hub_snapshot(tmp_path)
    write_jsonl(snapshot / "data" / "test-00000-of-00001.jsonl", REVIEWS[:10])
    write_jsonl(snapshot / "data" / "train-00000-of-00001.jsonl", REVIEWS[10:])
    loaded = load_eval_data("hub", hf_course(), REPO, hf_cache_dir=tmp_path)
    assert [i["text"] for i in loaded.items] == [r["text"] for r in REVIEWS[:10]]
    train = load_eval_data("hub", hf_course(split="train"), REPO, hf_cache_dir=tmp_path)
    assert len(train.items) == 30


def test_hub_parquet_with_configs(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    snapshot = hub_snapshot(tmp_path)
    for config, rows in (("short", REVIEWS[:4]), ("long", REVIEWS[4:12])):
        (snapshot / config).mkdir()
        pq.write_table(pa.Table.from_pylist(rows), snapshot / config / "test-00000-of-00001.parquet")
    loaded = load_eval_data("hub", hf_course(config="long"), REPO, hf_cache_dir=tmp_path)
    assert [i["text"] for i in loaded.items] == [r["text"] for r in REVIEWS[4:12]]
    with pytest.raises(DataError) as caught:
        load_eval_data("hub", hf_course(config="long", split="validation"), REPO, hf_cache_dir=tmp_path)
    finding = caught.value.findings[0]
    assert finding.code == "E007" and "long/test-00000-of-00001.parquet" in finding.found


def test_hub_dataset_missing_from_the_cache_says_how_to_prefetch(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_eval_data("hub", hf_course(), REPO, hf_cache_dir=tmp_path)
    finding = caught.value.findings[0]
    assert finding.code == "E007" and "not in the local cache" in finding.message
    assert f"hf download someone/reviews --repo-type dataset --revision {REVISION}" in finding.hint
