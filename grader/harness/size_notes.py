"""Notes that explain surprising size figures, as Note(key, params) values.

Each note states measured facts and the number an ideal encoding would need, so a claim like
"pruned, so smaller" or "clustered to 302 MB" can be checked against what the files hold. The
sentences, in Russian and English, are grader.messages.size; numbers go in as numbers and are
written in the reader's language when a note is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grader.harness.models import SizeReport, TensorInfo
from grader.notes import Note, Param

SPARSE_NOTE_FRACTION = 0.05  # mention zeros from 5 % of the value weights up
CLUSTERED_MAX_UNIQUE = 256  # "a few distinct values": 8-bit indices or fewer ...
CLUSTERED_MIN_REPEAT = 4  # ... each used at least 4 times on average (a 64-value bias is not clustered)
CLUSTERED_NOTE_SHARE = 0.5  # mention clustering when such tensors hold half of the weights
CODEBOOK_NOTE_SAVING = 0.10  # mention a codebook when it would save at least 10 %
CODEC_NOTE_SAVING = 0.10  # mention general-purpose compression when it saves at least 10 %
MINOR_DTYPE_SHARE = 0.01
METHOD_NAMES = {
    "gptq": "GPTQ",
    "awq": "AWQ",
    "onnx-qdq": "ONNX QuantizeLinear/DequantizeLinear",
    "onnx-integer-ops": "ONNX integer ops (MatMulInteger & co.)",
    "onnx-matmulnbits": "ONNX MatMulNBits",
    "onnx-gatherblockquantized": "ONNX GatherBlockQuantized",
}


@dataclass
class NoteFacts:
    """What the readers learned that the report's fields do not show."""

    format: str
    uncounted_weight_like: list[tuple[str, int]] = field(default_factory=list)  # (file, bytes)
    models: list[str] = field(default_factory=list)  # .onnx / .xml files counted
    unindexed_tensors: list[str] = field(default_factory=list)
    duplicate_names: list[str] = field(default_factory=list)
    pruning_masks: list[tuple[str, int]] = field(default_factory=list)  # (mask tensor, bytes)
    shared_constants: int = 0
    sparse_initializers: int = 0
    no_params_reason: str | None = None


@dataclass
class Notes:
    """The notes of one size report, in the order the rules found them."""

    items: list[Note] = field(default_factory=list)

    def add(self, key: str, **params: Param) -> None:
        self.items.append(Note(key=key, params=params))


def build_notes(report: SizeReport, facts: NoteFacts) -> list[Note]:
    notes = Notes()
    for rule in RULES:
        rule(report, facts, notes)
    return notes.items


