"""Exact, labelled size figures of a model's files: `analyze_size(root, format) -> SizeReport`.

Nothing is executed and nothing is unpickled: safetensors headers, the ONNX protobuf (without
its external data) and the OpenVINO XML are parsed as data, and tensor bytes are read in
bounded chunks only to count zeros and distinct values.

Definitions (every figure in the SizeReport):

- files: every regular file under ``root`` (or ``root`` itself when it is one file, plus the
  companions it names: ONNX external data, the IR's .bin), with bytes, sha256 and a role.
  Symlinks and special files are refused. `.git/` and `.cache/` at the top are download
  bookkeeping and are skipped.
- files_bytes: all those files. weights_bytes: the files that hold the weights of ``format``:
  safetensors → the *.safetensors files (with an index: the shards it lists, unless a
  model.safetensors sits next to it: transformers loads that one first); onnx/tensorrt →
  every .onnx file and the external-data files its tensors reference; openvino → the .bin of
  each .xml; torchscript → the archive files.
- params: logical parameters. Every stored element counts once, except that packed quantized
  tensors count the values they hold (GPTQ int32 qweight [in·bits/32, out] → in·out) and
  quantization metadata (scales, zero points, g_idx, weight_shape) counts 0. OpenVINO constants
  that share bytes count once.
- dtypes: params and bytes per stored dtype; packed tensors appear as e.g. "INT4 (packed in I32)",
  metadata as e.g. "F16 (quantization metadata)" (0 params). The shares add up to params and to
  tensor_bytes.
- tensor_bytes: the tensors' data at their stored dtypes, without file headers or graph.
- zeros / unique per value tensor (float, int8 and uint8 weights that are neither packed nor
  metadata): exact zeros; distinct values as described in grader.harness.size_scan.
- zeros_fraction: zeros / elements over value tensors.
- sparse_ideal_bytes: tensor_bytes with each value tensor replaced by the smallest of dense,
  bitmask (nonzeros + 1 bit per element) and CSR (nonzeros + int32 column index + row pointers);
  TensorInfo.sparse_format says which sparse layout a tensor would use.
- codebook_ideal_bytes: tensor_bytes with each value tensor whose distinct values are known
  replaced by ceil(n·ceil(log2(unique))/8) + unique·itemsize when that is smaller; None unless
  it beats the dense tensors.
- compressed_bytes: the weight files through zstd level 3, one frame per file (gzip level 6
  when zstandard is missing), compressed_codec says which.
- effective_bits_per_weight: weights_bytes·8 / params (headers, scales and zeros included).
- packed_bits_per_weight: (packed tensors + quantization metadata bytes)·8 / the values the
  packed tensors hold.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from grader.file_kinds import TORCHSCRIPT_SUFFIXES
from grader.harness.models import DtypeShare, FileInfo, SizeReport, TensorInfo
from grader.harness.size_files import ModelFile, compressor, digest_file, list_files, role_of
from grader.harness.size_notes import NoteFacts, build_notes
from grader.harness.size_onnx import read_onnx
from grader.harness.size_openvino import read_openvino
from grader.harness.size_quant import recognise_packed
from grader.harness.size_safetensors import INDEX_SUFFIX, check_index, read_index, read_safetensors
from grader.harness.size_scan import (
    DEFAULT_MAX_UNIQUE_SCAN_BYTES,
    codebook_ideal,
    scan_values,
    sparse_ideal,
)
from grader.harness.size_types import SizeError, TensorRecord, is_value_dtype
from grader.registry import suggest_message

__all__ = ["FORMATS", "SizeError", "analyze_size"]

FORMATS = ("safetensors", "onnx", "tensorrt", "openvino", "torchscript")
# Files that look like weights; when the format does not load them, a note says they were not counted.
WEIGHT_LIKE = re.compile(
    r"\.(safetensors|bin|pt|pth|ckpt|pkl|pickle|h5|msgpack|onnx|onnx_data|data|gguf|ggml|engine|plan|npz|npy)$"
)


@dataclass
class _Contents:
    """What a format reader found: the tensors, which files are weights, and facts for the notes."""

    records: list[TensorRecord]
    weight_files: set[str]
    extra_files: list[ModelFile] = field(default_factory=list)  # companions of a single-file root
    methods: list[str] = field(default_factory=list)
    facts: NoteFacts = field(default_factory=lambda: NoteFacts(format=""))


def analyze_size(
    root: Path,
    format: str,
    *,
    max_unique_scan_bytes: int = DEFAULT_MAX_UNIQUE_SCAN_BYTES,
    compress: bool = True,
) -> SizeReport:
    """Every size figure of the model at ``root`` (a folder or one file) stored as ``format``.

    Raises SizeError (naming the file and what is wrong) for a symlink, a malformed header,
    offsets out of bounds, external data outside the model folder, or a folder that holds no
    model of that format. ``compress=False`` skips the codec pass (compressed_bytes stays None).
    """
    if format not in FORMATS:
        raise SizeError(suggest_message("format", format, list(FORMATS)))
    try:
        return _analyze(Path(root), format, max_unique_scan_bytes, compress)
    except OSError as error:  # unreadable, or removed while we read it: a located failure, not a crash
        raise SizeError(f"{error.filename or root}: cannot be read: {error.strerror or error}") from None


def _analyze(root: Path, format: str, max_unique_scan_bytes: int, compress: bool) -> SizeReport:
    base, files = list_files(root)
    contents = _READERS[format](base, files)
    contents.facts.format = format
    for record in contents.records:
        _scan(record, max_unique_scan_bytes)
    infos, compressed, codec = _describe_files(
        [*files, *contents.extra_files], contents.weight_files, compress
    )
    contents.facts.uncounted_weight_like = [
        (f.path, f.bytes) for f in infos if f.role != "weights" and WEIGHT_LIKE.search(f.path.lower())
    ]
    report = _report(infos, contents, max_unique_scan_bytes)
    if compress:
        report.compressed_bytes, report.compressed_codec = compressed, codec
    report.notes = build_notes(report, contents.facts)
    return report


def _describe_files(
    files: list[ModelFile], weight_files: set[str], compress: bool
) -> tuple[list[FileInfo], int, str]:
    """FileInfo per file (sorted by path), and the weight files' total size through the codec."""
    codec_name, make_codec = compressor()
    infos: list[FileInfo] = []
    compressed = 0
    for file in sorted(files, key=lambda f: f.rel):
        codec = make_codec() if compress and file.rel in weight_files else None
        sha256, produced = digest_file(file.path, file.rel, file.bytes, codec)
        compressed += produced or 0
        role = role_of(file.rel, weight_files)
        infos.append(FileInfo(path=file.rel, bytes=file.bytes, sha256=sha256, role=role))
    return infos, compressed, codec_name


