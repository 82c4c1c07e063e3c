"""safetensors checkpoints read from their headers alone, validated as strictly as the library does.

A safetensors file is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and [begin, end) byte offsets into the data that follows, then the data. The
header is all we need for parameters and dtypes; the data is read later, one tensor at a time,
only to count zeros and distinct values. Sharded checkpoints add
`model.safetensors.index.json`, whose `weight_map` says which shard holds which tensor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grader.harness.size_types import DTYPES, FileRegion, SizeError, TensorRecord

INDEX_SUFFIX = ".safetensors.index.json"
MAX_HEADER_BYTES = 100_000_000  # the safetensors library refuses larger headers too
# The dtypes the safetensors format defines (0.8): F4/F6 pack below a byte, C64 is complex64.
SAFETENSORS_DTYPES = frozenset(
    {
        *("BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64"),
        *("F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"),
        *("F16", "BF16", "F32", "F64", "C64"),
    }
)


def _bad(rel: str, what: str) -> SizeError:
    return SizeError(f"{rel}: not a valid safetensors file: {what}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects as the safetensors library reads them: no repeated keys, no lone surrogates."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        for text in (key, value):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(f"{text!r} holds an invalid \\u escape (a lone surrogate)") from None
        out[key] = value
    return out


def read_header(path: Path, rel: str) -> tuple[dict[str, Any], int]:
    """The parsed JSON header and the offset where the data starts; SizeError if malformed."""
    size = path.stat().st_size
    if size < 8:
        raise _bad(rel, f"it is {size} bytes long; a safetensors file starts with an 8-byte header length")
    with path.open("rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if length == 0:
            raise _bad(rel, "the header length is 0")
        if length > MAX_HEADER_BYTES:
            raise _bad(rel, f"the header length {length:,} is over the 100 MB limit (garbage bytes?)")
        if 8 + length > size:
            raise _bad(rel, f"the header length {length:,} runs past the end of the file ({size:,} bytes)")
        raw = handle.read(length)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad(rel, f"the header is not UTF-8 text (byte {error.start})") from None
    if not text.lstrip().startswith("{"):
        raise _bad(rel, "the header is not a JSON object")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as error:
        raise _bad(rel, f"the header is not valid JSON: {error}") from None
    except RecursionError:  # `[[[[...` 200 000 deep: json's decoder stops at the interpreter's limit
        raise _bad(rel, "the header nests too deeply to be a safetensors header") from None
    if not isinstance(header, dict):
        raise _bad(rel, "the header is not a JSON object")
    return header, 8 + length


def read_safetensors(path: Path, rel: str) -> list[TensorRecord]:
    """Every tensor of one file, after checking the header against the file's real size."""
    header, data_start = read_header(path, rel)
    data_bytes = path.stat().st_size - data_start
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise _bad(rel, "__metadata__ must map names to strings")
    records = [_record(path, rel, name, entry, data_start) for name, entry in header.items()]
    _check_layout(rel, records, data_start, data_bytes)
    return records


