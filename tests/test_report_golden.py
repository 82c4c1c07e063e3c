"""Golden files: the PR comment (ru + en), job summary, check-run text, grade JSON and leaderboard
section for four fixed submissions (pass, claims mismatch, invalid, failed measurement), rendered
by the real verify/report/leaderboard from the documents in tests/golden/cases.py.

Regenerate after an intended change, then review the diff:

    python -m tests.golden.regen
"""

from __future__ import annotations

from pathlib import Path

import pytest
from golden.cases import golden_files

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | bytes]:
    return golden_files(tmp_path_factory.mktemp("golden"))


def test_every_golden_file_is_listed(rendered: dict[str, str | bytes]) -> None:
    on_disk = {p.name for p in GOLDEN.iterdir() if p.suffix in (".md", ".json")}
    assert on_disk == set(rendered), "run `python -m tests.golden.regen` to add or remove golden files"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir() if p.suffix in (".md", ".json")))
def test_golden_file(name: str, rendered: dict[str, str | bytes]) -> None:
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    actual = rendered[name]
    assert actual == expected, (
        f"{name} changed; if intended, run `python -m tests.golden.regen` and review the diff"
    )


def test_the_golden_cases_cover_every_verdict_the_brief_names(rendered: dict[str, str | bytes]) -> None:
    heads = {
        name: str(text).splitlines()[0]
        for name, text in rendered.items()
        if name.startswith("comment_") and name.endswith(".en.md")
    }
    assert "All claims reproduced" in heads["comment_pass.en.md"]
    assert "do not match" in heads["comment_mismatch.en.md"]
    assert "did not validate" in heads["comment_invalid.en.md"]
    assert "measurement failed" in heads["comment_failed.en.md"]
