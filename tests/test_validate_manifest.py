"""validate_manifest and `grader validate`: every check on real YAML files, with real line numbers."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from harness_support import write_tokenizer
from typer.testing import CliRunner

from grader.cli import app
from grader.course import Course, load_course
from grader.findings import Severity
from grader.validate import ValidatedSubmission, validate_manifest
from grader.validate.document import PullRequestContext
from grader.validate.read import read_manifest
from grader.yamlio import load_yaml_text

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
VALID = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")
GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]  # the `grader` entry point


class Repo:
    """A course repository in a temporary folder: course.yaml and one team's submissions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copy(FIXTURES / "course.yaml", root / "course.yaml")
        self.course: Course = load_course(root / "course.yaml")

    def put(
        self, text: str, rel: str = "submissions/ml_masters/hw-2/submission.yaml", *, model: bool = True
    ) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if model:
            write_checkpoint(path.parent / "model")
        return path

    def validate(self, path: Path, **kwargs) -> ValidatedSubmission:
        return validate_manifest(path, self.course, self.root, **kwargs)


def write_checkpoint(folder: Path) -> None:
    """A safetensors checkpoint as save_pretrained writes it (one tiny tensor)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def errors(result: ValidatedSubmission) -> list[tuple[str, int | None]]:
    return [(f.code, f.location.line) for f in result.findings if f.is_error]


def warnings(result: ValidatedSubmission) -> list[tuple[str, int | None]]:
    return [(f.code, f.location.line) for f in result.findings if f.severity is Severity.WARNING]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- a valid manifest -----------------------------------------------------------------------------


def test_valid_manifest(repo: Repo) -> None:
    path = repo.put(VALID)
    result = repo.validate(path)
    assert result.findings == []
    assert result.ok
    assert result.manifest_path == "submissions/ml_masters/hw-2/submission.yaml"
    assert len(result.manifest_sha256) == 64
    assert result.submission is not None and result.submission.team == "ml_masters"
    baseline, int8 = result.entries
    assert (baseline.key, int8.key) == ("baseline", "models[0]")
    assert baseline.artifact_dir is None  # an hf artifact is fetched later
    assert int8.artifact_dir == "submissions/ml_masters/hw-2/model"
    claims = {c.metric: c for c in int8.claims}
    assert claims["latency_cpu"].value == pytest.approx(0.004)
    assert claims["latency_cpu"].per == "item"
    assert claims["latency_cpu"].line == line_of(VALID, "0.0040 s/text")
    assert claims["quality.accuracy"].value == pytest.approx(0.865)
    assert claims["speedup_cpu"].value == pytest.approx(1.5)
    assert claims["size"].value == pytest.approx(45e6) and claims["size"].raw == "45 MB"


def test_homework_may_be_written_as_hw_n(repo: Repo) -> None:
    result = repo.validate(repo.put(VALID.replace("homework: 2", "homework: HW-2")))
    assert result.ok and result.submission is not None and result.submission.homework == 2


# --- five mistakes at once, through the real CLI -------------------------------------------------

FIVE = (FIXTURES / "five_mistakes.yaml").read_text(encoding="utf-8")
FIVE_ERRORS = {
    ("M001", line_of(FIVE, "team: ml_masterz")),
    ("M003", line_of(FIVE, "method: distillation")),
    ("A004", line_of(FIVE, "pytorch_model.bin")),
    ("S002", line_of(FIVE, "claim:")),
    ("U002", line_of(FIVE, "120 Mb")),
}


def put_five(repo: Repo) -> Path:
    path = repo.put(FIVE)
    weights = path.parent / "weights"
    weights.mkdir()
    (weights / "pytorch_model.bin").write_bytes(b"\x80\x04\x95")  # the start of a pickle
    return path


def validate_cli(repo: Repo, manifest: Path, *options: str):
    """`grader validate` in-process, as a user runs it."""
    args = ["validate", str(manifest), "--course", str(repo.root / "course.yaml"), "--repo", str(repo.root)]
    return CliRunner().invoke(app, [*args, *options])


def test_five_mistakes_give_five_findings_at_their_lines(repo: Repo) -> None:
    # the fixture marks one mistake per line; their lines, spelled out:
    assert {("M001", 3), ("M003", 20), ("A004", 22), ("S002", 23), ("U002", 24)} == FIVE_ERRORS
    result = validate_cli(repo, put_five(repo))
    assert result.exit_code == 2, result.output
    heads = re.findall(
        r"^submissions/ml_masters/hw-2/submission\.yaml:(\d+):\d+: (\w\d{3}) error", result.output, re.M
    )
    assert {(code, int(line)) for line, code in heads} == FIVE_ERRORS
    assert len(heads) == 5
    assert "did you mean 'ml_masters'" in result.output
    assert "did you mean 'claims'" in result.output
    assert "15.0 MB if read as megabits" in result.output
    assert "5 errors" in result.output


def test_five_mistakes_as_json_and_out_file(repo: Repo) -> None:
    out = repo.root / "out" / "validated.json"
    result = validate_cli(repo, put_five(repo), "--format", "json", "--out", str(out))
    assert result.exit_code == 2
    printed = json.loads(result.stdout)
    errors_printed = {
        (f["code"], f["location"]["line"]) for f in printed["findings"] if f["severity"] == "error"
    }
    assert errors_printed == FIVE_ERRORS
    document = ValidatedSubmission.read(out)
    assert not document.ok and document.submission is None
    assert len(document.course_sha256) == 64


def test_github_annotations(repo: Repo) -> None:
    result = validate_cli(repo, put_five(repo), "--format", "github")
    assert result.exit_code == 2
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(lines) == 5
    assert lines[0].startswith(
        "::error file=submissions/ml_masters/hw-2/submission.yaml,line=3,col=7,title=M001 team::"
    )


def test_syntax_error_through_a_subprocess_has_line_and_no_traceback(repo: Repo) -> None:
    path = repo.put((FIXTURES / "syntax_error.yaml").read_text(encoding="utf-8"))
    proc = subprocess.run(
        [*GRADER, "validate", str(path), "--course", str(repo.root / "course.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert re.search(r"submission\.yaml:6:11: Y001 error: YAML syntax error", proc.stdout), proc.stdout


# --- each check alone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "code", "needle", "hint"),
    [
        ("team: ml_masters", "team: ml_master", "M001", "team:", "did you mean 'ml_masters'"),
        ("method: quantization", "method: distillation", "M003", "method:", "quantization, pruning"),
        ("    method: quantization\n", "", "M003", "- name: int8", "add `method: quantization`"),
        (
            "task: text-classification",
            "task: text-clasification",
            "M004",
            "task:",
            "did you mean 'text-classification'",
        ),
        ("task: text-classification", "task: image-classification\neval: reviews", "M005", "eval:", ""),
        (
            "task: text-classification",
            "task: text-classification\neval: reveiws",
            "M005",
            "eval:",
            "did you mean 'reviews'",
        ),
        (
            "task: text-classification",
            "task: text-classification\nparams: {latency_text: x}",
            "M006",
            "params:",
            "",
        ),
        (
            "task: text-classification",
            "task: text-classification\nparams:\n  max_length: long",
            "M006",
            "long",
            "",
        ),
        ("name: int8", "name: Base", "M009", "name: Base", ""),
        ("accuracy: 0.865", "acuracy: 0.865", "M011", "acuracy", "did you mean 'accuracy'"),
        ("0.0040 s/text", "0.1 ms/token", "M012", "ms/token", ""),
        ("size: 45 MB", "size: 45 Mb", "U002", "45 Mb", "megabits"),
        ("size: 45 MB", "size: 1,330 MB", "U005", "1,330", ""),
        ("size: 45 MB", "size: 45", "U004", "size: 45", ""),
        ("accuracy: 0.865", "accuracy: 186.5%", "U007", "186.5%", ""),
        ("size: 45 MB", "size: yes", "U001", "size: yes", ""),  # YAML reads `yes` as true
    ],
)
def test_each_check_alone(repo: Repo, old: str, new: str, code: str, needle: str, hint: str) -> None:
    text = VALID.replace(old, new, 1)
    assert text != VALID
    result = repo.validate(repo.put(text))
    assert errors(result) == [(code, line_of(text, needle))], result.findings
    finding = next(f for f in result.findings if f.code == code)
    assert hint in finding.hint + finding.expected
    assert finding.message and finding.expected


def test_an_unknown_task_is_reported_once(repo: Repo) -> None:
    text = VALID.replace("task: text-classification", "task: speech\neval: reviews\nparams: {max_length: 64}")
    result = repo.validate(repo.put(text))
    assert errors(result) == [("M004", line_of(text, "task: speech"))]


def test_params_the_course_allows_are_fine(repo: Repo) -> None:
    text = VALID.replace("task: text-classification", "task: text-classification\nparams: {max_length: 64}")
    assert repo.validate(repo.put(text)).ok


def test_baseline_entry_must_be_a_baseline(repo: Repo) -> None:
    text = VALID.replace("  name: base\n", "  name: base\n  method: pruning\n")
    result = repo.validate(repo.put(text))
    assert errors(result) == [("M003", line_of(text, "method: pruning"))]


def test_baseline_missing(repo: Repo) -> None:
    text = VALID[: VALID.index("baseline:")] + VALID[VALID.index("models:") :]
    result = repo.validate(repo.put(text))
    assert errors(result) == [("M007", line_of(text, "models:"))]
    # the speed-up claim has nothing to be compared with: a warning, not an error
    assert warnings(result) == [("M015", line_of(text, "speedup_cpu"))]


def test_an_empty_baseline_is_a_missing_baseline(repo: Repo) -> None:
    text = VALID[: VALID.index("baseline:")] + "baseline:\n\n" + VALID[VALID.index("models:") :]
    assert ("M007", line_of(text, "models:")) in errors(repo.validate(repo.put(text)))


def test_ratio_claims_on_the_baseline_warn(repo: Repo) -> None:
    text = VALID.replace("    size: 118 MB\n", "    size: 118 MB\n    compression: 1x\n")
    result = repo.validate(repo.put(text))
    assert result.ok
    assert warnings(result) == [("M015", line_of(text, "compression: 1x"))]


def test_required_metrics_not_claimed_warn_but_validate(repo: Repo) -> None:
    text = VALID.replace("      latency_cpu: 0.0040 s/text\n", "").replace(
        "      quality:\n        accuracy: 0.865\n", ""
    )
    result = repo.validate(repo.put(text))
    assert result.ok
    [finding] = [f for f in result.findings if f.code == "M008"]
    assert finding.severity is Severity.WARNING
    assert "latency_cpu, quality.accuracy" in finding.message
    assert finding.location.field == "models[0].claims"


def test_bare_percent_is_read_with_a_warning(repo: Repo) -> None:
    text = VALID.replace("accuracy: 0.865", "accuracy: 86.5")
    result = repo.validate(repo.put(text))
    assert result.ok
    assert warnings(result) == [("U006", line_of(text, "accuracy: 86.5"))]
    accuracy = next(c for c in result.entries[1].claims if c.metric == "quality.accuracy")
    assert accuracy.value == pytest.approx(0.865)


def test_per_batch_latency_at_batch_size_one_is_read_per_item(repo: Repo) -> None:
    text = VALID.replace("0.0040 s/text", "4 ms/batch")
    result = repo.validate(repo.put(text))
    assert result.ok
    assert warnings(result) == [("M013", line_of(text, "ms/batch"))]
    latency = next(c for c in result.entries[1].claims if c.metric == "latency_cpu")
    assert (latency.per, latency.value) == ("item", pytest.approx(0.004))


def test_torchscript_needs_permission(repo: Repo) -> None:
    text = VALID.replace("      path: model/\n", "      path: scripted.pt\n    format: torchscript\n")
    path = repo.put(text)
    (path.parent / "scripted.pt").write_bytes(b"PK\x03\x04")
    write_tokenizer(path.parent)  # the side file a text model needs beside its archive (A016)
    refused = repo.validate(path)
    assert errors(refused) == [("M010", line_of(text, "format: torchscript"))]
    assert "allow-torchscript" in next(f.hint for f in refused.findings if f.code == "M010")
    assert repo.validate(path, allow_code_formats=True).ok
    pr = PullRequestContext(
        number=1,
        head_sha="0" * 40,
        author="alice",
        title="ml_masters HW-2",
        base_ref="lesson-2",
        changed_files=["submissions/ml_masters/hw-2/submission.yaml"],
        labels=["allow-torchscript"],
        event_time="2025-09-30T12:00:00+03:00",
    )
    assert repo.validate(path, pr=pr).ok


# --- where the manifest lives ---------------------------------------------------------------------


def test_manifest_in_the_wrong_place(repo: Repo) -> None:
    result = repo.validate(repo.put(VALID, "submissions/ml_masters/hw2/manifest.yaml"))
    assert errors(result) == [("M014", None)]
    assert result.findings[0].hint == "move it to submissions/ml_masters/hw-2/submission.yaml"


def test_manifest_directly_in_submissions(repo: Repo) -> None:
    result = repo.validate(repo.put(VALID, "submissions/submission.yaml"))
    assert errors(result) == [("M014", None)]


def test_manifest_in_another_teams_folder(repo: Repo) -> None:
    result = repo.validate(repo.put(VALID, "submissions/compressors/hw-2/submission.yaml"))
    assert errors(result) == [("M014", line_of(VALID, "team:"))]


def test_manifest_in_another_homeworks_folder(repo: Repo) -> None:
    result = repo.validate(repo.put(VALID, "submissions/ml_masters/hw-3/submission.yaml"))
    assert errors(result) == [("M014", line_of(VALID, "homework:"))]


def test_manifest_outside_submissions_has_no_place_rule(repo: Repo) -> None:
    assert repo.validate(repo.put(VALID, "drafts/submission.yaml")).ok


def test_unknown_homework(repo: Repo) -> None:
    text = VALID.replace("homework: 2", "homework: 9")
    result = repo.validate(repo.put(text, "submissions/ml_masters/hw-9/submission.yaml"))
    assert errors(result) == [("M002", line_of(text, "homework: 9"))]
    assert "1, 2, 3" in result.findings[0].expected


# --- bad documents -------------------------------------------------------------------------------


def test_empty_manifest(repo: Repo) -> None:
    result = repo.validate(repo.put("# nothing yet\n"))
    assert [f.code for f in result.findings] == ["Y003"]
    assert not result.ok


def test_a_linked_manifest_is_not_read(repo: Repo, tmp_path_factory) -> None:
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("password: hunter2\n: broken")
    path = repo.root / "submissions/ml_masters/hw-2/submission.yaml"
    path.parent.mkdir(parents=True)
    path.symlink_to(secret)
    result = repo.validate(path)
    assert [f.code for f in result.findings] == ["Y003"]
    assert "hunter2" not in result.to_json()
    assert result.manifest_sha256 == ""


def test_a_list_is_not_a_manifest(repo: Repo) -> None:
    result = repo.validate(repo.put("- team: ml_masters\n"))
    assert [f.code for f in result.findings] == ["S004"]


def test_a_schema_mistake_does_not_hide_course_claim_and_artifact_mistakes(repo: Repo) -> None:
    text = (
        VALID.replace("task: text-classification", "task: text-classification\ncolour: blue")
        .replace("team: ml_masters", "team: nobody")
        .replace("size: 45 MB", "size: 45 Mb")
        .replace("path: model/", "path: modle/")
    )
    result = repo.validate(repo.put(text))
    assert sorted(errors(result)) == sorted(
        [
            ("S002", line_of(text, "colour")),
            ("M001", line_of(text, "team: nobody")),
            ("U002", line_of(text, "45 Mb")),
            ("A002", line_of(text, "modle/")),
        ]
    )
    assert "did you mean 'model'" in next(f.hint for f in result.findings if f.code == "A002")


def test_text_that_looks_like_markup_is_printed_as_written(repo: Repo) -> None:
    text = VALID.replace("team: ml_masters", 'team: "[/red] Bad[bold]"').replace(
        "revision: 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8", "revision: main"
    )
    result = validate_cli(repo, repo.put(text))
    assert result.exit_code == 2, result.output
    assert "pattern '^[a-z0-9][a-z0-9_-]{0,39}$'" in result.output
    assert "found:    '[/red] Bad[bold]'" in result.output
    assert "40-hex commit id" in result.output  # the hint for `revision: main`


def test_wrong_type_of_claim_is_one_finding(repo: Repo) -> None:
    text = VALID.replace("size: 45 MB", "size: [45, MB]")
    result = repo.validate(repo.put(text))
    assert errors(result) == [("S004", line_of(text, "[45, MB]"))]
    assert result.findings[0].expected == "text or a number"
    assert "455 MB" in result.findings[0].hint


# --- examples and documentation ------------------------------------------------------------------

EXAMPLES = sorted((REPO / "submissions" / "_examples").glob("hw-*/submission.yaml"))


def test_there_is_one_example_per_homework() -> None:
    course = load_course(REPO / "course.yaml")
    assert [p.parent.name for p in EXAMPLES] == [f"hw-{hw.id}" for hw in course.homeworks]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_validate_without_errors(path: Path) -> None:
    result = validate_manifest(path, load_course(REPO / "course.yaml"), REPO)
    assert [f for f in result.findings if f.is_error] == []
    assert result.ok
    assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../../schema.json\n")


def test_the_readme_example_follows_the_schema() -> None:
    readme = (REPO / "submissions" / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", readme, re.S)
    assert block is not None
    loaded = load_yaml_text(block.group(1), "README.md")
    read = read_manifest(loaded.data, loaded.positions)
    assert read.findings == []
    assert read.submission is not None and len(read.submission.models) == 2
