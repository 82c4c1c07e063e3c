"""The report: strings in both languages, the course's table, Markdown safety of submission text,
template lookup errors, and `grader report` through the real CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from golden.cases import grade_failed, grade_mismatch, grade_pass

from grader.course.model import Method, ScoringRule
from grader.errors import InputError
from grader.manifest.model import Format
from grader.report import render_check_run, render_comment, render_summary
from grader.report.templates import find_templates, flatten, load_strings, md, placeholders
from grader.verify.models import MetricStatus, Verdict

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "templates"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _strings(language: str) -> dict[str, str]:
    import yaml

    return flatten(yaml.safe_load((TEMPLATES / "i18n" / f"{language}.yaml").read_text(encoding="utf-8")))


def test_every_string_exists_in_both_languages_with_the_same_placeholders() -> None:
    ru, en = _strings("ru"), _strings("en")
    assert set(ru) == set(en), f"only in ru: {set(ru) - set(en)}; only in en: {set(en) - set(ru)}"
    for key in ru:
        assert ru[key].strip() and en[key].strip(), key
        assert placeholders(ru[key]) == placeholders(en[key]), key


@pytest.mark.parametrize(
    ("language", "n", "expected"),
    [
        ("ru", 1, "1 ядро"),
        ("ru", 2, "2 ядра"),
        ("ru", 4, "4 ядра"),
        ("ru", 5, "5 ядер"),
        ("ru", 11, "11 ядер"),
        ("ru", 12, "12 ядер"),
        ("ru", 16, "16 ядер"),
        ("ru", 21, "21 ядро"),
        ("ru", 22, "22 ядра"),
        ("ru", 111, "111 ядер"),
        ("en", 1, "1 core"),
        ("en", 2, "2 cores"),
        ("en", 0, "0 cores"),
    ],
)
def test_counts_take_the_plural_form_of_the_language(language: str, n: int, expected: str) -> None:
    assert load_strings(TEMPLATES, language).count("env.cores", n) == expected


def test_every_string_the_code_and_templates_ask_for_exists() -> None:
    keys = set(_strings("en"))
    used: set[str] = set()
    for template in TEMPLATES.glob("*.j2"):
        used |= set(re.findall(r'\bt\("([a-z_.]+)"', template.read_text(encoding="utf-8")))
    for source in [
        *(REPO / "grader" / "report").glob("*.py"),
        *(REPO / "grader" / "leaderboard").glob("*.py"),
    ]:
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r'\b(?:s|w\.s|self\.s)(?:\.count)?\("([a-z_.]+)"', text))
    # keys built at run time from the enums they stand for
    used |= {f"verdict.{v.value}.{part}" for v in Verdict for part in ("title", "next")}
    used |= {f"status.{s.value}" for s in MetricStatus}
    used |= {f"methods.{m.value}" for m in Method}
    used |= {f"rules.{r.value}" for r in ScoringRule}
    used |= {f"formats.{f}" for f in Format.__args__ if f != "safetensors"}  # type: ignore[attr-defined]
    assert len(used) > 80
    assert used - keys == set()


def test_the_comment_uses_the_courses_own_columns() -> None:
    ru = render_comment(grade_pass(), "ru")
    en = render_comment(grade_pass(), "en")
    assert (
        "| Модель | Метод | Размер весов | Время инференса CPU | Время инференса GPU | RAM | VRAM | Качество |"  # noqa: E501
        in ru
    )
    assert (
        "| Model | Method | Weights size | CPU inference time | GPU inference time | RAM | VRAM | Quality |"
        in en
    )
    assert "437.9 MB ✅ (заявлено 438 MB)" in ru and "437.9 MB ✅ (claimed 438 MB)" in en
    assert "<details><summary>" in ru and "</details>" in ru
    assert render_comment(grade_pass()) == ru  # the course's language by default


def test_an_off_claim_shows_claim_measurement_and_difference() -> None:
    en = render_comment(grade_mismatch(), "en")
    assert "❌ 302 MB claimed, measured 437.9 MB (+45 %)" in en
    assert "54.7 MB" in en  # the codebook hint for the 2025 clustered-model claim


def _table_rows(markdown: str, header_start: str) -> list[str]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_hostile_submission_text_cannot_break_the_table_or_ping_anyone() -> None:
    grade = grade_pass()
    hostile = "int8 | <img src=x onerror=alert(1)> @course-instructor [click](https://evil) **x**"
    entries = [
        e.model_copy(update={"name": hostile, "details": "line one\n| line two |"}) for e in grade.entries
    ]
    grade = grade.model_copy(update={"entries": entries})
    for language in ("ru", "en"):
        text = render_comment(grade, language)
        rows = _table_rows(text, "| Мод" if language == "ru" else "| Model")
        widths = {len(UNESCAPED_PIPE.findall(row)) for row in rows}
        assert widths == {9}, rows  # 8 columns: every row, header and separator included
        assert "@course-instructor" not in text  # a word joiner follows the @
        assert not re.search(r"(?<!\\)<img", text)  # no HTML: every < is escaped
        assert not re.search(r"(?<!\\)\]\(https://evil", text)  # no link
        assert "\\<img src=x onerror=alert(1)\\>" in text


def test_check_run_title_and_summary() -> None:
    title, summary = render_check_run(grade_failed(), "en")
    assert title == "💥 ml_masters HW-5: A measurement failed"
    assert "model.onnx is not a valid ONNX model" in summary
    assert len(summary) < 65_535
    ru_title, _ = render_check_run(grade_failed(), "ru")
    assert ru_title == "💥 ml_masters HW-5: Замер не удался"


def test_the_summary_lists_every_check() -> None:
    grade = grade_mismatch()
    summary = render_summary(grade, "en")
    rows = _table_rows(summary, "| Model | Metric |")
    assert len(rows) - 2 == sum(len(e.checks) for e in grade.entries)


def test_missing_templates_and_unknown_languages_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        find_templates(tmp_path)
    assert missing.value.findings[0].code == "R001"
    assert "pr_comment.md.j2" in missing.value.findings[0].expected
    with pytest.raises(InputError) as language:
        load_strings(TEMPLATES, "de")
    assert language.value.findings[0].code == "R002"


def test_templates_are_found_from_the_repository_or_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_templates(start=REPO / "grader") == TEMPLATES
    monkeypatch.chdir(tmp_path)  # no course.yaml here: the package's own checkout is used
    assert find_templates() == TEMPLATES


def test_md_escapes_only_what_matters() -> None:
    assert md("macro_f1") == "macro_f1"
    assert md("_x_") == "\\_x\\_"
    assert md("a|b") == "a\\|b"


# --- the CLI -------------------------------------------------------------------------------------


def _grader(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from grader.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_grader_report_through_the_cli(tmp_path: Path) -> None:
    grade = grade_mismatch()
    path = grade.write(tmp_path / "grade.json")
    out = tmp_path / "comment.md"
    done = _grader("report", str(path), "--language", "en", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == render_comment(grade, "en")
    check = _grader("report", str(path), "--kind", "check-run")
    assert check.returncode == 0, check.stderr
    data = json.loads(check.stdout)
    assert data["title"].startswith("❌ compressors HW-3")
    assert data["summary"] == render_check_run(grade)[1]
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "grade", "schema_version": 1,', encoding="utf-8")
    bad = _grader("report", str(broken))
    assert bad.returncode == 2
    assert "D001" in bad.stderr and "Traceback" not in bad.stderr
