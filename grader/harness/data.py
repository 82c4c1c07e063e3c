"""Eval data: a course dataset loaded, sampled deterministically, and pinned by a digest.

`load_eval_data` reads one entry of the course's ``datasets:`` from one of three sources:

- ``builtin:`` data the grader ships (grader/data/, see its README for provenance) or generates
  deterministically (``digits-test``, the held-out part of scikit-learn's bundled digits);
- ``path:`` a file or folder, relative to the course repository (absolute paths are allowed for
  private sets kept on the runner): JSON Lines, JSON (a list of objects), CSV, TSV, Parquet
  (needs pyarrow), plain text (one item per non-empty line), NPZ (arrays, loaded without pickle),
  or a folder of images with a ``labels.csv`` / ``labels.jsonl`` / ``labels.tsv`` naming them,
  or with COCO-style ``annotations.json`` (detection boxes, grader.harness.data_coco).
  ``sha256:`` is checked when given: a file's digest is ``sha256sum FILE``; a folder's is
  ``(cd DIR && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum``;
- ``hf:`` a Hugging Face dataset at a pinned ``revision:``, read only from the local hub cache
  (never downloaded here): the data files of ``split:`` (default ``test``) inside ``config:``.

``columns:`` maps the task's fields (text, label, image, ...) to the columns of the file; a field
with no mapping uses a column of its own name, or one of a few common aliases (`_ALIASES`).
Labels may be written as names or as 0-based indices into ``labels:``; without ``labels:`` the
label names are the sorted distinct values, or ``"0"..str(max)`` when every value is a
non-negative integer (or an integer written as text, as CSV cells are).

Sampling: with a ``limit`` below the number of items, each item gets the key
``sha256(f"{seed}\\n" + sha256(item))`` and the ``limit`` items with the smallest keys are kept,
in their original order. The same data, seed and limit give the same items on every machine and
every numpy version, and adding items elsewhere in the file does not reshuffle the rest.

Digest: ``EvalData.digest`` is ``"sha256:" + sha256(b"grader-eval-data/1\\n" + canonical(labels)
+ sha256(canonical(item)) for each item used, in order)``, where `canonical` is a tagged,
length-prefixed byte encoding (arrays: dtype, shape and little-endian C-order bytes), so any
change to any item, to the label list, or to the selection changes it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.model import Course, Dataset, DatasetSource
from grader.errors import InputError
from grader.findings import Finding, Location
from grader.harness.tasks.base import EvalData, Task
from grader.registry import UnknownNameError, suggest_message

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data"
COURSE_FILE = "course.yaml"
DIGEST_HEADER = b"grader-eval-data/1\n"

# Column names tried, in order, for a field that `columns:` does not map.
_ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("text", "sentence", "review", "content"),
    "label": ("label", "labels", "target", "class"),
    "image": ("image", "images", "img", "pixel_values", "file", "file_name", "path", "filename"),
    "audio": ("audio", "audios", "waveform", "file", "file_name", "path"),
    "tokens": ("tokens", "words"),
    "tags": ("tags", "ner_tags", "labels"),
    "source": ("source", "src"),
    "target": ("target", "tgt"),
    "sampling_rate": ("sampling_rate", "sample_rate", "sr"),
}
# How each field's values are read; fields not listed are text.
_FIELD_KINDS: dict[str, str] = {
    "image": "image",
    "audio": "audio",
    "tokens": "strings",
    "sampling_rate": "int",
    "boxes": "boxes",
}
_EXTENSIONS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "txt",
    ".npz": "npz",
}
# The index file of a folder dataset; metadata.* is Hugging Face's imagefolder/audiofolder name.
_LABEL_FILES = ("labels.csv", "labels.jsonl", "labels.tsv", "labels.json", "metadata.jsonl", "metadata.csv")


class DataError(InputError):
    """The eval data could not be loaded as the course describes it. Carries located findings."""


def _error(
    code: str,
    message: str,
    *,
    file: str = COURSE_FILE,
    line: int | None = None,
    field: str | None = None,
    **details: str,
) -> DataError:
    return DataError(
        [Finding(code=code, location=Location(file=file, line=line, field=field), message=message, **details)]
    )


# --- public API --------------------------------------------------------------------------------


def load_eval_data(
    dataset_id: str,
    course: Course,
    repo_root: Path,
    *,
    limit: int | None = None,
    hf_cache_dir: Path | None = None,
) -> EvalData:
    """Load the course dataset ``dataset_id``: its items in a fixed order, labels, and digest.

    ``limit`` overrides the dataset's own ``limit:`` (a quick run, a test); ``hf_cache_dir``
    overrides the Hugging Face hub cache folder (default: ``HF_HUB_CACHE``). Raises DataError.
    """
    dataset = _dataset(course, dataset_id)
    task = _task_class(dataset_id, dataset)
    records, origin = _read_source(dataset_id, dataset.source, dataset.format, repo_root, hf_cache_dir)
    if not records:
        raise _error(
            "E010",
            f"dataset {dataset_id!r} has no items",
            field=f"datasets.{dataset_id}.source",
            found=origin.display,
            hint="check the file (an empty file, or only blank lines?)",
        )
    items = [_item(record, index, task, dataset, dataset_id, origin) for index, record in enumerate(records)]
    labels = _normalise_labels(items, task.label_field, dataset.labels or origin.labels, dataset_id, origin)
    hashes = [hashlib.sha256(_canonical(item)).digest() for item in items]
    total = len(items)
    wanted = limit if limit is not None else dataset.limit
    seed: int | None = None
    if wanted is not None and wanted < total:
        keep = sample_indices(hashes, wanted, dataset.seed)
        items = [items[i] for i in keep]
        hashes = [hashes[i] for i in keep]
        seed = dataset.seed
    return EvalData(
        dataset_id=dataset_id,
        digest=_digest(hashes, labels),
        items=items,
        labels=labels,
        total=total,
        seed=seed,
    )


def eval_digest(items: Sequence[dict[str, Any]], labels: Sequence[str] | None) -> str:
    """The digest `load_eval_data` gives these items and labels (see the module docstring)."""
    return _digest([hashlib.sha256(_canonical(item)).digest() for item in items], labels)


def sample_indices(item_hashes: Sequence[bytes], limit: int, seed: int) -> list[int]:
    """Indices of the ``limit`` items with the smallest seeded keys, in ascending (original) order."""
    prefix = f"{seed}\n".encode()
    keys = sorted(
        range(len(item_hashes)), key=lambda i: (hashlib.sha256(prefix + item_hashes[i]).digest(), i)
    )
    return sorted(keys[:limit])


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (what `sha256sum FILE` prints)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(folder: Path) -> str:
    """Hex sha256 of a folder, equal to the shell pipeline in the module docstring."""
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix().encode()
    )
    listing = "".join(f"{file_sha256(p)}  ./{p.relative_to(folder).as_posix()}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def source_sha256(path: Path) -> str:
    """The value to write as ``sha256:`` for a ``path:`` source (a file or a folder)."""
    return tree_sha256(path) if path.is_dir() else file_sha256(path)


# --- the built-in data -------------------------------------------------------------------------

DIGITS_LABELS = [str(i) for i in range(10)]
DIGITS_TEST_FRACTION = 0.25


def digits_split(
    seed: int = 0, test_fraction: float = DIGITS_TEST_FRACTION
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits split into (train_x, train_y, test_x, test_y).

    Images are float32 arrays of shape (n, 8, 8) with values 0..16; labels are int64 0..9.
    Stratified: within each class (in the file's order), a permutation from numpy's legacy
    ``RandomState(seed)`` (its streams are frozen across numpy versions), drawn for the classes
    0..9 in turn, puts the first ``round(n_class · test_fraction)`` items in the test part. Both
    parts keep the file's order. ``digits-test`` is the test part for seed 0 (450 images).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32)
    targets = digits.target.astype(np.int64)
    rng = np.random.RandomState(seed)
    test: list[int] = []
    for label in range(10):
        members = np.flatnonzero(targets == label)
        order = rng.permutation(len(members))
        test.extend(members[order[: round(len(members) * test_fraction)]].tolist())
    is_test = np.zeros(len(targets), dtype=bool)
    is_test[test] = True
    return images[~is_test], targets[~is_test], images[is_test], targets[is_test]


@dataclass(frozen=True)
class ShippedFile:
    """A data file in grader/data/, pinned by grader/data/SHA256SUMS: a changed file is an error,
    not a silently different eval set."""

    name: str
    labels: tuple[str, ...] | None = None


SENTIMENT_LABELS = ("negative", "neutral", "positive")
NER_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
SHAPES_LABELS = ("square", "circle", "triangle")  # grader.data.shapes.CLASSES

# builtin name → the shipped file (grader/data/README.md says where each comes from).
SHIPPED: dict[str, ShippedFile] = {
    "sentiment-ru": ShippedFile("sentiment-ru.jsonl", SENTIMENT_LABELS),
    "sentiment-en": ShippedFile("sentiment-en.jsonl", SENTIMENT_LABELS),
    "ner-ru": ShippedFile("ner-ru.jsonl", NER_TAGS),
    "ner-en": ShippedFile("ner-en.jsonl", NER_TAGS),
    "lm-ru": ShippedFile("lm-ru.txt"),
    "lm-en": ShippedFile("lm-en.txt"),
    "qa-ru": ShippedFile("qa-ru.jsonl"),
    "qa-en": ShippedFile("qa-en.jsonl"),
    "translation-en-ru": ShippedFile("translation-en-ru.jsonl"),
    "asr-en": ShippedFile("asr-en"),
    "asr-ru": ShippedFile("asr-ru"),
    "shapes-test": ShippedFile("shapes-test", SHAPES_LABELS),
}


def _builtin_digits_test() -> tuple[list[dict[str, Any]], list[str]]:
    _, _, test_x, test_y = digits_split(seed=0)
    records = [{"image": image, "label": int(label)} for image, label in zip(test_x, test_y, strict=True)]
    return records, DIGITS_LABELS


BUILTIN_GENERATED: dict[str, Callable[[], tuple[list[dict[str, Any]], list[str]]]] = {
    "digits-test": _builtin_digits_test,
}


def builtin_names() -> list[str]:
    return sorted([*BUILTIN_GENERATED, *SHIPPED])


# --- reading sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where records came from: for messages, for relative image paths, and builtin labels."""

    display: str  # shown in findings
    base_dir: Path | None = None  # relative file references in records resolve against this
    labels: list[str] | None = None  # label names a builtin source defines
    field: str = ""  # course field that names this source


