"""Quantities written the way students write them: `455 MB`, `1,33 GB`, `19.6 ms`, `0.0196 s/text`,
`120 texts/s`, `1.5x`, `82.8%`.

Parsing returns the value in base units (bytes, seconds per item, plain ratio, fraction) plus
problems as plain data; the caller turns problems into located findings. An ambiguous unit
(`Mb`: megabits or megabytes?) is never guessed: the problem names both readings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Dimension(StrEnum):
    SIZE = "size"  # bytes (model size, RAM, VRAM)
    TIME = "time"  # seconds per item (or per token / per batch, see Quantity.per)
    RATIO = "ratio"  # a plain multiplier: speed-up, compression
    SCORE = "score"  # a quality metric value (fraction for accuracy-like metrics)


@dataclass(frozen=True)
class Problem:
    """Why a quantity could not be read (or was read with an assumption)."""

    code: str
    message: str
    expected: str
    hint: str
    warning: bool = False


@dataclass(frozen=True)
class Quantity:
    value: float  # base unit: bytes, seconds, ratio, or the metric's own scale
    dimension: Dimension
    raw: str  # as written in the manifest
    unit: str = ""  # canonical unit of what was written ("MB", "ms", "%", "items/s", ...)
    per: str = "item"  # TIME only: "item", "token" or "batch"


@dataclass
class Parsed:
    quantity: Quantity | None
    problems: list[Problem] = field(default_factory=list)


# --- numbers -------------------------------------------------------------------------------

_NUMBER = r"[-+]?(?:\d[\d\s\u00a0\u202f_]*(?:[.,]\d+)*|[.,]\d+)(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>.*?)\s*$")


def parse_number(text: str) -> tuple[float | None, Problem | None]:
    """`1,33` → 1.33 (decimal comma), `1 330` → 1330, `1,330.5` → 1330.5; `1,330` is ambiguous."""
    compact = re.sub(r"[\s\u00a0\u202f_]", "", text)
    if "," in compact and "." in compact:
        if compact.rfind(",") > compact.rfind("."):
            return None, Problem(
                code="U005",
                message=f"cannot tell the decimal separator in {text!r}",
                expected="a number such as 1330.5 or 1.33",
                hint="write the number with a dot as the decimal separator and no thousands separator",
            )
        compact = compact.replace(",", "")
    elif compact.count(",") == 1:
        whole, _, fraction = compact.partition(",")
        if len(fraction) == 3 and whole not in {"", "0", "-0", "+0"}:
            return None, Problem(
                code="U005",
                message=f"{text!r} reads two ways: {whole}.{fraction} or {whole}{fraction}",
                expected="a number with a dot as the decimal separator",
                hint=f"write {whole}.{fraction} (decimal) or {whole}{fraction} (whole number)",
            )
        compact = f"{whole}.{fraction}"
    elif compact.count(",") > 1:
        compact = compact.replace(",", "")
    try:
        value = float(compact)
    except ValueError:
        return None, Problem(
            code="U001",
            message=f"{text!r} is not a number",
            expected="a number such as 19.6",
            hint="write digits with a dot as the decimal separator",
        )
    if not math.isfinite(value):
        return None, Problem(
            code="U001",
            message=f"{text!r} is not a finite number",
            expected="a finite number",
            hint="write the measured value",
        )
    return value, None


# --- units ---------------------------------------------------------------------------------

_SIZE_UNITS: dict[str, tuple[str, float]] = {}
for _names, _canonical, _factor in [
    (("b", "byte", "bytes", "б", "байт"), "B", 1.0),
    (("kb", "kbyte", "kbytes", "кб", "кбайт"), "kB", 1e3),
    (("mb", "mbyte", "mbytes", "мб", "мбайт"), "MB", 1e6),
    (("gb", "gbyte", "gbytes", "гб", "гбайт"), "GB", 1e9),
    (("tb", "тб"), "TB", 1e12),
    (("kib",), "KiB", 2.0**10),
    (("mib",), "MiB", 2.0**20),
    (("gib",), "GiB", 2.0**30),
    (("tib",), "TiB", 2.0**40),
]:
    for _name in _names:
        _SIZE_UNITS[_name] = (_canonical, _factor)

# Latin `Mb`, `Gb`, `Kb` (lower-case b) are bits by SI, bytes by habit: never guess.
_AMBIGUOUS_SIZE = {
    "kb": ("kilobits", "kilobytes", 125.0, "kB"),
    "mb": ("megabits", "megabytes", 125e3, "MB"),
    "gb": ("gigabits", "gigabytes", 125e6, "GB"),
}

_TIME_UNITS: dict[str, tuple[str, float]] = {}
for _names, _canonical, _factor in [
    (("ns", "нс"), "ns", 1e-9),
    (("us", "µs", "μs", "мкс"), "µs", 1e-6),
    (("ms", "msec", "millisecond", "milliseconds", "мс"), "ms", 1e-3),
    (("s", "sec", "secs", "second", "seconds", "с", "сек"), "s", 1.0),
    (("min", "mins", "minute", "minutes", "мин"), "min", 60.0),
]:
    for _name in _names:
        _TIME_UNITS[_name] = (_canonical, _factor)

_PER_ITEM = {
    "item", "items", "sample", "samples", "text", "texts", "image", "images", "img", "imgs",
    "query", "queries", "sentence", "sentences", "example", "examples", "audio", "utterance",
    "utterances", "it", "inference", "request", "requests", "call", "calls", "pred", "prediction",
    "текст", "изображение", "пример", "запрос",
}  # fmt: skip
_PER_TOKEN = {"token", "tokens", "tok", "toks", "токен", "токенов"}
_PER_BATCH = {"batch", "batches", "батч"}

_RATIO_UNITS = {"x", "×", "times", "раз", "раза"}


def _per_kind(word: str) -> str | None:
    word = word.strip().lower().rstrip(".")
    if word in _PER_ITEM:
        return "item"
    if word in _PER_TOKEN:
        return "token"
    if word in _PER_BATCH:
        return "batch"
    return None


def _problem_unknown_unit(unit: str, dimension: Dimension, examples: str) -> Problem:
    return Problem(
        code="U003",
        message=f"unknown unit {unit!r} for a {dimension.value}",
        expected=f"a {dimension.value} such as {examples}",
        hint=f"use one of the units in the examples: {examples}",
    )


def _no_unit(raw: str, dimension: Dimension, examples: str) -> Problem:
    return Problem(
        code="U004",
        message=f"{raw!r} has no unit",
        expected=f"a {dimension.value} with its unit, such as {examples}",
        hint="add the unit; a bare number cannot be checked",
    )


def _split(raw: str | int | float) -> tuple[str, float | None, str, Problem | None]:
    text = str(raw).strip()
    match = _NUMBER_RE.match(text)
    if not match:
        return text, None, "", _no_number(text)
    value, problem = parse_number(match.group("number"))
    return text, value, match.group("unit"), problem


def _no_number(text: str) -> Problem:
    return Problem(
        code="U001",
        message=f"cannot read a number in {text!r}",
        expected="a number followed by a unit, such as 455 MB",
        hint="start with the number, then the unit",
    )


def parse_size(raw: str | int | float) -> Parsed:
    examples = "455 MB, 1.33 GB, 434 MiB"
    text, value, unit, problem = _split(raw)
    if problem or value is None:
        return Parsed(None, [problem] if problem else [])
    if not unit:
        return Parsed(None, [_no_unit(text, Dimension.SIZE, examples)])
    key = unit.strip()
    lower = key.lower()
    if lower in _AMBIGUOUS_SIZE and key[-1] == "b" and key.lower() != "b":
        bits_name, bytes_name, bits_factor, byte_unit = _AMBIGUOUS_SIZE[lower]
        as_bits = value * bits_factor
        as_bytes = value * _SIZE_UNITS[lower][1]
        return Parsed(
            None,
            [
                Problem(
                    code="U002",
                    message=f"ambiguous unit {key!r}: {bits_name} or {bytes_name}?",
                    expected=f"{byte_unit} (bytes) or MiB/GiB (binary bytes)",
                    hint=(
                        f"{value:g} {key} is {human_bytes(as_bits)} if read as {bits_name}, "
                        f"{human_bytes(as_bytes)} if read as {bytes_name}; "
                        f"write {value:g} {byte_unit} if you meant bytes"
                    ),
                )
            ],
        )
    if lower not in _SIZE_UNITS:
        return Parsed(None, [_problem_unknown_unit(key, Dimension.SIZE, examples)])
    canonical, factor = _SIZE_UNITS[lower]
    if value <= 0:
        return Parsed(None, [_negative(text)])
    return Parsed(Quantity(value * factor, Dimension.SIZE, text, canonical))


def parse_time(raw: str | int | float) -> Parsed:
    """Time per item. Accepts `19.6 ms`, `0.0196 s/text`, `25 ms/token`, and throughput `51 texts/s`."""
    examples = "19.6 ms, 0.0196 s/text, 25 ms/token, 51 texts/s"
    text, value, unit, problem = _split(raw)
    if problem or value is None:
        return Parsed(None, [problem] if problem else [])
    if not unit:
        return Parsed(None, [_no_unit(text, Dimension.TIME, examples)])
    if value <= 0:
        return Parsed(None, [_negative(text)])
    normalized = re.sub(r"\s*(?:/|\bper\b|\bна\b)\s*", "/", unit.strip().lower())
    numerator, _, denominator = normalized.partition("/")
    numerator, denominator = numerator.strip(), denominator.strip()
    if numerator in _TIME_UNITS:
        canonical, factor = _TIME_UNITS[numerator]
        per = _per_kind(denominator) if denominator else "item"
        if per is None:
            return Parsed(None, [_problem_unknown_unit(unit, Dimension.TIME, examples)])
        suffix = "" if not denominator else f"/{per}"
        return Parsed(Quantity(value * factor, Dimension.TIME, text, canonical + suffix, per))
    # throughput: "<things>/<time unit>"
    if denominator in _TIME_UNITS:
        per = _per_kind(numerator) if numerator else "item"
        if per is None:
            return Parsed(None, [_problem_unknown_unit(unit, Dimension.TIME, examples)])
        time_unit, seconds = _TIME_UNITS[denominator]
        return Parsed(Quantity(seconds / value, Dimension.TIME, text, f"{per}s/{time_unit}", per))
    return Parsed(None, [_problem_unknown_unit(unit, Dimension.TIME, examples)])


def parse_ratio(raw: str | int | float) -> Parsed:
    """`1.5x`, `×1.5`, `1.5 times`, `1.5`."""
    examples = "1.5x, ×2"
    text = str(raw).strip()
    stripped = text
    for prefix in ("x", "×", "X"):
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix) :].strip()
    _, value, unit, problem = _split(stripped)
    if problem or value is None:
        # Quote what was written, not what is left after the leading `x`.
        return Parsed(None, [_no_number(text) if problem is None or problem.code == "U001" else problem])
    if unit and unit.lower() not in _RATIO_UNITS:
        return Parsed(None, [_problem_unknown_unit(unit, Dimension.RATIO, examples)])
    if value <= 0:
        return Parsed(None, [_negative(text)])
    return Parsed(Quantity(value, Dimension.RATIO, text, "x"))


def parse_score(raw: str | int | float, *, bounded: bool) -> Parsed:
    """A quality value. `82.8%` → 0.828. For a metric bounded to [0, 1], a bare `82.8` is read
    as percent, with a warning, because that is what its author meant."""
    text, value, unit, problem = _split(raw)
    if problem or value is None:
        return Parsed(None, [problem] if problem else [])
    unit = unit.strip()
    if unit == "%":
        if bounded and not 0.0 <= value <= 100.0:
            return Parsed(None, [_out_of_range(text)])
        return Parsed(Quantity(value / 100.0, Dimension.SCORE, text, "%"))
    if unit:
        return Parsed(None, [_problem_unknown_unit(unit, Dimension.SCORE, "0.828, 82.8%")])
    if bounded and 1.0 < value <= 100.0:
        return Parsed(
            Quantity(value / 100.0, Dimension.SCORE, text, "%"),
            [
                Problem(
                    code="U006",
                    message=f"read {text} as {value:g} % (this metric lies between 0 and 1)",
                    expected="a fraction such as 0.828 or a percentage such as 82.8%",
                    hint=f"write {value:g}% or {value / 100:g} to make it explicit",
                    warning=True,
                )
            ],
        )
    if bounded and not 0.0 <= value <= 1.0:
        return Parsed(None, [_out_of_range(text)])
    return Parsed(Quantity(value, Dimension.SCORE, text, ""))


def _out_of_range(text: str) -> Problem:
    return Problem(
        code="U007",
        message=f"{text} is out of range for this metric",
        expected="a value between 0 and 1, or a percentage between 0% and 100%",
        hint="write the metric as a fraction (0.828) or a percentage (82.8%)",
    )


def _negative(text: str) -> Problem:
    return Problem(
        code="U007",
        message=f"{text!r} must be positive",
        expected="a positive value",
        hint="write the measured value",
    )


# --- formatting ------------------------------------------------------------------------------

# Binary units, defined once for the whole grader (memory limits, RSS and VRAM figures).
MIB = 1024 * 1024
GIB = 1024 * MIB


def human_bytes(n: float) -> str:
    """Decimal units, as model hubs and file managers print sizes: `455.1 MB`."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= factor:
            return f"{n / factor:.{_digits(n / factor)}f} {unit}"
    return f"{n:.0f} B"


