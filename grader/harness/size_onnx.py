"""ONNX models: every tensor the graph stores, inline or in external-data files, without loading them.

The .onnx protobuf is parsed with `load_external_data=False`, so external tensors stay
references (location, offset, length) that are checked before anything is read: the location
must be a plain file next to the model (no absolute path, no `..`, no link), and the byte range
must lie inside that file and match the tensor's dtype × shape.

Tensors come from initializers, sparse initializers, tensor attributes (Constant nodes) and
subgraphs (If / Loop / Scan bodies, model-local functions). Quantization metadata is recognised
from the graph: inputs that hold scales and zero points of the quantization ops
(QuantizeLinear, DequantizeLinear, MatMulInteger, QLinearMatMul, ...), onnxruntime's naming
(`W_quantized` with `W_scale`, `W_zero_point`), and the weights packed below a byte by
com.microsoft MatMulNBits / GatherBlockQuantized, whose logical size comes from their attributes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, NodeProto, TensorProto

from grader.harness.size_contents import Contents, by_suffix, companion, found_names
from grader.harness.size_files import ModelFile, safe_child
from grader.harness.size_notes import NoteFacts
from grader.harness.size_types import DTYPES, DType, FileRegion, InlineBytes, SizeError, TensorRecord
from grader.onnx_graph import subgraphs

# ONNX type names → our dtype names; built from the installed onnx's enum, so types newer
# than the installed onnx simply do not appear (such a model fails to parse anyway).
_ONNX_NAMES = {
    "FLOAT": "F32",
    "UINT8": "U8",
    "INT8": "I8",
    "UINT16": "U16",
    "INT16": "I16",
    "INT32": "I32",
    "INT64": "I64",
    "STRING": "STRING",
    "BOOL": "BOOL",
    "FLOAT16": "F16",
    "DOUBLE": "F64",
    "UINT32": "U32",
    "UINT64": "U64",
    "COMPLEX64": "C64",
    "COMPLEX128": "C128",
    "BFLOAT16": "BF16",
    "FLOAT8E4M3FN": "F8_E4M3",
    "FLOAT8E4M3FNUZ": "F8_E4M3FNUZ",
    "FLOAT8E5M2": "F8_E5M2",
    "FLOAT8E5M2FNUZ": "F8_E5M2FNUZ",
    "UINT4": "U4",
    "INT4": "I4",
    "FLOAT4E2M1": "F4",
    "FLOAT8E8M0": "F8_E8M0",
    "UINT2": "U2",
    "INT2": "I2",
    "FLOAT6E2M3": "F6_E2M3",
    "FLOAT6E3M2": "F6_E3M2",
}
ONNX_DTYPES: dict[int, str] = {
    number: _ONNX_NAMES[name] for name, number in TensorProto.DataType.items() if name in _ONNX_NAMES
}

# (op_type, input positions that hold quantization scales / zero points / group indices).
QUANT_META_INPUTS: dict[str, tuple[int, ...]] = {
    "QuantizeLinear": (1, 2),
    "DequantizeLinear": (1, 2),
    "MatMulInteger": (2, 3),
    "ConvInteger": (2, 3),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7),
    "QLinearConv": (1, 2, 4, 5, 6, 7),
    "DynamicQuantizeMatMul": (2, 3),
    "MatMulNBits": (2, 3, 4),
    "GatherBlockQuantized": (2, 3),
}
QUANT_METHOD_OF_OP = {
    "QuantizeLinear": "onnx-qdq",
    "DequantizeLinear": "onnx-qdq",
    "MatMulInteger": "onnx-integer-ops",
    "ConvInteger": "onnx-integer-ops",
    "QLinearMatMul": "onnx-integer-ops",
    "QLinearConv": "onnx-integer-ops",
    "DynamicQuantizeMatMul": "onnx-integer-ops",
    "MatMulNBits": "onnx-matmulnbits",
    "GatherBlockQuantized": "onnx-gatherblockquantized",
}


@dataclass
class OnnxRead:
    records: list[TensorRecord]
    data_files: set[str]  # external-data files, relative to the model root
    methods: list[str] = field(default_factory=list)
    sparse_initializers: int = 0


def read_onnx(path: Path, rel: str) -> OnnxRead:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise SizeError(f"{rel}: not a valid ONNX model: {type(error).__name__}: {error}") from None
    return read_onnx_proto(model, path, rel)


def read_onnx_proto(model: onnx.ModelProto, path: Path, rel: str) -> OnnxRead:
    """Every tensor of a model parsed already (validation parses the graph once for all checks)."""
    if not model.HasField("graph"):
        raise SizeError(f"{rel}: not a valid ONNX model: it has no graph")
    reader = _Reader(path, rel)
    for graph in subgraphs(model.graph):
        reader.graph(graph)
    for function in model.functions:
        reader.nodes(function.node, scope=function.name)
    reader.recognise_quantization()
    return OnnxRead(reader.records, reader.data_files, reader.methods, reader.sparse)


class _Reader:
    def __init__(self, path: Path, rel: str) -> None:
        self.path = path
        self.rel = rel
        self.folder = path.parent
        self.base_rel = PurePosixPath(rel).parent
        self.records: list[TensorRecord] = []
        self.by_name: dict[str, TensorRecord] = {}
        self.data_files: set[str] = set()
        self.methods: list[str] = []
        self.sparse = 0
        self.all_nodes: list[NodeProto] = []

    def text(self, *values: object) -> None:
        """Names must be text: protobuf hands back bytes for a string field that is not UTF-8."""
        if any(not isinstance(v, str) for v in values):
            raise SizeError(f"{self.rel}: not a valid ONNX model: a name or location is not UTF-8 text")

    def graph(self, graph: GraphProto) -> None:
        self.text(graph.name)
        for tensor in graph.initializer:
            self.add(tensor, tensor.name)
        for sparse in graph.sparse_initializer:
            self.sparse += 1
            values = self.add(sparse.values, sparse.values.name or f"{graph.name}/sparse{self.sparse}")
            values.params = math.prod(sparse.dims)
            values.source = None  # the implicit zeros are not in the values: not scanned
            indices = self.add(sparse.indices, f"{values.name}/indices")
            indices.quant, indices.params = "metadata", 0
        self.nodes(graph.node, scope=graph.name)

    def nodes(self, nodes: Iterable[NodeProto], scope: str) -> None:
        self.text(scope)
        for index, node in enumerate(nodes):
            self.text(node.op_type, node.name, node.domain, *node.input, *node.output)
            self.all_nodes.append(node)
            for attribute in node.attribute:
                self.text(attribute.name)
                tensors = [attribute.t] if attribute.type == AttributeProto.TENSOR else []
                if attribute.type == AttributeProto.TENSORS:
                    tensors = list(attribute.tensors)
                for position, tensor in enumerate(tensors):
                    fallback = node.output[0] if node.output and len(tensors) == 1 else ""
                    name = (
                        tensor.name or fallback or f"{scope}/{node.name or index}.{attribute.name}{position}"
                    )
                    self.add(tensor, name)

    def add(self, tensor: TensorProto, name: str) -> TensorRecord:
        self.text(tensor.name, name, *(v for e in tensor.external_data for v in (e.key, e.value)))
        dtype_name = ONNX_DTYPES.get(tensor.data_type)
        if dtype_name is None:
            raise SizeError(f"{self.rel}: tensor {name!r} has an unknown ONNX data type {tensor.data_type}")
        dtype = DTYPES[dtype_name]
        shape = tuple(int(d) for d in tensor.dims)
        if any(d < 0 for d in shape):
            raise SizeError(f"{self.rel}: tensor {name!r} has a negative dimension {list(shape)}")
        elements = math.prod(shape)
        if tensor.data_location == TensorProto.EXTERNAL:
            record = self._external(tensor, name, dtype, shape, elements)
        else:
            record = self._inline(tensor, name, dtype, shape, elements)
        unique_name = name
        while unique_name in self.by_name:  # Constant outputs in different subgraphs may repeat
            unique_name += "'"
        record.name = unique_name
        self.records.append(record)
        self.by_name[unique_name] = record
        return record

    def _external(
        self, tensor: TensorProto, name: str, dtype: DType, shape: tuple[int, ...], elements: int
    ) -> TensorRecord:
        entries = {entry.key: entry.value for entry in tensor.external_data}
        where = f"{self.rel}: tensor {name!r}"
        data_path, data_rel = safe_child(
            self.folder, entries.get("location", ""), where, base_rel=self.base_rel
        )
        if dtype.kind == "string":
            raise SizeError(f"{where}: string tensors cannot be stored as external data")
        expected = dtype.nbytes_padded(elements)
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else expected
        except ValueError:
            raise SizeError(f"{where}: external data offset/length are not integers: {entries}") from None
        if offset < 0 or length < 0:
            raise SizeError(f"{where}: external data offset/length are negative: {entries}")
        if length != expected:
            raise SizeError(
                f"{where}: {dtype.name} × {list(shape)} needs {expected:,} bytes but its external data "
                f"length is {length:,}"
            )
        file_bytes = data_path.stat().st_size
        if offset + length > file_bytes:
            raise SizeError(
                f"{where}: external data [{offset:,}, {offset + length:,}) runs past the end of "
                f"{data_rel} ({file_bytes:,} bytes)"
            )
        self.data_files.add(data_rel)
        return TensorRecord(
            name, dtype, shape, expected, data_rel, FileRegion(data_path, offset, length), elements
        )

    def _inline(
        self, tensor: TensorProto, name: str, dtype: DType, shape: tuple[int, ...], elements: int
    ) -> TensorRecord:
        if dtype.kind == "string":
            nbytes = sum(len(s) for s in tensor.string_data)
            return TensorRecord(name, dtype, shape, nbytes, self.rel, None, elements)
        expected = dtype.nbytes_padded(elements)
        data = _inline_bytes(tensor, dtype, elements)  # a transient copy, only to check its length
        if data is not None and len(data) != expected:
            raise SizeError(
                f"{self.rel}: tensor {name!r}: {dtype.name} × {list(shape)} needs {expected:,} bytes, "
                f"the model stores {len(data):,}"
            )
        source = None
        if data is not None and dtype.scannable:
            source = InlineBytes(functools.partial(_inline_bytes_of, tensor, dtype, elements), expected)
        return TensorRecord(name, dtype, shape, expected, self.rel, source, elements)

    def recognise_quantization(self) -> None:
        for node in self.all_nodes:
            positions = QUANT_META_INPUTS.get(node.op_type)
            if positions is None:
                continue
            if node.op_type in QUANT_METHOD_OF_OP and QUANT_METHOD_OF_OP[node.op_type] not in self.methods:
                self.methods.append(QUANT_METHOD_OF_OP[node.op_type])
            for position in positions:
                if position < len(node.input) and node.input[position] in self.by_name:
                    _metadata(self.by_name[node.input[position]])
            if node.op_type == "MatMulNBits":
                self._matmul_nbits(node)
            elif node.op_type == "GatherBlockQuantized":
                self._gather_block_quantized(node)
        for name in list(self.by_name):
            base = name.removesuffix("_quantized")
            if base != name:
                for suffix in ("_scale", "_zero_point"):
                    if base + suffix in self.by_name:
                        _metadata(self.by_name[base + suffix])

    def _matmul_nbits(self, node: NodeProto) -> None:
        attributes = {a.name: a.i for a in node.attribute if a.type == AttributeProto.INT}
        weight = self.by_name.get(node.input[1]) if len(node.input) > 1 else None
        if weight is None or "K" not in attributes or "N" not in attributes:
            return
        bits = self._bits(node, attributes)
        logical = attributes["K"] * attributes["N"]
        if weight.nbytes * 8 < logical * bits:
            raise SizeError(
                f"{self.rel}: MatMulNBits weight {weight.name!r} ({weight.nbytes:,} bytes) cannot hold "
                f"K×N = {logical:,} values at {bits} bits"
            )
        _packed(weight, logical, bits)

    def _gather_block_quantized(self, node: NodeProto) -> None:
        attributes = {a.name: a.i for a in node.attribute if a.type == AttributeProto.INT}
        data = self.by_name.get(node.input[0]) if node.input else None
        if data is None or data.dtype.name != "U8":
            return  # stored as INT4/UINT4, its dims already count the values
        bits = self._bits(node, attributes)
        _packed(data, data.elements * 8 // bits, bits)

    def _bits(self, node: NodeProto, attributes: dict[str, int]) -> int:
        bits = attributes.get("bits", 4)
        if not 1 <= bits <= 8:
            raise SizeError(
                f"{self.rel}: {node.op_type} node {node.name!r} packs {bits}-bit values (expected 1–8)"
            )
        return bits


def _metadata(record: TensorRecord) -> None:
    if record.quant != "packed":
        record.quant, record.params = "metadata", 0


def _packed(record: TensorRecord, logical: int, bits: int) -> None:
    record.quant, record.params, record.packed_bits = "packed", logical, bits


def _inline_bytes_of(tensor: TensorProto, dtype: DType, elements: int) -> bytes:
    return _inline_bytes(tensor, dtype, elements) or b""


def _inline_bytes(tensor: TensorProto, dtype: DType, elements: int) -> bytes | None:
    """The tensor's little-endian bytes, whether stored as raw_data or in the typed repeated fields.

    None for sub-byte types kept in typed fields (not scanned; their size comes from the dims).
    """
    if tensor.HasField("raw_data"):
        return tensor.raw_data
    if elements == 0:
        return b""
    if dtype.bits < 8:
        return None
    unsigned = np.dtype(f"<u{dtype.bits // 8}")
    if tensor.data_type in (TensorProto.FLOAT, TensorProto.COMPLEX64):
        return np.asarray(tensor.float_data, dtype="<f4").tobytes()
    if tensor.data_type in (TensorProto.DOUBLE, TensorProto.COMPLEX128):
        return np.asarray(tensor.double_data, dtype="<f8").tobytes()
    if tensor.data_type == TensorProto.INT64:
        return np.asarray(tensor.int64_data, dtype="<i8").tobytes()
    if tensor.data_type in (TensorProto.UINT32, TensorProto.UINT64):
        return np.asarray(tensor.uint64_data, dtype=np.uint64).astype(unsigned).tobytes()
    # int32_data carries every other type, one value (or bit pattern) per int32.
    values = np.asarray(tensor.int32_data, dtype=np.int64) & ((1 << dtype.bits) - 1)
    return values.astype(unsigned).tobytes()


def read_onnx_model(base: Path, files: list[ModelFile]) -> Contents:
    """The size reader of the ONNX and TensorRT formats (grader.formats.onnx, .tensorrt): every
    .onnx file and the external data its tensors reference."""
    models = by_suffix(files, ".onnx")
    if not models:
        raise SizeError(f"{base}: no .onnx file (found: {found_names(files)})")
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
    extra = [companion(base, rel) for rel in sorted(weights - listed)]
    return Contents(records, weights, extra, methods, facts)
