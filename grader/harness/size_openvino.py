"""OpenVINO IR (.xml + .bin) read without importing openvino: the XML's Const layers name every weight.

Each `<layer type="Const">` has `<data element_type="f16" shape="768, 3072" offset="…" size="…"/>`
pointing into the .bin next to the .xml (same name). Constants inside subgraph bodies
(TensorIterator, Loop, If) point into the same .bin. OpenVINO stores identical constants once
and lets several layers point at the same bytes; such constants are counted once, like tied
weights in a checkpoint.

The XML is parsed with expat directly, refusing any DOCTYPE or entity declaration (an IR has
none; entities are how XML bombs and external-entity reads work).
"""

from __future__ import annotations

import math
import os
import xml.parsers.expat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.harness.size_contents import Contents, by_suffix, companion, found_names
from grader.harness.size_files import ModelFile, safe_child
from grader.harness.size_notes import NoteFacts
from grader.harness.size_types import DTYPES, FileRegion, SizeError, TensorRecord

OV_DTYPES = {
    "f64": "F64",
    "f32": "F32",
    "f16": "F16",
    "bf16": "BF16",
    "f8e4m3": "F8_E4M3",
    "f8e5m2": "F8_E5M2",
    "f8e8m0": "F8_E8M0",
    "f4e2m1": "F4",
    "nf4": "NF4",
    "i64": "I64",
    "i32": "I32",
    "i16": "I16",
    "i8": "I8",
    "i4": "I4",
    "u64": "U64",
    "u32": "U32",
    "u16": "U16",
    "u8": "U8",
    "u6": "U6",
    "u4": "U4",
    "u3": "U3",
    "u2": "U2",
    "u1": "U1",
    "boolean": "BOOL",
    "string": "STRING",
}


@dataclass
class OpenVinoRead:
    records: list[TensorRecord]
    data_files: set[str]
    shared: int = 0  # Const layers whose bytes another Const layer already holds


@dataclass
class _Const:
    name: str
    attributes: dict[str, str]


def _parse_constants(path: Path, rel: str) -> list[_Const]:
    constants: list[_Const] = []
    stack: list[str] = []
    layers: list[tuple[str, str]] = []  # (type, name) of the layers we are inside

    def refuse(*_: object) -> None:
        raise SizeError(f"{rel}: declares a DOCTYPE or entities; an OpenVINO IR has none (refused)")

    def start(tag: str, attributes: dict[str, str]) -> None:
        if not stack and tag != "net":
            raise SizeError(f"{rel}: not an OpenVINO IR (the root element is <{tag}>, expected <net>)")
        if tag == "layer":
            layers.append((attributes.get("type", ""), attributes.get("name", attributes.get("id", "?"))))
        elif tag == "data" and stack and stack[-1] == "layer" and layers[-1][0] == "Const":
            constants.append(_Const(layers[-1][1], dict(attributes)))
        stack.append(tag)

    def end(tag: str) -> None:
        stack.pop()
        if tag == "layer":
            layers.pop()

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with path.open("rb") as handle:
            parser.ParseFile(handle)
    except xml.parsers.expat.ExpatError as error:
        raise SizeError(f"{rel}: not a valid XML file: {error}") from None
    return constants


def read_openvino(path: Path, rel: str) -> OpenVinoRead:
    constants = _parse_constants(path, rel)
    rel_path = PurePosixPath(rel)
    bin_name = rel_path.with_suffix(".bin").name
    bin_path: Path | None = None
    bin_rel = ""
    if os.path.lexists(path.parent / bin_name):
        bin_path, bin_rel = safe_child(path.parent, bin_name, rel, base_rel=rel_path.parent)
    elif constants:
        raise SizeError(f"{rel}: its weights file {bin_name} is missing (an IR is the .xml plus its .bin)")
    bin_bytes = bin_path.stat().st_size if bin_path else 0
    records: list[TensorRecord] = []
    seen: dict[tuple[int, int, str], TensorRecord] = {}
    shared = 0
    for const in constants:
        record, key = _record(const, rel, bin_path, bin_rel, bin_bytes)
        if record.nbytes and key in seen:
            shared += 1
            continue
        seen[key] = record
        records.append(record)
    return OpenVinoRead(records, {bin_rel} if bin_path else set(), shared)


def _record(
    const: _Const, rel: str, bin_path: Path | None, bin_rel: str, bin_bytes: int
) -> tuple[TensorRecord, tuple[int, int, str]]:
    where = f"{rel}: Const layer {const.name!r}"
    attributes = const.attributes
    element_type = attributes.get("element_type", "")
    if element_type not in OV_DTYPES:
        raise SizeError(f"{where} has an unknown element_type {element_type!r}")
    dtype = DTYPES[OV_DTYPES[element_type]]
    try:
        text = attributes.get("shape", "").strip()
        shape = tuple(int(d) for d in text.split(",")) if text else ()
        offset, size = int(attributes["offset"]), int(attributes["size"])
    except (KeyError, ValueError):
        raise SizeError(f"{where}: expected integer shape, offset and size, found {attributes}") from None
    if any(d < 0 for d in shape) or offset < 0 or size < 0:
        raise SizeError(f"{where}: negative shape, offset or size: {attributes}")
    elements = math.prod(shape)
    if dtype.kind != "string" and size != dtype.nbytes_padded(elements):
        raise SizeError(
            f"{where}: {element_type} × {list(shape)} needs {dtype.nbytes_padded(elements):,} bytes, "
            f"but size is {size:,}"
        )
    if offset + size > bin_bytes:
        raise SizeError(
            f"{where}: bytes [{offset:,}, {offset + size:,}) run past the end of {bin_rel or 'the .bin'} "
            f"({bin_bytes:,} bytes)"
        )
    source = FileRegion(bin_path, offset, size) if bin_path and dtype.scannable else None
    record = TensorRecord(const.name, dtype, shape, size, bin_rel, source, elements)
    return record, (offset, size, element_type)


def read_openvino_model(base: Path, files: list[ModelFile]) -> Contents:
    """The size reader of the OpenVINO format (grader.formats.openvino): each IR's constants."""
    listed = {f.rel for f in files}
    xmls = by_suffix(files, ".xml")
    # Pair each .xml with its .bin; when none pairs, read them all so the reader says what is wrong.
    irs = [f for f in xmls if f.rel[:-4] + ".bin" in listed] or xmls
    if not irs:
        raise SizeError(
            f"{base}: no OpenVINO IR (an .xml with a .bin of the same name; found: {found_names(files)})"
        )
    records: list[TensorRecord] = []
    weights: set[str] = set()
    shared = 0
    for ir in irs:
        read = read_openvino(ir.path, ir.rel)
        records += read.records
        weights |= read.data_files
        shared += read.shared
    facts = NoteFacts(format="openvino", models=[i.rel for i in irs], shared_constants=shared)
    extra = [companion(base, rel) for rel in sorted(weights - listed)]
    return Contents(records, weights, extra, facts=facts)