# --- formats --------------------------------------------------------------------------------------


def _by_suffix(files: list[ModelFile], *suffixes: str) -> list[ModelFile]:
    return [f for f in files if f.rel.lower().endswith(suffixes)]


def _read_safetensors_model(base: Path, files: list[ModelFile]) -> _Contents:
    shards = _by_suffix(files, ".safetensors")
    listed = {f.rel: f for f in files}
    indexes = [f for f in files if "/" not in f.rel and f.rel.endswith(INDEX_SUFFIX)]
    facts = NoteFacts(format="safetensors")
    index = None
    if indexes and "model.safetensors" in listed:
        shards = [listed["model.safetensors"]]  # transformers loads the single file before any index
    elif indexes:
        if len(indexes) > 1:
            raise SizeError(f"{', '.join(i.rel for i in indexes)}: more than one shard index; keep one")
        index = read_index(indexes[0].path, indexes[0].rel)
        for shard in index.shards:
            if shard not in listed:
                raise SizeError(f"{index.rel}: lists the shard {shard}, which is missing")
        shards = [listed[s] for s in index.shards]
    if not shards:
        found = ", ".join(f.rel for f in files[:8]) or "nothing"
        raise SizeError(f"{base}: no .safetensors file (found: {found})")
    records: list[TensorRecord] = []
    for shard in shards:
        records += read_safetensors(shard.path, shard.rel)
    if index is not None:
        facts.unindexed_tensors = check_index(index, records, {s: s for s in index.shards})
    names = Counter(r.name for r in records)
    facts.duplicate_names = sorted(n for n, count in names.items() if count > 1)
    facts.pruning_masks = _pruning_masks(records)
    summary = recognise_packed(records, _config(listed.get("config.json")))
    return _Contents(records, {s.rel for s in shards}, methods=summary.methods, facts=facts)