def _dataset(course: Course, dataset_id: str) -> Dataset:
    dataset = course.datasets.get(dataset_id)
    if dataset is None:
        raise _error(
            "E001",
            f"no dataset {dataset_id!r} in the course",
            field="datasets",
            expected="one of the ids under `datasets:`",
            found=suggest_message("dataset", dataset_id, list(course.datasets)),
            hint="add it under `datasets:` in course.yaml, or fix the name",
        )
    return dataset


def _task_class(dataset_id: str, dataset: Dataset) -> type[Task]:
    from grader.harness.tasks import TASKS

    try:
        return TASKS.load(dataset.task)
    except UnknownNameError as error:
        raise _error(
            "E011",
            f"dataset {dataset_id!r} is for an unknown task",
            field=f"datasets.{dataset_id}.task",
            found=str(error),
            hint="use one of the task names the grader knows",
        ) from None


def _read_source(
    dataset_id: str, source: DatasetSource, fmt: str | None, repo_root: Path, hf_cache_dir: Path | None
) -> tuple[list[dict[str, Any]], Origin]:
    prefix = f"datasets.{dataset_id}.source"
    if source.builtin:
        return _read_builtin(source.builtin, f"{prefix}.builtin")
    if source.path:
        path = Path(source.path)
        path = path if path.is_absolute() else repo_root / path
        origin = Origin(
            display=source.path, base_dir=path if path.is_dir() else path.parent, field=f"{prefix}.path"
        )
        if not path.exists():
            raise _error(
                "E002",
                f"the data file {source.path} does not exist",
                field=origin.field,
                expected="a file or folder, relative to the course repository",
                found=str(path),
                hint="commit the file, or fix the path (private sets: an absolute path on the runner)",
            )
        if source.sha256:
            _check_sha256(path, source.sha256, f"{prefix}.sha256")
        return _read_path(path, fmt, origin), origin
    return _read_hf(source, fmt, hf_cache_dir, prefix)