def _record(path: Path, rel: str, name: str, entry: Any, data_start: int) -> TensorRecord:
    if not isinstance(entry, dict):
        raise _bad(rel, f"tensor {name!r}: expected an object with dtype, shape and data_offsets")
    missing = [key for key in ("dtype", "shape", "data_offsets") if key not in entry]
    if missing:
        raise _bad(rel, f"tensor {name!r} has no {', '.join(missing)}")
    name_of_dtype = entry["dtype"]
    if not (isinstance(name_of_dtype, str) and name_of_dtype in SAFETENSORS_DTYPES):
        raise _bad(rel, f"tensor {name!r} has an unknown dtype {name_of_dtype!r}")
    dtype = DTYPES[name_of_dtype]
    shape = entry["shape"]
    if not (isinstance(shape, list) and all(_natural(d) for d in shape)):
        raise _bad(rel, f"tensor {name!r}: shape must be a list of non-negative integers, found {shape!r}")
    offsets = entry["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(o) for o in offsets)):
        raise _bad(rel, f"tensor {name!r}: data_offsets must be [begin, end], found {offsets!r}")
    begin, end = offsets
    if end < begin:
        raise _bad(rel, f"tensor {name!r}: data_offsets [{begin}, {end}] end before they begin")
    elements = math.prod(shape)
    expected = dtype.nbytes(elements)
    if expected is None:
        raise _bad(rel, f"tensor {name!r}: {elements} {dtype.name} values do not end on a byte boundary")
    if end - begin != expected:
        raise _bad(
            rel,
            f"tensor {name!r}: {dtype.name} × {shape} needs {expected:,} bytes but data_offsets "
            f"[{begin}, {end}] hold {end - begin:,}",
        )
    return TensorRecord(
        name=name,
        dtype=dtype,
        shape=tuple(shape),
        nbytes=expected,
        file=rel,
        source=FileRegion(path, data_start + begin, expected),
        params=elements,
    )


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _span(record: TensorRecord, data_start: int) -> tuple[int, int]:
    """[begin, end) of the record's bytes, relative to the start of the data (as in the header)."""
    assert isinstance(record.source, FileRegion)
    begin = record.source.offset - data_start
    return begin, begin + record.source.length


def _check_layout(rel: str, records: list[TensorRecord], data_start: int, data_bytes: int) -> None:
    """Tensors must tile the data exactly: from 0, back to back, no overlap, nothing after the last."""
    position = 0
    previous = None
    spans = sorted((_span(r, data_start), r.name) for r in records)
    for (begin, end), name in spans:
        if end > data_bytes:
            raise _bad(
                rel,
                f"tensor {name!r}: data_offsets [{begin:,}, {end:,}] run past the end of the file "
                f"(the data after the {data_start:,}-byte header holds {data_bytes:,} bytes)",
            )
        if begin < position:
            raise _bad(rel, f"tensors {previous!r} and {name!r} overlap (bytes {begin:,}–{position:,})")
        if begin > position:
            raise _bad(rel, f"{begin - position:,} bytes before tensor {name!r} belong to no tensor")
        position, previous = end, name
    if position < data_bytes:
        raise _bad(rel, f"{data_bytes - position:,} bytes after the last tensor belong to no tensor")


# --- sharded checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardIndex:
    rel: str  # the index file
    weight_map: dict[str, str]  # tensor name → shard path relative to the index's folder

    @property
    def shards(self) -> list[str]:
        return sorted(set(self.weight_map.values()))


def read_index(path: Path, rel: str) -> ShardIndex:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SizeError(f"{rel}: not a valid JSON index of shards: {error}") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise SizeError(f"{rel}: expected a JSON object with a `weight_map` of tensor name → shard file")
    for shard in set(weight_map.values()):
        parts = PurePosixPath(shard).parts
        if not parts or shard.startswith(("/", "\\")) or ".." in parts or "\\" in shard or ":" in shard:
            raise SizeError(f"{rel}: shard {shard!r} is not a file inside the model folder")
        if not shard.endswith(".safetensors"):
            raise SizeError(f"{rel}: shard {shard!r} is not a .safetensors file")
    return ShardIndex(rel=rel, weight_map=weight_map)


def check_index(index: ShardIndex, records: list[TensorRecord], shard_rel: dict[str, str]) -> list[str]:
    """The index must agree with the shards' headers; returns tensors the shards hold beyond it.

    ``shard_rel`` maps the index's shard names to the files' paths relative to the model root.
    A tensor the index places in a shard that lacks it would fail to load: that is an error.
    """
    where = {(r.file, r.name) for r in records}
    for name, shard in index.weight_map.items():
        if (shard_rel[shard], name) not in where:
            raise SizeError(
                f"{index.rel}: the index puts tensor {name!r} in {shard}, but {shard} does not hold it"
            )
    listed = {(shard_rel[s], n) for n, s in index.weight_map.items()}
    return sorted(f"{r.file}:{r.name}" for r in records if (r.file, r.name) not in listed)
