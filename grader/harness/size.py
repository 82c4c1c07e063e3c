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

import importlib
import math
import re
from collections.abc import Callable
from pathlib import Path

from grader.formats import FORMATS, format_spec
from grader.harness.models import DtypeShare, FileInfo, SizeReport, TensorInfo
from grader.harness.size_contents import Contents
from grader.harness.size_files import ModelFile, compressor, digest_file, list_files, role_of
from grader.harness.size_notes import build_notes
from grader.harness.size_scan import (
    DEFAULT_MAX_UNIQUE_SCAN_BYTES,
    codebook_ideal,
    scan_values,
    sparse_ideal,
)
from grader.harness.size_types import SizeError, TensorRecord, is_value_dtype
from grader.registry import suggest_message

__all__ = ["FORMATS", "SizeError", "analyze_size"]

# Files that look like weights; when the format does not load them, a note says they were not counted.
WEIGHT_LIKE = re.compile(
    r"\.(safetensors|bin|pt|pth|ckpt|pkl|pickle|h5|msgpack|onnx|onnx_data|data|gguf|ggml|engine|plan|npz|npy)$"
)


def _reader(format: str) -> Callable[[Path, list[ModelFile]], Contents]:
    """The format's size reader (FormatSpec.size_reader), imported only now: measuring a
    safetensors checkpoint never imports onnx."""
    module, _, function = format_spec(format).size_reader.partition(":")
    reader: Callable[[Path, list[ModelFile]], Contents] = getattr(importlib.import_module(module), function)
    return reader


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
    contents = _reader(format)(base, files)
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


# --- figures --------------------------------------------------------------------------------------


def _scan(record: TensorRecord, max_unique_scan_bytes: int) -> None:
    if record.quant is not None or record.source is None or not is_value_dtype(record.dtype):
        return
    result = scan_values(record.dtype, record.source, max_unique_scan_bytes=max_unique_scan_bytes)
    record.zeros, record.unique, record.unique_at_least = result.zeros, result.unique, result.unique_at_least


def _dtype_key(record: TensorRecord) -> str:
    if record.quant == "packed":
        family = "FP" if record.packed_kind == "float" else "INT"
        name = record.packed_name or f"{family}{record.packed_bits}"
        return f"{name} (packed in {record.dtype.name})"
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


def _report(infos: list[FileInfo], contents: Contents, max_unique_scan_bytes: int) -> SizeReport:
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