def _read_builtin(name: str, field: str) -> tuple[list[dict[str, Any]], Origin]:
    if name in BUILTIN_GENERATED:
        records, labels = BUILTIN_GENERATED[name]()
        return records, Origin(display=f"builtin:{name}", labels=list(labels), field=field)
    shipped = SHIPPED.get(name)
    if shipped is None:
        raise _error(
            "E009",
            f"the grader has no built-in dataset {name!r}",
            field=field,
            found=suggest_message("built-in dataset", name, builtin_names()),
            hint="pick a built-in name, or point `path:` at your own file",
        )
    path = SHIPPED_DIR / shipped.name
    _verify_shipped(path)
    origin = Origin(
        display=f"builtin:{name}",
        base_dir=path if path.is_dir() else path.parent,
        labels=list(shipped.labels) if shipped.labels else None,
        field=field,
    )
    return _read_path(path, None, origin), origin


def _verify_shipped(path: Path) -> None:
    """Every file of a shipped dataset (a file, or all files of a folder) matches SHA256SUMS."""
    sums = _shipped_sums()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    prefix = path.relative_to(SHIPPED_DIR).as_posix() + "/"
    listed = [SHIPPED_DIR / name for name in sums if path.is_dir() and name.startswith(prefix)]
    for file in sorted(set(files) | set(listed)):
        name = file.relative_to(SHIPPED_DIR).as_posix()
        found = file_sha256(file) if file.is_file() else "no such file"
        pinned = sums.get(name, "no entry in SHA256SUMS")
        if found != pinned:
            raise _error(
                "E003",
                f"the grader's built-in file {name} does not match grader/data/SHA256SUMS",
                file=str(file),
                expected=f"sha256 {pinned}",
                found=f"sha256 {found}",
                hint="reinstall the grader (`python -m grader.data.synth --check` shows what differs)",
            )


