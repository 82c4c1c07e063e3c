"""Zeros and distinct values of one tensor, read in bounded chunks, and the ideal encodings they allow.

Values are compared as raw bit patterns (so BF16 and float8 need no numpy float type), with -0
folded into +0 for signed float formats: a codebook needs one centroid for both.

- 8- and 16-bit types: a histogram of all 256 / 65,536 patterns; exact at any size, O(n).
- 32- and 64-bit types: a sorted set of the distinct patterns seen so far, grown chunk by chunk.
  Tensors up to ``max_unique_scan_bytes`` are counted exactly. Larger tensors are counted only
  while they have at most UNIQUE_CAP distinct values (clustered tensors stay exact at any size);
  past that the count stops and the tensor reports ``unique_at_least`` instead: a tensor with
  that many distinct values is not a small codebook, and an exact count would cost a full sort.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from grader.harness.size_types import DType, Source

UNIQUE_CAP = 65_536  # more distinct values than this (2^16) is not a codebook worth the name
CHUNK_BYTES = 4 << 20
DEFAULT_MAX_UNIQUE_SCAN_BYTES = 8 << 20


@dataclass(frozen=True)
class ScanResult:
    zeros: int
    unique: int | None  # exact number of distinct values, when it was counted to the end
    unique_at_least: int | None  # when counting stopped early: at least this many distinct values


def scan_values(dtype: DType, source: Source, *, max_unique_scan_bytes: int) -> ScanResult:
    if dtype.bits <= 16:
        return _scan_histogram(dtype, source)
    return _scan_sorted(dtype, source, exact=source.length <= max_unique_scan_bytes)


def _unsigned(bits: int) -> np.dtype:
    return np.dtype(f"<u{bits // 8}")


def _scan_histogram(dtype: DType, source: Source) -> ScanResult:
    patterns = 1 << dtype.bits
    counts = np.zeros(patterns, dtype=np.int64)
    as_unsigned = _unsigned(dtype.bits)
    for chunk in source.chunks(CHUNK_BYTES):
        counts += np.bincount(np.frombuffer(chunk, dtype=as_unsigned), minlength=patterns)
    negative_zero = 1 << (dtype.bits - 1)
    zeros = int(counts[0])
    distinct = int(np.count_nonzero(counts))
    if dtype.zero == "signed":
        zeros += int(counts[negative_zero])
        if counts[0] and counts[negative_zero]:
            distinct -= 1  # +0 and -0 are one value
    return ScanResult(zeros=zeros, unique=distinct, unique_at_least=None)


def _canonical(dtype: DType, chunk: memoryview) -> tuple[np.ndarray, int]:
    """The chunk's bit patterns with -0 folded into +0, and how many of them are zero."""
    as_unsigned = _unsigned(dtype.bits)
    values = np.frombuffer(chunk, dtype=as_unsigned)
    if dtype.zero == "signed":
        is_zero = (values & as_unsigned.type((1 << (dtype.bits - 1)) - 1)) == 0
    else:
        is_zero = values == 0
    zeros = int(np.count_nonzero(is_zero))
    if zeros and dtype.zero == "signed":
        values = np.where(is_zero, as_unsigned.type(0), values)
    return values, zeros


def _scan_sorted(dtype: DType, source: Source, *, exact: bool) -> ScanResult:
    zeros = 0
    if exact:  # the whole tensor (at most max_unique_scan_bytes) sorted once
        whole = np.empty(source.length // (dtype.bits // 8), dtype=_unsigned(dtype.bits))
        filled = 0
        for chunk in source.chunks(CHUNK_BYTES):
            values, chunk_zeros = _canonical(dtype, chunk)
            whole[filled : filled + values.size] = values
            filled += values.size
            zeros += chunk_zeros
        return ScanResult(zeros=zeros, unique=len(_sorted_distinct(whole)), unique_at_least=None)
    seen: np.ndarray | None = None
    stopped = False
    for chunk in source.chunks(CHUNK_BYTES):
        values, chunk_zeros = _canonical(dtype, chunk)
        zeros += chunk_zeros
        if stopped:
            continue  # zeros are still counted exactly
        if seen is None:
            # A cheap probe first: most large tensors are not clustered and show it at once.
            seen = _sorted_distinct(values[: 2 * UNIQUE_CAP])
            if len(seen) > UNIQUE_CAP:
                stopped = True
                continue
        seen = _merge_distinct(seen, values)
        stopped = len(seen) > UNIQUE_CAP
    distinct = 0 if seen is None else len(seen)
    if stopped:
        return ScanResult(zeros=zeros, unique=None, unique_at_least=distinct)
    return ScanResult(zeros=zeros, unique=distinct, unique_at_least=None)


def _merge_distinct(seen: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The sorted distinct patterns of ``seen`` and ``values``.

    Once a set exists, most chunks add nothing new (clustered tensors repeat a few values), so a
    binary search for membership replaces sorting the whole chunk.
    """
    if len(seen) == 0:
        return _sorted_distinct(values)
    position = np.searchsorted(seen, values)
    np.minimum(position, len(seen) - 1, out=position)
    new = values[seen[position] != values]
    if new.size == 0:
        return seen
    return _sorted_distinct(np.concatenate((seen, new)))


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """Sort, then drop repeats. (numpy 2.4's np.unique takes ~25× longer on 4M random uint32.)"""
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


# --- ideal encodings --------------------------------------------------------------------------


@dataclass(frozen=True)
class SparseIdeal:
    bytes: int
    format: Literal["bitmask", "csr"]


def sparse_ideal(shape: tuple[int, ...], elements: int, nonzeros: int, bits: int) -> SparseIdeal:
    """The smaller of two standard sparse layouts for this tensor.

    - bitmask: the nonzero values at the tensor's dtype + one bit per element saying where they go;
    - CSR over the tensor viewed as [shape[0], rest] (a 1-D or scalar tensor is one row): the
      nonzero values + an int32 column index per value + int32 row pointers (rows + 1), with
      int64 indices / pointers only where int32 cannot hold them (as torch and scipy do).
    """
    values = math.ceil(nonzeros * bits / 8)
    bitmask = values + math.ceil(elements / 8)
    rows = shape[0] if len(shape) >= 2 else 1
    columns = elements // rows if rows else 0
    index_bytes = 4 if columns < 2**31 else 8
    pointer_bytes = 4 if nonzeros < 2**31 else 8
    csr = values + nonzeros * index_bytes + (rows + 1) * pointer_bytes
    if bitmask <= csr:
        return SparseIdeal(bitmask, "bitmask")
    return SparseIdeal(csr, "csr")


def codebook_index_bits(unique: int) -> int:
    """ceil(log2(unique)): bits that tell ``unique`` centroids apart (0 for a constant tensor)."""
    return (unique - 1).bit_length() if unique > 1 else 0


def codebook_ideal(elements: int, unique: int, bits: int) -> int:
    """Indices at ceil(log2(unique)) bits per element + the centroids at the tensor's own dtype."""
    return math.ceil(elements * codebook_index_bits(unique) / 8) + unique * math.ceil(bits / 8)
