"""grader.units: quantities as students write them, and the problems when they cannot be read."""

from __future__ import annotations

import pytest

from grader.units import (
    MIB,
    Dimension,
    human_bytes,
    human_mib,
    human_seconds,
    parse_number,
    parse_ratio,
    parse_score,
    parse_size,
    parse_time,
)


def value_of(parsed) -> float:
    assert not parsed.problems, parsed.problems
    assert parsed.quantity is not None
    return parsed.quantity.value


def only_problem(parsed):
    assert parsed.quantity is None
    assert len(parsed.problems) == 1, parsed.problems
    return parsed.problems[0]


# --- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19.6", 19.6),
        ("1,33", 1.33),  # decimal comma
        ("0,828", 0.828),  # a leading zero is never a thousands group
        ("1 330", 1330.0),  # space as thousands separator
        ("1\u00a0330", 1330.0),  # no-break space, as Russian locales print it
        ("1_330", 1330.0),
        ("1,330.5", 1330.5),  # comma thousands, dot decimal
        ("1,234,567", 1234567.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("-2", -2.0),
    ],
)
def test_numbers_in_the_forms_students_write(text: str, expected: float) -> None:
    value, problem = parse_number(text)
    assert problem is None
    assert value == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1,330", "12,500"])
def test_a_comma_before_three_digits_is_ambiguous_and_names_both_readings(text: str) -> None:
    value, problem = parse_number(text)
    whole, fraction = text.split(",")
    assert value is None and problem is not None
    assert problem.code == "U005"
    assert f"{whole}.{fraction}" in problem.message and f"{whole}{fraction}" in problem.message


def test_comma_after_dot_cannot_tell_the_decimal_separator() -> None:
    value, problem = parse_number("1.330,5")
    assert value is None and problem is not None and problem.code == "U005"


# --- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_bytes", "unit"),
    [
        ("455 MB", 455e6, "MB"),
        ("455MB", 455e6, "MB"),
        ("1,33 GB", 1.33e9, "GB"),
        ("1.33 GBytes", 1.33e9, "GB"),
        ("434 MiB", 434 * 2**20, "MiB"),
        ("2 GiB", 2 * 2**30, "GiB"),
        ("512 KiB", 512 * 1024, "KiB"),
        ("120 KB", 120e3, "kB"),  # capital B: bytes, whatever the k
        ("12 B", 12.0, "B"),
        ("1 330 MB", 1.33e9, "MB"),
        ("455 мб", 455e6, "MB"),  # Russian units
        ("1,2 Гб", 1.2e9, "GB"),
        ("300 Мбайт", 300e6, "MB"),
        ("1e3 MB", 1e9, "MB"),
    ],
)
def test_sizes(text: str, expected_bytes: float, unit: str) -> None:
    parsed = parse_size(text)
    assert value_of(parsed) == pytest.approx(expected_bytes)
    assert parsed.quantity is not None
    assert parsed.quantity.unit == unit
    assert parsed.quantity.dimension is Dimension.SIZE
    assert parsed.quantity.raw == text


@pytest.mark.parametrize(
    ("text", "bits", "bytes_"),
    [("120 Mb", "15.0 MB", "120 MB"), ("2 Gb", "250 MB", "2.00 GB"), ("800 Kb", "100 kB", "800 kB")],
)
def test_lower_case_b_is_ambiguous_and_the_hint_names_both_readings(
    text: str, bits: str, bytes_: str
) -> None:
    problem = only_problem(parse_size(text))
    assert problem.code == "U002"
    assert "bits or" in problem.message
    assert f"{bits} if read as" in problem.hint
    assert f"{bytes_} if read as" in problem.hint


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("455", "U004"),  # no unit
        (455, "U004"),  # YAML number
        ("455 megs", "U003"),
        ("455 MBs", "U003"),
        ("about 455 MB", "U001"),
        ("inf MB", "U001"),
        ("-5 MB", "U007"),
        ("0 MB", "U007"),  # nothing weighs nothing
        ("1,330 MB", "U005"),
    ],
)
def test_unreadable_sizes(text: str | int, code: str) -> None:
    problem = only_problem(parse_size(text))
    assert problem.code == code
    assert problem.expected and problem.hint
    assert not problem.warning