def _shipped_sums() -> dict[str, str]:
    from grader.data.synth import read_sums

    return read_sums(SHIPPED_DIR)


def _check_sha256(path: Path, expected: str, field: str) -> None:
    found = source_sha256(path)
    if found != expected:
        what = "folder" if path.is_dir() else "file"
        raise _error(
            "E003",
            f"the data {what} {path.name} does not match its pinned sha256",
            field=field,
            expected=expected,
            found=found,
            hint="the eval data changed since the course pinned it; if the change is intended, "
            "write the new digest (`grader eval-data sha256 PATH`) into course.yaml",
        )


def _format_of(path: Path, fmt: str | None, origin: Origin) -> str:
    if fmt:
        return fmt.lower()
    found = _EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise _error(
            "E008",
            f"cannot tell the format of {path.name}",
            field=origin.field.rsplit(".", 2)[0] + ".format" if origin.field else None,
            expected=f"a file ending in one of {', '.join(sorted(_EXTENSIONS))}, or `format:`",
            found=path.suffix or "no extension",
            hint="rename the file or set `format:` on the dataset",
        )
    return found


def _read_path(path: Path, fmt: str | None, origin: Origin) -> list[dict[str, Any]]:
    if path.is_dir():
        return _read_folder(path, origin)
    readers: dict[str, Callable[[Path, Origin], list[dict[str, Any]]]] = {
        "jsonl": _read_jsonl,
        "json": _read_json,
        "csv": _read_csv,
        "tsv": _read_csv,
        "parquet": _read_parquet,
        "txt": _read_txt,
        "npz": _read_npz,
    }
    kind = _format_of(path, fmt, origin)
    reader = readers.get(kind)
    if reader is None:
        raise _error(
            "E008",
            f"unsupported data format {kind!r}",
            expected=", ".join(sorted(readers)),
            found=kind,
            hint="convert the data to JSON Lines or Parquet",
        )
    try:
        return reader(path, origin)
    except UnicodeDecodeError as error:
        raise _error(
            "E004",
            f"{path.name} is not UTF-8 text",
            file=origin.display,
            found=f"{error.reason} at byte {error.start}",
            hint="save the file as UTF-8",
        ) from None


def _read_folder(folder: Path, origin: Origin) -> list[dict[str, Any]]:
    from grader.harness.data_coco import coco_file, coco_records

    annotations = coco_file(folder)
    if annotations is not None:
        try:
            return coco_records(annotations)[0]
        except ValueError as error:
            raise _error("E004", f"{annotations.name}: {error}", file=origin.display) from None
    for name in _LABEL_FILES:
        labels_file = folder / name
        if labels_file.is_file():
            return _read_path(labels_file, None, origin)
    raise _error(
        "E002",
        f"the data folder {origin.display} has no labels file",
        field=origin.field,
        expected=f"one of {', '.join(_LABEL_FILES)} in the folder, naming each image file and its label",
        found=", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "an empty folder",
        hint='e.g. labels.csv with the header "file,label" and one row per image',
    )


def _read_jsonl(path: Path, origin: Origin) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise _error(
                    "E004",
                    f"line {number} is not valid JSON: {error.msg}",
                    file=origin.display,
                    line=number,
                    expected="one JSON object per line",
                    found=line.strip()[:120],
                    hint="check quotes and commas on this line",
                ) from None
            records.append(_object(record, origin, number))
    return records


def _read_json(path: Path, origin: Origin) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise _error(
            "E004",
            f"not valid JSON: {error.msg}",
            file=origin.display,
            line=error.lineno,
            expected="a JSON list of objects",
            hint="check quotes and commas on this line",
        ) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise _error(
            "E004",
            "the JSON file is not a list of items",
            file=origin.display,
            expected='a list of objects, or {"data": [...]}',
            found=type(data).__name__,
            hint="or write one object per line as JSON Lines (.jsonl)",
        )
    return [_object(record, origin, None) for record in data]


