"""The vocabulary of size analysis: element types, where a tensor's bytes are, and the error it raises.

Every format reader (safetensors, ONNX, OpenVINO IR) turns its files into the same records:
a TensorRecord per stored tensor with its element type, shape, byte length and a source that
can hand its bytes out in bounded chunks. Nothing here loads a whole checkpoint into memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Kind = Literal["float", "int", "uint", "bool", "complex", "string"]
# How a zero is spelled in the bits: "signed" floats have +0 and -0 (the sign bit may be set),
# "plain" types have exactly one all-zero pattern (integers, the FNUZ float8 formats), and
# "none" types cannot hold zero (F8_E8M0 is a pure power of two).
ZeroRule = Literal["signed", "plain", "none"]


class SizeError(ValueError):
    """The files are not what their names say (bad header, offsets out of bounds, symlink, ...).

    The message names the file and what is wrong; the harness turns it into a FAILED size phase.
    """


@dataclass(frozen=True)
class DType:
    name: str  # safetensors spelling, used for every format: F32, F16, BF16, I8, U4, ...
    bits: int  # storage bits per element (sub-byte types pack several elements per byte)
    kind: Kind
    zero: ZeroRule = "plain"

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def scannable(self) -> bool:
        """Whole-byte types whose zeros and distinct values can be counted from the raw bits."""
        return self.bits in (8, 16, 32, 64) and self.kind in ("float", "int", "uint") and self.zero != "none"

    def nbytes(self, elements: int) -> int | None:
        """Bytes that ``elements`` values take, or None when they do not end on a byte boundary."""
        total_bits = elements * self.bits
        return total_bits // 8 if total_bits % 8 == 0 else None

    def nbytes_padded(self, elements: int) -> int:
        return math.ceil(elements * self.bits / 8)


def _dtypes(*items: DType) -> dict[str, DType]:
    return {d.name: d for d in items}


DTYPES: dict[str, DType] = _dtypes(
    DType("BOOL", 8, "bool"),
    DType("U8", 8, "uint"),
    DType("I8", 8, "int"),
    DType("U16", 16, "uint"),
    DType("I16", 16, "int"),
    DType("U32", 32, "uint"),
    DType("I32", 32, "int"),
    DType("U64", 64, "uint"),
    DType("I64", 64, "int"),
    DType("F16", 16, "float", "signed"),
    DType("BF16", 16, "float", "signed"),
    DType("F32", 32, "float", "signed"),
    DType("F64", 64, "float", "signed"),
    DType("F8_E4M3", 8, "float", "signed"),
    DType("F8_E5M2", 8, "float", "signed"),
    DType("F8_E4M3FNUZ", 8, "float", "plain"),  # 0x80 is NaN in the FNUZ formats, not -0
    DType("F8_E5M2FNUZ", 8, "float", "plain"),
    DType("F8_E8M0", 8, "float", "none"),
    DType("F6_E2M3", 6, "float", "signed"),
    DType("F6_E3M2", 6, "float", "signed"),
    DType("F4", 4, "float", "signed"),
    DType("C64", 64, "complex"),
    DType("C128", 128, "complex"),
    DType("U1", 1, "uint"),
    DType("U2", 2, "uint"),
    DType("I2", 2, "int"),
    DType("U3", 3, "uint"),
    DType("U4", 4, "uint"),
    DType("I4", 4, "int"),
    DType("NF4", 4, "float", "none"),  # a 16-entry lookup table; which code means zero varies
    DType("U6", 6, "uint"),
    DType("STRING", 0, "string"),
)

# Dtypes whose zeros and distinct values feed the model-wide sparsity and codebook figures:
# floating point weights and 8-bit integer weights (int8-quantized models can be pruned too).
VALUE_INT_DTYPES = frozenset({"I8", "U8"})


def is_value_dtype(dtype: DType) -> bool:
    return dtype.scannable and (dtype.is_float or dtype.name in VALUE_INT_DTYPES)


# --- where a tensor's bytes are -------------------------------------------------------------


@dataclass(frozen=True)
class FileRegion:
    """``length`` bytes at ``offset`` of a file (safetensors data, ONNX external data, an IR .bin)."""

    path: Path
    offset: int
    length: int

    def chunks(self, chunk_bytes: int) -> Iterator[memoryview]:
        """The region in pieces of at most ``chunk_bytes``, read into one reused buffer.

        Plain reads rather than a memory map: a map's touched pages count in the process RSS
        until it is closed, and the harness measures this process.
        """
        buffer = bytearray(min(chunk_bytes, max(self.length, 1)))
        view = memoryview(buffer)
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            left = self.length
            while left > 0:
                want = min(left, len(buffer))
                got = handle.readinto(view[:want])
                if got != want:
                    raise SizeError(
                        f"{self.path.name}: the file ended while reading {self.length} bytes at offset "
                        f"{self.offset} (it changed while it was read, or it is shorter than its header says)"
                    )
                yield view[:want]
                left -= want


@dataclass(frozen=True)
class InlineBytes:
    """Bytes kept inside a parsed model (ONNX initializers in the .onnx), copied out when scanned.

    ``load`` produces them on demand, so only the tensor being scanned is ever copied.
    """

    load: Callable[[], bytes]
    length: int

    def chunks(self, chunk_bytes: int) -> Iterator[memoryview]:
        view = memoryview(self.load())
        for start in range(0, len(view), chunk_bytes):
            yield view[start : start + chunk_bytes]


Source = FileRegion | InlineBytes


@dataclass
class TensorRecord:
    """One stored tensor, as a format reader found it (before any quantization is recognised)."""

    name: str
    dtype: DType
    shape: tuple[int, ...]
    nbytes: int
    file: str  # relative path of the file that holds its data
    source: Source | None  # None when the bytes cannot be read as plain values (strings)
    # Logical parameters: readers set the element count; the quantization pass sets the values a
    # packed tensor holds, or 0 for scales / zero points, and the packing.
    params: int = 0
    quant: Literal["packed", "metadata"] | None = None
    packed_bits: int | None = None  # bits per packed value
    packed_kind: Literal["int", "float"] = "int"
    # The packed type's own name where INT/FP + bits would misname it: bitsandbytes NF4 is a
    # 16-entry normal-float table, not FP4.
    packed_name: str | None = None
    # Filled by the scan.
    zeros: int | None = None
    unique: int | None = None
    unique_at_least: int | None = None

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    def read_array(self, limit_bytes: int = 1 << 20) -> np.ndarray:
        """The whole tensor as a numpy array, for small integer tensors only (shapes, quant states)."""
        if self.source is None or self.nbytes > limit_bytes:
            raise SizeError(f"{self.file}: tensor {self.name!r} is too large to read as a small table")
        dtype = np.dtype(f"<{'i' if self.dtype.kind == 'int' else 'u'}{self.dtype.bits // 8}")
        data = b"".join(bytes(chunk) for chunk in self.source.chunks(limit_bytes))
        return np.frombuffer(data, dtype=dtype).reshape(self.shape)