# --- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds", "unit", "per"),
    [
        ("19.6 ms", 0.0196, "ms", "item"),
        ("19,6 мс", 0.0196, "ms", "item"),
        ("0.0196 s/text", 0.0196, "s/item", "item"),
        ("0.0196 sec/image", 0.0196, "s/item", "item"),
        ("10 msec per sample", 0.010, "ms/item", "item"),
        ("0.5 с на текст", 0.5, "s/item", "item"),
        ("350 µs", 350e-6, "µs", "item"),
        ("350 us", 350e-6, "µs", "item"),
        ("25 ms/token", 0.025, "ms/token", "token"),
        ("80 ms/batch", 0.080, "ms/batch", "batch"),
        ("51 texts/s", 1 / 51, "items/s", "item"),  # throughput → time per item
        ("120 texts / sec", 1 / 120, "items/s", "item"),
        ("2 it/s", 0.5, "items/s", "item"),
        ("40 tokens/s", 1 / 40, "tokens/s", "token"),
        ("5 токенов/с", 0.2, "tokens/s", "token"),
    ],
)
def test_times(text: str, seconds: float, unit: str, per: str) -> None:
    parsed = parse_time(text)
    assert value_of(parsed) == pytest.approx(seconds)
    assert parsed.quantity is not None
    assert (parsed.quantity.unit, parsed.quantity.per) == (unit, per)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("19.6", "U004"),
        ("19.6 parsecs", "U003"),
        ("20 ms/galaxy", "U003"),
        ("0 ms", "U007"),
        ("fast", "U001"),
    ],
)
def test_unreadable_times(text: str, code: str) -> None:
    assert only_problem(parse_time(text)).code == code


# --- ratios --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1.5x", "1.5 x", "×1.5", "x1.5", "X 1.5", "1.5 times", "1,5 раза", "1.5", 1.5]
)
def test_ratios(text: str | float) -> None:
    parsed = parse_ratio(text)
    assert value_of(parsed) == pytest.approx(1.5)
    assert parsed.quantity is not None and parsed.quantity.unit == "x"


@pytest.mark.parametrize(
    ("text", "code"), [("1.5 MB", "U003"), ("0x", "U007"), ("-2x", "U007"), ("xyz", "U001")]
)
def test_unreadable_ratios(text: str, code: str) -> None:
    problem = only_problem(parse_ratio(text))
    assert problem.code == code
    if code == "U001":
        assert repr(text) in problem.message  # quotes what was written, not what was left of it


# --- scores --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bounded", "expected"),
    [
        ("82.8%", True, 0.828),
        ("82,8 %", True, 0.828),
        ("0.828", True, 0.828),
        (0.828, True, 0.828),
        ("1", True, 1.0),
        ("21.4", False, 21.4),  # perplexity: not a percentage
        ("-0.2", False, -0.2),  # MCC can be negative
    ],
)
def test_scores(text: str | float, bounded: bool, expected: float) -> None:
    assert value_of(parse_score(text, bounded=bounded)) == pytest.approx(expected)


def test_bare_number_above_one_is_read_as_percent_with_a_warning() -> None:
    parsed = parse_score("82.8", bounded=True)
    assert parsed.quantity is not None and parsed.quantity.value == pytest.approx(0.828)
    assert [p.code for p in parsed.problems] == ["U006"]
    assert parsed.problems[0].warning
    assert "82.8%" in parsed.problems[0].hint and "0.828" in parsed.problems[0].hint


@pytest.mark.parametrize(
    ("text", "code"),
    [("150", "U007"), ("150%", "U007"), ("-0.1", "U007"), ("82.8 pct", "U003"), ("n/a", "U001")],
)
def test_unreadable_scores(text: str, code: str) -> None:
    problem = only_problem(parse_score(text, bounded=True))
    assert problem.code == code and not problem.warning


# --- formatting ----------------------------------------------------------------------------------


def test_human_formatting() -> None:
    assert human_bytes(455_123_456) == "455 MB"
    assert human_bytes(1.33e9) == "1.33 GB"
    assert human_bytes(12) == "12 B"
    assert human_mib(812.4 * MIB) == "812 MiB"
    assert human_mib(3 * 2**30) == "3.00 GiB"
    assert human_seconds(0.0196) == "19.6 ms"
    assert human_seconds(350e-6) == "350 µs"
    assert human_seconds(2.5) == "2.50 s"