def _object(record: Any, origin: Origin, line: int | None) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise _error(
            "E004",
            "an item is not a JSON object",
            file=origin.display,
            line=line,
            expected='an object such as {"text": "...", "label": "positive"}',
            found=json.dumps(record, ensure_ascii=False)[:120],
            hint="each item needs named fields",
        )
    return record


def _read_csv(path: Path, origin: Origin) -> list[dict[str, Any]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        records = []
        for row in reader:
            if None in row:  # more cells than header names
                raise _error(
                    "E004",
                    f"row on line {reader.line_num} has more cells than the header",
                    file=origin.display,
                    line=reader.line_num,
                    expected=f"{len(reader.fieldnames or [])} cells: {', '.join(reader.fieldnames or [])}",
                    found=f"extra: {row[None]}",
                    hint="quote cells that contain the delimiter",
                )
            records.append({key: value for key, value in row.items()})
        return records


def _read_parquet(path: Path, origin: Origin) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise _error(
            "E008",
            f"reading Parquet ({path.name}) needs pyarrow, which is not installed",
            file=origin.display,
            expected="pyarrow in the grader's environment",
            hint="pip install 'compression-grader[data]' (or pip install pyarrow)",
        ) from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...: all mean a bad file
        raise _error(
            "E004",
            f"cannot read {path.name} as Parquet",
            file=origin.display,
            found=f"{type(error).__name__}: {error}"[:300],
            hint="check that the file is a complete Parquet file",
        ) from None


def _read_txt(path: Path, origin: Origin) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [{"text": line} for line in lines if line.strip()]


def _read_npz(path: Path, origin: Origin) -> list[dict[str, Any]]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as error:  # object arrays need pickle, which is refused
        raise _error(
            "E004",
            f"cannot read {path.name} without pickle",
            file=origin.display,
            found=str(error)[:300],
            expected="numeric or fixed-width string arrays (np.savez with plain dtypes)",
            hint="save labels as a numeric or str array (dtype '<U...'), not as Python objects",
        ) from None
    except (OSError, EOFError) as error:
        raise _error(
            "E004", f"cannot read {path.name} as NPZ", file=origin.display, found=str(error)[:300]
        ) from None
    per_item = {name: array for name, array in arrays.items() if array.ndim > 0}
    scalars = {name: array.item() for name, array in arrays.items() if array.ndim == 0}
    lengths = {name: len(array) for name, array in per_item.items()}
    if len(set(lengths.values())) > 1:
        raise _error(
            "E004",
            f"the arrays in {path.name} have different lengths",
            file=origin.display,
            expected="one entry per item along the first axis of every array",
            found=", ".join(f"{name}: {n}" for name, n in lengths.items()),
            hint="save arrays of equal length (0-d arrays count as shared values)",
        )
    count = next(iter(lengths.values()), 0)
    return [{**scalars, **{name: array[i] for name, array in per_item.items()}} for i in range(count)]


# --- Hugging Face hub cache --------------------------------------------------------------------


def _read_hf(
    source: DatasetSource, fmt: str | None, hf_cache_dir: Path | None, prefix: str
) -> tuple[list[dict[str, Any]], Origin]:
    assert source.hf is not None and source.revision is not None  # the course model guarantees both
    snapshot = _hf_snapshot(source.hf, source.revision, hf_cache_dir, prefix)
    split = source.split or "test"
    files = hf_data_files(snapshot, source.config, split)
    if not files:
        available = sorted(p.relative_to(snapshot).as_posix() for p in _hf_candidates(snapshot))
        raise _error(
            "E007",
            f"no data files for split {split!r}"
            + (f" of config {source.config!r}" if source.config else "")
            + f" in {source.hf}@{source.revision[:12]}",
            field=f"{prefix}.split",
            expected=f"files named like {split}.jsonl, {split}-00000-of-00001.parquet or {split}/*.parquet"
            + (f" under {source.config}/" if source.config else ""),
            found=", ".join(available[:10]) or "no data files in the snapshot",
            hint="set `split:` (and `config:`) to match the dataset's files",
        )
    if source.sha256:
        digest = hashlib.sha256(
            "".join(f"{file_sha256(p)}  ./{p.relative_to(snapshot).as_posix()}\n" for p in files).encode()
        ).hexdigest()
        if digest != source.sha256:
            raise _error(
                "E003",
                f"the cached files of {source.hf} do not match the pinned sha256",
                field=f"{prefix}.sha256",
                expected=source.sha256,
                found=digest,
                hint="the revision pins the data already; drop `sha256:` or update it",
            )
    origin = Origin(display=f"hf:{source.hf}@{source.revision[:12]}", base_dir=snapshot, field=f"{prefix}.hf")
    records: list[dict[str, Any]] = []
    for path in files:
        records.extend(
            _read_path(path, fmt, Origin(display=f"{origin.display}/{path.name}", base_dir=snapshot))
        )
    return records, origin


def _hf_snapshot(repo: str, revision: str, cache_dir: Path | None, prefix: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo, repo_type="dataset", revision=revision, cache_dir=cache_dir, local_files_only=True
        )
    except Exception as error:  # LocalEntryNotFoundError, IncompleteSnapshotError, ...: not usable offline
        raise _error(
            "E007",
            f"the Hugging Face dataset {repo} at {revision[:12]} is not in the local cache",
            field=f"{prefix}.hf",
            expected="the dataset snapshot in the runner's hub cache (the grader never downloads data)",
            found=f"{type(error).__name__}: {error}"[:300],
            hint=f"pre-fetch it on the runner with `hf download {repo} --repo-type dataset "
            f"--revision {revision}` (same HF_HOME / HF_HUB_CACHE as the grader)",
        ) from None
    return Path(folder)


def _hf_candidates(snapshot: Path) -> Iterator[Path]:
    for path in sorted(snapshot.rglob("*")):
        if path.is_file() and path.suffix.lower() in _EXTENSIONS and path.suffix.lower() != ".txt":
            yield path


def hf_data_files(snapshot: Path, config: str | None, split: str) -> list[Path]:
    """The data files of one split in a dataset snapshot, sorted by path.

    A file belongs to the split when a folder on its path is named after the split
    (``en/test/0000.parquet``) or its file name is the split followed by ``.``, ``-`` or ``_``
    (``data/test-00000-of-00001.parquet``, ``test.jsonl``). With a ``config``, only files under
    a top-level folder of that name count.
    """
    chosen = []
    for path in _hf_candidates(snapshot):
        parts = path.relative_to(snapshot).parts
        if config and (len(parts) < 2 or parts[0] != config):
            continue
        folders, name = parts[:-1], parts[-1]
        stem = name.split(".", 1)[0]
        named = stem == split or any(name.startswith(split + sep) for sep in "-_.")
        if split in folders or named:
            chosen.append(path)
    return chosen


# --- items -------------------------------------------------------------------------------------


def _column(record: dict[str, Any], field: str, dataset: Dataset) -> str | None:
    if field in dataset.columns:
        return dataset.columns[field] if dataset.columns[field] in record else None
    for name in _ALIASES.get(field, (field,)):
        if name in record:
            return name
    return None


def _item(
    record: dict[str, Any], index: int, task: type[Task], dataset: Dataset, dataset_id: str, origin: Origin
) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for field in (*task.fields, *task.optional_fields):
        column = _column(record, field, dataset)
        if column is None:
            if field in task.optional_fields and field not in dataset.columns:
                continue
            mapped = dataset.columns.get(field)
            raise _error(
                "E005",
                f"item {index + 1} of {origin.display} has no column {mapped or field!r} for {field!r}",
                field=f"datasets.{dataset_id}.columns",
                expected=f"a column for {field!r}"
                + ("" if mapped else f" (tried: {', '.join(_ALIASES.get(field, (field,)))})"),
                found=f"columns: {', '.join(map(str, record))}",
                hint=f"map it in course.yaml: columns: {{{field}: <column name>}}",
            )
        item[field] = _value(record[column], field, task, index, origin, dataset_id)
    return item


def _value(raw: Any, field: str, task: type[Task], index: int, origin: Origin, dataset_id: str) -> Any:
    kind = "label" if field == task.label_field else _FIELD_KINDS.get(field, "text")
    where = f"item {index + 1} of {origin.display}, field {field!r}"
    if kind == "label":
        return raw  # checked against the label list once all items are read
    if kind == "image":
        return _image(raw, where, origin)
    if kind == "audio":
        return _audio(raw, where, origin)
    if kind == "strings":
        values = raw.tolist() if isinstance(raw, np.ndarray) else raw
        if isinstance(values, str):
            values = values.split()
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _bad_value(where, "a list of strings", raw, dataset_id)
        return values
    if kind == "boxes":
        return _boxes(raw, where, dataset_id)
    if kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise _bad_value(where, "an integer", raw, dataset_id) from None
    if isinstance(raw, np.ndarray) and raw.ndim == 0:
        raw = raw.item()
    if not isinstance(raw, str):
        raise _bad_value(where, "text", raw, dataset_id)
    return raw


def _boxes(raw: Any, where: str, dataset_id: str) -> list[list[float]]:
    """Detection boxes: a list of [x, y, width, height] in pixels, widths and heights not negative."""
    values = raw.tolist() if isinstance(raw, np.ndarray) else raw
    if isinstance(values, list) and all(
        isinstance(box, list | tuple)
        and len(box) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box)
        and box[2] >= 0
        and box[3] >= 0
        for box in values
    ):
        return [[float(v) for v in box] for box in values]
    raise _bad_value(where, "a list of [x, y, width, height] boxes", raw, dataset_id)


