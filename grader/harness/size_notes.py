"""Plain-words notes that explain surprising size figures, in English and Russian.

Each note states measured facts and the number an ideal encoding would need, so a claim like
"pruned, so smaller" or "clustered to 302 MB" can be checked against what the files hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grader.harness.models import SizeReport, TensorInfo
from grader.units import human_bytes

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
    en: list[str] = field(default_factory=list)
    ru: list[str] = field(default_factory=list)

    def add(self, en: str, ru: str) -> None:
        self.en.append(en)
        self.ru.append(ru)


def _b(n: float, language: str) -> str:
    text = human_bytes(n)
    if language == "ru":
        number, _, unit = text.partition(" ")
        unit = {"GB": "ГБ", "MB": "МБ", "kB": "кБ", "B": "Б"}.get(unit, unit)
        text = f"{number.replace('.', ',')} {unit}"
    return text


def _pct(fraction: float, language: str) -> str:
    text = f"{fraction * 100:.1f} %"
    return text.replace(".", ",") if language == "ru" else text


def _num(value: float, language: str, digits: int = 2) -> str:
    text = f"{value:,.{digits}f}" if digits else f"{value:,.0f}"
    if language == "ru":
        text = text.replace(",", "\u00a0").replace(".", ",")
    return text


def _count(value: int, language: str) -> str:
    return _num(value, language, 0)


def build_notes(report: SizeReport, facts: NoteFacts) -> Notes:
    notes = Notes()
    for rule in RULES:
        rule(report, facts, notes)
    return notes


def _no_params(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.no_params_reason == "torchscript":
        notes.add(
            "TorchScript archives are pickles, which the grader never reads: the parameter count and "
            "dtypes are not measured, only the files' bytes.",
            "Архивы TorchScript — это pickle, а грейдер их не читает: число параметров и типы данных "
            "не измеряются, только размер файлов в байтах.",
        )
    elif report.params == 0:
        notes.add(
            "The model files hold no tensors: there are no parameters to count.",
            "В файлах модели нет ни одного тензора: считать нечего.",
        )


def _uncounted(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    for rel, size in facts.uncounted_weight_like:
        notes.add(
            f"{rel} ({_b(size, 'en')}) is not counted in the weights: the grader loads the {facts.format} "
            "files only (and never unpickles .bin/.pt files).",
            f"{rel} ({_b(size, 'ru')}) не входит в размер весов: грейдер загружает только файлы "
            f"{facts.format} (и никогда не распаковывает pickle-файлы .bin/.pt).",
        )


def _models(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if len(facts.models) > 1:
        listed = ", ".join(facts.models)
        notes.add(
            f"The artifact holds {len(facts.models)} model graphs ({listed}); "
            "all of them are counted in the weights.",
            f"В артефакте {len(facts.models)} графа модели ({listed}); все они входят в размер весов.",
        )


def _index(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.unindexed_tensors:
        shown = ", ".join(facts.unindexed_tensors[:5]) + (" …" if len(facts.unindexed_tensors) > 5 else "")
        notes.add(
            f"{len(facts.unindexed_tensors)} tensors in the shards are missing from the index ({shown}); "
            "they are counted, but transformers may not load them.",
            f"{len(facts.unindexed_tensors)} тензоров из шардов нет в индексе ({shown}); они учтены, "
            "но transformers может их не загрузить.",
        )
    if facts.duplicate_names:
        shown = ", ".join(facts.duplicate_names[:5])
        notes.add(
            f"{len(facts.duplicate_names)} tensor names appear in more than one file ({shown}); "
            "each copy is counted.",
            f"{len(facts.duplicate_names)} имён тензоров встречаются в нескольких файлах ({shown}); "
            "учтена каждая копия.",
        )


def _dtype_mix(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    total = report.params
    if not total:
        return
    shares = sorted(((s.params / total, name) for name, s in report.dtypes.items() if s.params), reverse=True)
    minor = [(share, name) for share, name in shares[1:] if share >= MINOR_DTYPE_SHARE]
    if not minor:
        return

    def listed(language: str) -> str:
        return ", ".join(
            f"{name} {_pct(share, language)}" for share, name in shares if share >= MINOR_DTYPE_SHARE
        )

    notes.add(f"Parameters by stored dtype: {listed('en')}.", f"Параметры по типу хранения: {listed('ru')}.")


def _packed(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    packed = [t for t in report.tensors if t.quant == "packed"]
    if not packed or report.packed_bits_per_weight is None:
        return
    method = _methods(report) or "packed"
    params = sum(t.params or 0 for t in packed)
    bits = sorted({round(t.packed_bits or 0, 2) for t in packed})
    widths = "/".join(f"{b:g}" for b in bits)
    whole = report.effective_bits_per_weight
    notes.add(
        f"{method}: {len(packed)} packed tensors hold {params:,} weights at {widths} bits; with their "
        f"scales, zero points and group indices they cost {report.packed_bits_per_weight:.2f} "
        "bits per weight. "
        + (
            f"The whole checkpoint averages {whole:.2f} bits per weight (unquantized tensors such as "
            "embeddings and norms count too)."
            if whole
            else ""
        ),
        f"{method}: {len(packed)} упакованных тензоров хранят {_count(params, 'ru')} весов по {widths} бит; "
        "вместе со scale, нулевыми точками и индексами групп это "
        f"{_num(report.packed_bits_per_weight, 'ru')} бита на вес. "
        + (
            f"В среднем по всему чекпоинту {_num(whole, 'ru')} бита на вес (неквантованные тензоры, "
            "например эмбеддинги и нормализации, тоже учитываются)."
            if whole
            else ""
        ),
    )


def _metadata(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    meta = [t for t in report.tensors if t.quant == "metadata"]
    if not meta or any(t.quant == "packed" for t in report.tensors):
        return
    method = _methods(report) or "quantized"
    size = sum(t.bytes for t in meta)
    notes.add(
        f"{method}: {len(meta)} tensors are quantization scales and zero points ({_b(size, 'en')}); they "
        "count in the bytes but not as parameters.",
        f"{method}: {len(meta)} тензоров — это scale и нулевые точки квантования ({_b(size, 'ru')}); "
        "они входят в байты, но не в число параметров.",
    )


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
    notes.add(
        f"{_pct(report.zeros_fraction, 'en')} of the weights are zero, but the files store them densely "
        f"({_b(dense, 'en')} of tensors). An ideal sparse format (per tensor the smaller of: the nonzero "
        f"values + a 1-bit mask, or CSR) would need {_b(ideal, 'en')} "
        f"({_pct(ideal / dense, 'en')} of the dense tensors).",
        f"{_pct(report.zeros_fraction, 'ru')} весов равны нулю, но файлы хранят их плотно "
        f"({_b(dense, 'ru')} тензоров). Идеальному разреженному формату (для каждого тензора меньшее из: "
        f"ненулевые значения + битовая маска или CSR) понадобилось бы {_b(ideal, 'ru')} "
        f"({_pct(ideal / dense, 'ru')} от плотных тензоров).",
    )


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
    most = max(t.unique or 0 for t in clustered)
    stored = ", ".join(sorted({t.dtype for t in clustered}))
    notes.add(
        f"{len(clustered)} of {len(values)} weight tensors hold at most {most} distinct values each "
        f"({_pct(share, 'en')} of the weights), yet the files store every weight at full width ({stored}). "
        f"A codebook encoding (ceil(log2(distinct)) bits per weight + the centroids, per tensor) would need "
        f"{_b(ideal, 'en')} instead of {_b(dense, 'en')}.",
        f"{len(clustered)} из {len(values)} тензоров весов содержат не более {most} различных значений "
        f"({_pct(share, 'ru')} весов), но файлы хранят каждый вес полной ширины ({stored}). Кодирование "
        f"кодовой книгой (ceil(log2(число значений)) бит на вес + центроиды, для каждого тензора) заняло бы "
        f"{_b(ideal, 'ru')} вместо {_b(dense, 'ru')}.",
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
    if not stopped:
        return
    limit = report.unique_limit_bytes or 0
    notes.add(
        f"Distinct values were not counted to the end in {len(stopped)} tensors larger than "
        f"{_b(limit, 'en')}: each has more than 65,536 distinct values, so it is not clustered, and the "
        "codebook figure counts it as dense.",
        f"В {len(stopped)} тензорах больше {_b(limit, 'ru')} различные значения не досчитаны до конца: "
        "в каждом их больше 65\u00a0536, значит, он не кластеризован, и в оценке кодовой книги он "
        "учтён как плотный.",
    )


def _pruning_masks(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if not facts.pruning_masks:
        return
    size = sum(b for _, b in facts.pruning_masks)
    notes.add(
        f"{len(facts.pruning_masks)} weights are stored as `*_orig` + `*_mask` (torch pruning not made "
        f"permanent): the masks alone take {_b(size, 'en')}. Call torch.nn.utils.prune.remove() before "
        "saving to store each pruned weight once.",
        f"{len(facts.pruning_masks)} весов сохранены как `*_orig` + `*_mask` (прунинг torch не применён "
        f"окончательно): одни маски занимают {_b(size, 'ru')}. Вызовите torch.nn.utils.prune.remove() "
        "перед сохранением, чтобы каждый вес хранился один раз.",
    )


def _openvino(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.shared_constants:
        notes.add(
            f"{facts.shared_constants} Const layers reuse the bytes of another constant in the .bin; "
            "they are counted once.",
            f"{facts.shared_constants} слоёв Const используют байты другой константы в .bin; "
            "они учтены один раз.",
        )


def _sparse_initializers(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if facts.sparse_initializers:
        notes.add(
            f"{facts.sparse_initializers} ONNX sparse initializers are counted at their full (dense) "
            "shape; their zeros are not scanned.",
            f"{facts.sparse_initializers} разреженных инициализаторов ONNX учтены по полной (плотной) "
            "форме; их нули не подсчитывались.",
        )


def _codec(report: SizeReport, facts: NoteFacts, notes: Notes) -> None:
    if report.compressed_bytes is None or not report.weights_bytes:
        return
    ratio = report.compressed_bytes / report.weights_bytes
    if ratio > 1 - CODEC_NOTE_SAVING:
        return
    notes.add(
        f"A general-purpose codec ({report.compressed_codec}) shrinks the weight files to "
        f"{_b(report.compressed_bytes, 'en')} ({_pct(ratio, 'en')}): the format leaves redundancy "
        "(zeros, repeated values, low-entropy bits) that an encoding could remove.",
        f"Универсальный кодек ({report.compressed_codec}) сжимает файлы весов до "
        f"{_b(report.compressed_bytes, 'ru')} ({_pct(ratio, 'ru')}): в формате остаётся избыточность "
        "(нули, повторяющиеся значения, низкоэнтропийные биты), которую можно убрать кодированием.",
    )


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