def _no_params(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.no_params_reason == "torchscript":
        notes.add("size.torchscript_params")
    elif report.params == 0:
        notes.add("size.no_tensors")


def _uncounted(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    for rel, size in facts.uncounted_weight_like:
        notes.add("size.uncounted", file=rel, size=size, format=facts.format)


def _models(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if len(facts.models) > 1:
        notes.add("size.graphs", n=len(facts.models), graphs=", ".join(facts.models))


def _index(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.unindexed_tensors:
        shown = ", ".join(facts.unindexed_tensors[:5]) + (" …" if len(facts.unindexed_tensors) > 5 else "")
        notes.add("size.unindexed", n=len(facts.unindexed_tensors), shown=shown)
    if facts.duplicate_names:
        notes.add("size.duplicates", n=len(facts.duplicate_names), shown=", ".join(facts.duplicate_names[:5]))


def _dtype_mix(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    total = report.params
    if not total:
        return
    shares = sorted(((s.params / total, name) for name, s in report.dtypes.items() if s.params), reverse=True)
    minor = [(share, name) for share, name in shares[1:] if share >= MINOR_DTYPE_SHARE]
    if not minor:
        return
    listed = {name: share for share, name in shares if share >= MINOR_DTYPE_SHARE}  # largest first
    notes.add("size.dtypes", shares=listed)


def _packed(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    packed = [t for t in report.tensors if t.quant == "packed"]
    if not packed or report.packed_bits_per_weight is None:
        return
    bits = sorted({round(t.packed_bits or 0, 2) for t in packed})
    params: dict[str, Param] = {
        "method": _methods(report) or "packed",
        "n": len(packed),
        "weights": sum(t.params or 0 for t in packed),
        "widths": "/".join(f"{b:g}" for b in bits),
        "bits": report.packed_bits_per_weight,
    }
    whole = report.effective_bits_per_weight
    if whole:
        notes.add("size.packed_whole", **params, whole=whole)
    else:
        notes.add("size.packed", **params)


def _metadata(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    meta = [t for t in report.tensors if t.quant == "metadata"]
    if not meta or any(t.quant == "packed" for t in report.tensors):
        return
    size = sum(t.bytes for t in meta)
    notes.add("size.quant_metadata", method=_methods(report) or "quantized", n=len(meta), size=size)


def _methods(report: SizeReport) -> str:
    return ", ".join(METHOD_NAMES.get(m, m) for m in report.quantization)


def _value_tensors(report: SizeReport) -> list[TensorInfo]:
    return [t for t in report.tensors if t.zeros is not None]


def _sparse(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if report.zeros_fraction is None or report.zeros_fraction < SPARSE_NOTE_FRACTION:
        return
    if report.sparse_ideal_bytes is None or not report.tensor_bytes:
        return
    dense, ideal = report.tensor_bytes, report.sparse_ideal_bytes
    notes.add("size.sparse", zeros=report.zeros_fraction, dense=dense, ideal=ideal, share=ideal / dense)


def _codebook(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if report.codebook_ideal_bytes is None or not report.tensor_bytes:
        return
    dense, ideal = report.tensor_bytes, report.codebook_ideal_bytes
    if ideal > dense * (1 - CODEBOOK_NOTE_SAVING):
        return
    values = _value_tensors(report)
    clustered = [t for t in values if _clustered(t)]
    share = sum(t.params or 0 for t in clustered) / max(1, sum(t.params or 0 for t in values))
    if not clustered or share < CLUSTERED_NOTE_SHARE:
        return
    notes.add(
        "size.codebook",
        n=len(clustered),
        total=len(values),
        most=max(t.unique or 0 for t in clustered),
        share=share,
        stored=", ".join(sorted({t.dtype for t in clustered})),
        ideal=ideal,
        dense=dense,
    )


def _clustered(tensor: TensorInfo) -> bool:
    unique = tensor.unique
    return (
        unique is not None
        and unique <= CLUSTERED_MAX_UNIQUE
        and (tensor.params or 0) >= CLUSTERED_MIN_REPEAT * unique
    )


def _unique_stopped(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    stopped = [t for t in report.tensors if t.unique_at_least is not None]
    if stopped:
        notes.add("size.unique_stopped", n=len(stopped), limit=report.unique_limit_bytes or 0)


def _pruning_masks(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.pruning_masks:
        size = sum(b for _, b in facts.pruning_masks)
        notes.add("size.pruning_masks", n=len(facts.pruning_masks), size=size)


def _openvino(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.shared_constants:
        notes.add("size.shared_constants", n=facts.shared_constants)


def _sparse_initializers(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.sparse_initializers:
        notes.add("size.sparse_initializers", n=facts.sparse_initializers)


def _codec(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if report.compressed_bytes is None or not report.weights_bytes:
        return
    ratio = report.compressed_bytes / report.weights_bytes
    if ratio > 1 - CODEC_NOTE_SAVING:
        return
    codec = str(report.compressed_codec)  # set whenever compressed_bytes is
    notes.add("size.codec", codec=codec, size=report.compressed_bytes, share=ratio)


RULES: list[Callable[[SizeReport, NoteFacts, Notes], None]] = [
    _no_params,
    _uncounted,
    _models,
    _index,
    _dtype_mix,
    _packed,
    _metadata,
    _sparse,
    _codebook,
    _unique_stopped,
    _pruning_masks,
    _openvino,
    _sparse_initializers,
    _codec,
]