def _bad_value(where: str, expected: str, raw: Any, dataset_id: str) -> DataError:
    return _error(
        "E006",
        f"{where} is not {expected}",
        field=f"datasets.{dataset_id}.columns",
        expected=expected,
        found=f"{type(raw).__name__}: {str(raw)[:80]}",
        hint="check `columns:` maps the field to the right column",
    )


def _resolve_file(raw: str, where: str, origin: Origin) -> Path:
    base = origin.base_dir or Path.cwd()
    path = Path(raw) if Path(raw).is_absolute() else base / raw
    if not path.is_file():
        raise _error(
            "E002",
            f"{where}: the file {raw} does not exist",
            file=origin.display,
            expected=f"a path relative to {base}",
            found=str(path),
            hint="paths in a labels file are relative to the labels file's folder",
        )
    return path


def _image(raw: Any, where: str, origin: Origin) -> np.ndarray:
    """An image as a numpy array: (H, W) grey or (H, W, C) channels-last, as stored."""
    if isinstance(raw, np.ndarray):
        if raw.ndim not in (2, 3):
            raise _error(
                "E006", f"{where} is not an image array", file=origin.display, found=f"shape {raw.shape}"
            )
        return raw
    if isinstance(raw, dict) and (raw.get("bytes") or raw.get("path")):  # Hugging Face Image feature
        data = raw.get("bytes")
        return decode_image(
            io.BytesIO(data) if data else _resolve_file(str(raw["path"]), where, origin), where
        )
    if isinstance(raw, str):
        return decode_image(_resolve_file(raw, where, origin), where)
    if isinstance(raw, list):
        array = np.asarray(raw)
        if array.ndim in (2, 3) and array.dtype.kind in "iuf":
            return array
    raise _error(
        "E006",
        f"{where} is not an image",
        file=origin.display,
        expected="an image file path, image bytes, or a 2-D/3-D numeric array",
        found=f"{type(raw).__name__}: {str(raw)[:80]}",
    )