def _config(file: ModelFile | None) -> dict[str, Any] | None:
    if file is None:
        return None
    try:
        data = json.loads(file.path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SizeError(f"{file.rel}: not valid JSON: {error}") from None
    return data if isinstance(data, dict) else None


def _pruning_masks(records: list[TensorRecord]) -> list[tuple[str, int]]:
    names = {r.name for r in records}
    return [
        (r.name, r.nbytes)
        for r in records
        if r.name.endswith("_mask") and r.name.removesuffix("_mask") + "_orig" in names
    ]


def _companion(base: Path, rel: str) -> ModelFile:
    path = base / PurePosixPath(rel)
    return ModelFile(rel, path, path.stat().st_size)


def _read_onnx_model(base: Path, files: list[ModelFile]) -> _Contents:
    models = _by_suffix(files, ".onnx")
    if not models:
        found = ", ".join(f.rel for f in files[:8]) or "nothing"
        raise SizeError(f"{base}: no .onnx file (found: {found})")
    records: list[TensorRecord] = []
    weights = {m.rel for m in models}
    methods: list[str] = []
    sparse = 0
    for model in models:
        read = read_onnx(model.path, model.rel)
        records += read.records
        weights |= read.data_files
        methods += [m for m in read.methods if m not in methods]
        sparse += read.sparse_initializers
    facts = NoteFacts(format="onnx", models=[m.rel for m in models], sparse_initializers=sparse)
    listed = {f.rel for f in files}
    extra = [_companion(base, rel) for rel in sorted(weights - listed)]
    return _Contents(records, weights, extra, methods, facts)


def _read_openvino_model(base: Path, files: list[ModelFile]) -> _Contents:
    listed = {f.rel for f in files}
    xmls = _by_suffix(files, ".xml")
    # Pair each .xml with its .bin; when none pairs, read them all so the reader says what is wrong.
    irs = [f for f in xmls if f.rel[:-4] + ".bin" in listed] or xmls
    if not irs:
        found = ", ".join(f.rel for f in files[:8]) or "nothing"
        raise SizeError(f"{base}: no OpenVINO IR (an .xml with a .bin of the same name; found: {found})")
    records: list[TensorRecord] = []
    weights: set[str] = set()
    shared = 0
    for ir in irs:
        read = read_openvino(ir.path, ir.rel)
        records += read.records
        weights |= read.data_files
        shared += read.shared
    facts = NoteFacts(format="openvino", models=[i.rel for i in irs], shared_constants=shared)
    extra = [_companion(base, rel) for rel in sorted(weights - listed)]
    return _Contents(records, weights, extra, facts=facts)


def _read_torchscript_model(base: Path, files: list[ModelFile]) -> _Contents:
    archives = _by_suffix(files, *TORCHSCRIPT_SUFFIXES)
    if not archives:
        raise SizeError(f"{base}: no TorchScript archive ({', '.join(TORCHSCRIPT_SUFFIXES)})")
    facts = NoteFacts(format="torchscript", no_params_reason="torchscript")
    return _Contents([], {a.rel for a in archives}, facts=facts)


_READERS = {
    "safetensors": _read_safetensors_model,
    "onnx": _read_onnx_model,
    "tensorrt": _read_onnx_model,  # TensorRT engines are built on the runner from the submitted ONNX
    "openvino": _read_openvino_model,
    "torchscript": _read_torchscript_model,
}


# --- figures --------------------------------------------------------------------------------------


def _scan(record: TensorRecord, max_unique_scan_bytes: int) -> None:
    if record.quant is not None or record.source is None or not is_value_dtype(record.dtype):
        return
    result = scan_values(record.dtype, record.source, max_unique_scan_bytes=max_unique_scan_bytes)
    record.zeros, record.unique, record.unique_at_least = result.zeros, result.unique, result.unique_at_least


def _dtype_key(record: TensorRecord) -> str:
    if record.quant == "packed":
        family = "FP" if record.packed_kind == "float" else "INT"
        return f"{family}{record.packed_bits} (packed in {record.dtype.name})"
    if record.quant == "metadata":
        return f"{record.dtype.name} (quantization metadata)"
    return record.dtype.name


def _tensor_info(record: TensorRecord) -> TensorInfo:
    info = TensorInfo(
        name=record.name,
        dtype=record.dtype.name,
        shape=list(record.shape),
        bytes=record.nbytes,
        zeros=record.zeros,
        unique=record.unique,
        file=record.file,
        params=record.params,
        quant=record.quant,
        unique_at_least=record.unique_at_least,
    )
    if record.quant == "packed" and record.params:
        info.packed_bits = record.nbytes * 8 / record.params
    if record.zeros is not None:
        sparse = sparse_ideal(
            record.shape, record.elements, record.elements - record.zeros, record.dtype.bits
        )
        info.sparse_ideal_bytes, info.sparse_format = sparse.bytes, sparse.format
    if record.unique is not None:
        codebook = codebook_ideal(record.elements, record.unique, record.dtype.bits)
        if codebook < record.nbytes:
            info.codebook_ideal_bytes = codebook
    return info


def _report(infos: list[FileInfo], contents: _Contents, max_unique_scan_bytes: int) -> SizeReport:
    tensors = [_tensor_info(r) for r in contents.records]
    dtypes: dict[str, DtypeShare] = {}
    for record in contents.records:
        key = _dtype_key(record)
        share = dtypes.setdefault(key, DtypeShare(params=0, bytes=0))
        share.params += record.params
        share.bytes += record.nbytes
    params = sum(r.params for r in contents.records)
    tensor_bytes = sum(r.nbytes for r in contents.records)
    weights_bytes = sum(f.bytes for f in infos if f.role == "weights")
    values = [t for t in tensors if t.zeros is not None]
    elements = sum(math.prod(t.shape) for t in values)
    report = SizeReport(
        files=infos,
        files_bytes=sum(f.bytes for f in infos),
        weights_bytes=weights_bytes,
        params=params,
        dtypes=dict(sorted(dtypes.items(), key=lambda item: (-item[1].bytes, item[0]))),
        tensors=tensors,
        tensor_bytes=tensor_bytes if contents.records else None,
        quantization=contents.methods,
        unique_limit_bytes=max_unique_scan_bytes,
        effective_bits_per_weight=weights_bytes * 8 / params if params else None,
    )
    if values:
        report.zeros_fraction = sum(t.zeros or 0 for t in values) / elements if elements else 0.0
        report.sparse_ideal_bytes = tensor_bytes - sum(
            max(0, t.bytes - (t.sparse_ideal_bytes or t.bytes)) for t in values
        )
        saving = sum(t.bytes - t.codebook_ideal_bytes for t in values if t.codebook_ideal_bytes is not None)
        report.codebook_ideal_bytes = tensor_bytes - saving if saving > 0 else None
    packed = [r for r in contents.records if r.quant == "packed"]
    if packed:
        overhead = sum(r.nbytes for r in contents.records if r.quant in ("packed", "metadata"))
        report.packed_bits_per_weight = overhead * 8 / sum(r.params for r in packed)
    return report
