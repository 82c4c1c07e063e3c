"""Writes of records, README and plots are atomic (issue #10): a `grader leaderboard` killed mid-write
leaves the old README whole; concurrent writers of one record never expose half a file or fail
to rename; an empty README is refused instead of losing the course's text."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from golden.cases import leaderboard_grades
from golden.factory import make_course

from grader.atomic import PAUSE_ENV, write_atomic
from grader.errors import InputError
from grader.leaderboard import collect, update_leaderboard

OLD_README = (
    "# Compression course\n\nThe course's own text, which must survive every leaderboard run.\n\n"
    "<!-- leaderboard:start -->\nthe old table\n<!-- leaderboard:end -->\n\nMore course text.\n"
)


def course_repo(root: Path) -> Path:
    (root / "course.yaml").write_text(
        yaml.safe_dump(make_course().model_dump(mode="json", exclude_none=True), allow_unicode=True),
        encoding="utf-8",
    )
    (root / "README.md").write_text(OLD_README, encoding="utf-8")
    for grade in leaderboard_grades():
        collect(grade, root / "leaderboard" / "results")
    return root


def grader(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grader.cli", *args],
        cwd=cwd,
        env=os.environ | (env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, child: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if child.poll() is not None:
            raise AssertionError(f"grader ended before the write: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("grader never reached the README write")
        time.sleep(0.05)


def test_kill_9_during_grader_leaderboard_leaves_the_old_readme_intact(tmp_path: Path) -> None:
    root = course_repo(tmp_path)
    marker = tmp_path / "paused-mid-write"
    child = grader("leaderboard", "--language", "en", cwd=root, env={PAUSE_ENV: str(marker)})
    wait_for(marker, child)  # the new README is half written to its temporary file
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert (root / "README.md").read_text(encoding="utf-8") == OLD_README
    # the next run, not killed, writes the whole README: course text kept, section regenerated
    again = grader("leaderboard", "--language", "en", cwd=root)
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    text = (root / "README.md").read_text(encoding="utf-8")
    assert text.startswith("# Compression course\n\nThe course's own text")
    assert text.endswith("More course text.\n") and "the old table" not in text
    assert "### HW-" in text


def test_write_atomic_pause_hook_really_pauses_halfway(tmp_path: Path) -> None:
    """The hook the kill test relies on: half the bytes in the temporary file, the target untouched."""
    target = tmp_path / "f.txt"
    target.write_text("old", encoding="utf-8")
    marker = tmp_path / "marker"
    code = (
        "import sys; from pathlib import Path; from grader.atomic import write_atomic; "
        f"write_atomic(Path({str(target)!r}), 'x' * 1000)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ | {PAUSE_ENV: str(marker)})
    wait_for(marker, child, timeout_s=60)
    temporary = [p for p in tmp_path.iterdir() if p.name.startswith(".f.txt.") and p.name.endswith(".tmp")]
    assert len(temporary) == 1 and temporary[0].stat().st_size == 500
    child.kill()
    child.wait()
    assert target.read_text(encoding="utf-8") == "old"


WRITER = """
import sys
import time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from golden.cases import grade_pass
from grader.leaderboard.records import record_from_grade
path, pr, count, go = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[5])
grade = grade_pass(pr=pr)
# A record of a few hundred KB, so that a write takes long enough for the writers to overlap.
entries = [e.model_copy(update={"details": str(pr) * 100_000}) for e in grade.entries]
record = record_from_grade(grade.model_copy(update={"entries": entries}))
while not go.exists():  # both writers start together
    time.sleep(0.001)
for _ in range(count):
    record.write(path)  # LeaderboardRecord.write: the way `grader collect` writes a record
"""


def test_concurrent_writers_of_one_record_never_expose_half_a_file(tmp_path: Path) -> None:
    """With one fixed `<name>.tmp` for both writers, this saw hundreds of half-written reads and
    dozens of failed renames in 800 writes; with unique temporary files, none."""
    from golden.cases import grade_pass

    from grader.leaderboard.records import LeaderboardRecord, record_from_grade

    record = tmp_path / "hw-2" / "ml_masters.json"
    record_from_grade(grade_pass(pr=1)).write(record)
    go = tmp_path / "go"
    tests = str(Path(__file__).parent)
    commands = [[sys.executable, "-c", WRITER, str(record), pr, "400", tests, str(go)] for pr in ("1", "2")]
    writers = [subprocess.Popen(command, stderr=subprocess.PIPE) for command in commands]
    time.sleep(1.0)  # let both import and wait at the barrier
    go.write_text("", encoding="utf-8")
    reads, seen = 0, set()
    while any(w.poll() is None for w in writers):
        read = LeaderboardRecord.read(record)  # a half-written record fails to parse here
        details = [e.details for e in read.entries]
        if any(len(d or "") == 100_000 for d in details):  # a writer's record, not the seed
            assert len(set(details)) == 1  # one writer's whole record, never a mixture
        seen.add(read.source.pr_number)
        reads += 1
    for writer in writers:
        _, stderr = writer.communicate()
        assert writer.returncode == 0, stderr.decode()  # no rename ever failed
    assert reads > 10 and seen <= {1, 2}
    assert sorted(p.name for p in record.parent.iterdir()) == ["ml_masters.json"]  # no temporary left


def test_write_atomic_keeps_the_mode_and_cleans_up_after_a_failure(tmp_path: Path) -> None:
    target = tmp_path / "README.md"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o664)
    write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "new" and (target.stat().st_mode & 0o777) == 0o664
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_every_writer_of_records_readme_and_plots_uses_the_atomic_helper() -> None:
    """No truncating writes left where a killed job would lose data."""
    root = Path(__file__).resolve().parents[1] / "grader"
    for rel in ("documents.py", "leaderboard/__init__.py", "leaderboard/plots.py", "report/command.py"):
        text = (root / rel).read_text(encoding="utf-8")
        assert "write_atomic(" in text, rel
        assert ".write_text(" not in text and ".write_bytes(" not in text, rel


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["zero-bytes", "blank"])
def test_an_empty_readme_is_refused_not_overwritten(tmp_path: Path, content: str) -> None:
    root = course_repo(tmp_path)
    readme = root / "README.md"
    readme.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as error:
        update_leaderboard(root / "leaderboard" / "results", readme, root / "plots", make_course())
    assert [f.code for f in error.value.findings] == ["L003"]
    assert readme.read_text(encoding="utf-8") == content


def test_a_readme_without_markers_keeps_its_text_and_says_so(tmp_path: Path) -> None:
    root = course_repo(tmp_path)
    readme = root / "README.md"
    readme.write_text("# Course\n\nText without markers.\n", encoding="utf-8")
    outcome = update_leaderboard(root / "leaderboard" / "results", readme, root / "plots", make_course())
    assert outcome.markers_added
    assert readme.read_text(encoding="utf-8").startswith("# Course\n\nText without markers.\n")