def human_mib(n_bytes: float) -> str:
    """Binary units for memory, as nvidia-smi and `free -m` print it: `812 MiB`, `3.25 GiB`."""
    mib = n_bytes / MIB
    if abs(mib) >= 1024:
        return f"{mib / 1024:.2f} GiB"
    return f"{mib:.{_digits(mib)}f} MiB"


def human_seconds(seconds: float) -> str:
    for unit, factor in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= factor:
            return f"{seconds / factor:.{_digits(seconds / factor)}f} {unit}"
    return f"{seconds / 1e-9:.0f} ns"


# Figures in grades, comments and the leaderboard (grader.verify.formatting re-exports these):
# fixed units per kind, so rows of a table compare at a glance. The `human_*` writers above are
# the compact form for logs and findings (three significant figures, the unit that fits).


def fixed(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals, never `-0.0` (a rounded-away minus reads as a loss)."""
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def size_mb(n_bytes: float) -> str:
    """`455.1 MB`, `0.271 MB`, `12.40 GB`: megabytes below 10 GB so rows compare at a glance."""
    mb = n_bytes / 1e6
    if abs(mb) >= 10_000:
        return f"{fixed(mb / 1000, 2)} GB"
    if abs(mb) >= 10:
        return f"{fixed(mb, 1)} MB"
    if abs(mb) >= 1:
        return f"{fixed(mb, 2)} MB"
    return f"{fixed(mb, 3)} MB"


def memory_mib(n_bytes: float) -> str:
    """`812.4 MiB`, `3.25 GiB`."""
    mib = n_bytes / MIB
    if abs(mib) >= 10_240:
        return f"{fixed(mib / 1024, 2)} GiB"
    if abs(mib) >= 10:
        return f"{fixed(mib, 1)} MiB"
    return f"{fixed(mib, 2)} MiB"


def time_ms(seconds: float) -> str:
    """`19.6 ms`, `0.412 ms`, `1234 ms`: always milliseconds, three significant figures or more."""
    ms = seconds * 1e3
    if abs(ms) >= 1000:
        return f"{fixed(ms, 0)} ms"
    if abs(ms) >= 10:
        return f"{fixed(ms, 1)} ms"
    if abs(ms) >= 1:
        return f"{fixed(ms, 2)} ms"
    return f"{fixed(ms, 3)} ms"


def time_interval_ms(low_s: float, high_s: float) -> str:
    """`0.551–0.569 ms`: the ends of a time's interval, with the digits `time_ms` gives the lower."""
    text = time_ms(low_s)
    digits = len(text.split()[0].partition(".")[2])
    return f"{fixed(low_s * 1e3, digits)}–{fixed(high_s * 1e3, digits)} ms"


# --- numbers in messages (grader.messages renders a note's parameters with these) ---------------

NUMBER_FORMATS = frozenset({"bytes", "percent", "number", "count", "shares"})
_RU_UNITS = {"GB": "ГБ", "MB": "МБ", "kB": "кБ", "B": "Б"}


def written(value: Any, kind: str, language: str) -> str:
    """A number of a message, in the reader's language: Russian takes a decimal comma, a
    no-break space between thousands, and Russian unit names (`1,00 кБ`, `27,4 %`, `1 234`).

    kind: `bytes` (decimal units, as human_bytes), `percent` (a fraction, one decimal), `number`
    (two decimals), `count` (a whole number), `shares` (a name → fraction map: `int8 5.0 %, ...`).
    """
    if kind == "shares":
        return ", ".join(f"{name} {written(share, 'percent', language)}" for name, share in value.items())
    if kind == "bytes":
        number, _, unit = human_bytes(value).partition(" ")
        return f"{_decimal(number, language)} {_RU_UNITS.get(unit, unit) if language == 'ru' else unit}"
    if kind == "percent":
        return _decimal(f"{value * 100:.1f}", language) + " %"
    digits = 0 if kind == "count" else 2
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u00a0").replace(".", ",") if language == "ru" else text


def _decimal(number: str, language: str) -> str:
    return number.replace(".", ",") if language == "ru" else number


def _digits(x: float) -> int:
    """Three significant figures, at most two decimals."""
    x = abs(x)
    if x >= 100:
        return 0
    if x >= 10:
        return 1
    return 2