def decode_image(source: Path | io.BytesIO, where: str = "image") -> np.ndarray:
    """Decode with PIL to uint8 (H, W) for grey images, (H, W, 3) otherwise; 16-bit/float stay float32."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            image.load()
            if image.mode in ("I", "I;16", "F"):
                return np.asarray(image, dtype=np.float32)
            converted = image.convert("L" if image.mode in ("1", "L", "LA") else "RGB")
            return np.asarray(converted, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise _error("E004", f"{where}: cannot decode the image", found=str(error)[:200]) from None


def _audio(raw: Any, where: str, origin: Origin) -> dict[str, Any]:
    """Audio as {"array": float32 mono in [-1, 1], "sampling_rate": int | None}."""
    if isinstance(raw, np.ndarray):
        return {"array": _float_audio(raw), "sampling_rate": None}
    if isinstance(raw, dict) and "array" in raw:  # already decoded (Hugging Face Audio feature)
        return {"array": _float_audio(np.asarray(raw["array"])), "sampling_rate": raw.get("sampling_rate")}
    if isinstance(raw, dict) and (raw.get("bytes") or raw.get("path")):
        data = raw.get("bytes")
        return read_wav(io.BytesIO(data) if data else _resolve_file(str(raw["path"]), where, origin), where)
    if isinstance(raw, str):
        return read_wav(_resolve_file(raw, where, origin), where)
    raise _error(
        "E006",
        f"{where} is not audio",
        file=origin.display,
        expected="a WAV file path, WAV bytes, or a 1-D array of samples",
        found=f"{type(raw).__name__}: {str(raw)[:80]}",
    )


def _float_audio(samples: np.ndarray) -> np.ndarray:
    """Integer PCM → float32 in [-1, 1): signed by 2^(bits-1); unsigned (8-bit WAV) centred on 128 first."""
    if samples.dtype.kind == "u":
        half = float(np.iinfo(samples.dtype).max + 1) / 2
        return ((samples.astype(np.float64) - half) / half).astype(np.float32)
    if samples.dtype.kind == "i":
        return (samples.astype(np.float64) / float(-np.iinfo(samples.dtype).min)).astype(np.float32)
    return samples.astype(np.float32)


def read_wav(source: Path | io.BytesIO, where: str = "audio") -> dict[str, Any]:
    """PCM WAV (8/16/32-bit) → float32 mono samples in [-1, 1] and the sampling rate."""
    try:
        with wave.open(source if isinstance(source, io.BytesIO) else str(source), "rb") as handle:
            width, channels, rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            frames = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError, OSError) as error:
        raise _error(
            "E004",
            f"{where}: cannot read the audio as PCM WAV",
            found=str(error)[:200],
            hint="convert it to 16-bit PCM WAV (e.g. `sox in.flac -b 16 out.wav`)",
        ) from None
    dtypes = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in dtypes:
        raise _error(
            "E004", f"{where}: {8 * width}-bit WAV is not supported", hint="convert it to 16-bit PCM"
        )
    samples = np.frombuffer(frames, dtype=np.dtype(dtypes[width]).newbyteorder("<")).astype(dtypes[width])
    mono = _float_audio(samples).reshape(-1, channels).mean(axis=1, dtype=np.float64)
    return {"array": mono.astype(np.float32), "sampling_rate": rate}


# --- labels ------------------------------------------------------------------------------------


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic | np.ndarray) and np.ndim(value) == 0 else value


def _normalise_labels(
    items: list[dict[str, Any]],
    field: str | None,
    declared: list[str] | None,
    dataset_id: str,
    origin: Origin,
) -> list[str] | None:
    """Replace each label value by its name; return the label list (declared or inferred)."""
    if field is None:
        return declared
    per_item = [_label_values(item[field]) for item in items]
    names = list(declared) if declared else _infer_labels([v for values in per_item for v in values])
    by_name = {name: name for name in names}
    for index, (item, values) in enumerate(zip(items, per_item, strict=True)):
        resolved = [_label_name(v, names, by_name, index, field, dataset_id, origin) for v in values]
        item[field] = resolved if isinstance(item[field], list | np.ndarray) else resolved[0]
    return names


def _label_values(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return [_scalar(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    return [_scalar(value)]


def _infer_labels(values: list[Any]) -> list[str]:
    integers = [i for i in (_integer(v) for v in values) if i is not None]
    if values and len(integers) == len(values) and all(i >= 0 for i in integers):
        return [str(i) for i in range(max(integers) + 1)]
    return sorted({str(v) for v in values})


def _label_name(
    value: Any,
    names: list[str],
    by_name: dict[str, str],
    index: int,
    field: str,
    dataset_id: str,
    origin: Origin,
) -> str:
    if isinstance(value, str) and value in by_name:
        return value
    number = _integer(value)
    if number is not None and 0 <= number < len(names):
        return names[number]
    if not isinstance(value, str) and str(value) in by_name:
        return str(value)
    raise _error(
        "E006",
        f"item {index + 1} of {origin.display} has the {field} {value!r}, which is not a known label",
        field=f"datasets.{dataset_id}.labels",
        expected=f"one of {names} or an index 0..{len(names) - 1}",
        found=repr(value),
        hint="add the label to `labels:` in course.yaml, or fix the item",
    )


# --- canonical bytes and the digest ------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    """Self-delimiting bytes for JSON-like values and numpy arrays (see the module docstring)."""
    if isinstance(value, dict):
        parts = [b"d", _length(len(value))]
        for key in sorted(value, key=str):
            parts += [_canonical(str(key)), _canonical(value[key])]
        return b"".join(parts)
    if isinstance(value, list | tuple):
        return b"".join([b"l", _length(len(value)), *(_canonical(v) for v in value)])
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and np.little_endian is False):
            array = array.astype(array.dtype.newbyteorder("<"))
        header = json.dumps({"dtype": array.dtype.str.replace("|", "<"), "shape": list(array.shape)}).encode()
        data = array.tobytes()
        return b"".join([b"a", _length(len(header)), header, _length(len(data)), data])
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, str):
        encoded = value.encode("utf-8")
        return b"".join([b"s", _length(len(encoded)), encoded])
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        text = str(value).encode()
        return b"".join([b"i", _length(len(text)), text])
    if isinstance(value, float):
        text = (value.hex() if math.isfinite(value) else repr(value)).encode()
        return b"".join([b"r", _length(len(text)), text])
    if value is None:
        return b"n"
    if isinstance(value, bytes):
        return b"".join([b"b", _length(len(value)), value])
    raise TypeError(f"cannot digest a {type(value).__name__}")


def _length(n: int) -> bytes:
    return n.to_bytes(8, "little")


def _digest(item_hashes: Sequence[bytes], labels: Sequence[str] | None) -> str:
    digest = hashlib.sha256(DIGEST_HEADER)
    digest.update(_canonical(list(labels) if labels is not None else None))
    for item_hash in item_hashes:
        digest.update(item_hash)
    return "sha256:" + digest.hexdigest()
