"""`grader site`: the static course page, built from a demo-like set of records and opened in
headless Chromium (Debian's package) as a person would: no console error, nothing fetched from
outside the folder, tables that sort on a header click and filter on typing, scatters with Pareto
fronts that follow the legend, team pages with their attempts and PR links, names from
submissions shown as text (never as HTML, bidi overrides written out), and a screenshot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser_support import Browser, find_chromium
from golden.cases import grade_pass
from golden.gradebook.cases import gradebook_course, gradebook_grades
from typer.testing import CliRunner

from grader.cli import app
from grader.leaderboard import collect
from grader.site import build_site
from grader.verify.models import Grade

HOSTILE = '<img src=x onerror="window.__pwned=1">\u202egnp.exe'
REPOSITORY = "aitalents/model-compression-2025"


def _hostile_grade() -> Grade:
    """A newer PR of quantum whose model name is HTML with a right-to-left override."""
    grade = grade_pass(team="quantum", pr=80)
    entries = [e.model_copy(update={"name": HOSTILE}) if not e.is_baseline else e for e in grade.entries]
    return grade.model_copy(update={"entries": entries[:2]})


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("site")
    results = root / "results"
    for grade in [*gradebook_grades(), _hostile_grade()]:
        collect(grade, results)
    course = gradebook_course()
    return {lang: build_site(results, root / lang, course, language=lang).out_dir for lang in ("en", "ru")}


# --- the files ------------------------------------------------------------------------------------


def test_the_site_is_static_files_with_the_records_as_json(sites: dict[str, Path]) -> None:
    site = sites["en"]
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert names == {
        ".nojekyll",
        "index.html",
        "app.js",
        "site.css",
        "data.js",
        "records.json",
        "teams/compressors.html",
        "teams/ml_masters.html",
        "teams/quantum.html",
    }
    raw = json.loads((site / "records.json").read_text(encoding="utf-8"))
    assert {r["kind"] for r in raw["records"]} == {"leaderboard-record"}
    assert {a["kind"] for a in raw["attempts"]} == {"leaderboard-attempt"}
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), page  # nothing from elsewhere
        assert "Content-Security-Policy" in text


def test_submission_text_cannot_close_the_script_or_reorder_the_page(sites: dict[str, Path]) -> None:
    data = (sites["en"] / "data.js").read_text(encoding="utf-8")
    assert "<" not in data and ">" not in data and "\u202e" not in data
    assert "\\u003cimg src=x onerror=" in data and "⟨U+202E⟩gnp.exe" in data


def test_site_command_and_its_bad_input(tmp_path: Path) -> None:
    results = tmp_path / "results"
    collect(grade_pass(), results)
    (tmp_path / "file").write_text("", encoding="utf-8")
    refused = CliRunner().invoke(app, ["site", "--out", str(tmp_path / "file"), "--results", str(results)])
    assert refused.exit_code == 2 and "is a file" in " ".join(re.sub("[│╭╮╰╯─]", " ", refused.output).split())
    built = CliRunner().invoke(app, ["site", "--out", str(tmp_path / "site"), "--results", str(results)])
    assert built.exit_code == 0, built.output
    assert (tmp_path / "site" / "teams" / "ml_masters.html").is_file()
    (results / "hw-2" / "ml_masters.json").write_text("[]", encoding="utf-8")
    broken = CliRunner().invoke(app, ["site", "--out", str(tmp_path / "site"), "--results", str(results)])
    assert broken.exit_code == 2 and "ml_masters.json" in broken.output and "Traceback" not in broken.output


# --- in the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip(
            "Chromium is not installed, so the course page cannot be opened in a browser "
            "(Debian: apt-get install -y chromium; .ci/run installs it)"
        )
    opened = Browser(executable)
    yield opened
    opened.close()


def _column(browser: Browser, section: str, index: int) -> list[str]:
    return browser.evaluate(
        f"[...document.querySelectorAll('{section} tbody tr')].filter(r => !r.hidden)"
        f".map(r => r.cells[{index}].textContent)"
    )


def _header_index(browser: Browser, section: str, key: str) -> int:
    return browser.evaluate(
        f"[...document.querySelectorAll('{section} thead th')].findIndex(th => th.dataset.key === '{key}')"
    )


def test_the_course_page_in_a_browser(browser: Browser, sites: dict[str, Path], tmp_path: Path) -> None:
    browser.open((sites["en"] / "index.html").as_uri())
    assert browser.problems == []
    hw2 = "#hw-2"
    team = _header_index(browser, hw2, "team")
    size = _header_index(browser, hw2, "size")
    assert team >= 0 and size >= 0
    browser.click(f"{hw2} th[data-key=team] button")
    teams = _column(browser, hw2, team)
    assert teams == sorted(teams) and len(set(teams)) > 1
    browser.click(f"{hw2} th[data-key=team] button")
    assert _column(browser, hw2, team) == sorted(teams, reverse=True)
    assert browser.evaluate(
        f"document.querySelector('{hw2} th[data-key=team]').getAttribute('aria-sort')"
    ) == ("descending")
    browser.click(f"{hw2} th[data-key=size] button")  # numbers sort as numbers, not as text
    sizes = [float(text.split()[0]) for text in _column(browser, hw2, size) if text != "—"]
    assert sizes == sorted(sizes) and len(sizes) > 2

    # Typing in the filter hides the other rows.
    browser.click(f"{hw2} input[type=search]")
    browser.call("Input.insertText", text="compressors")
    assert set(_column(browser, hw2, team)) == {"compressors"}
    browser.evaluate(
        f"(() => {{ const i = document.querySelector('{hw2} input[type=search]');"
        " i.value = ''; i.dispatchEvent(new Event('input')); })()"
    )

    # The verdict filter: HW-3's mismatching submission, and nothing else.
    browser.evaluate(
        "(() => { const s = document.querySelector('#hw-3 select'); s.value = 'claims_mismatch';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    verdict = _header_index(browser, "#hw-3", "verdict")
    assert set(_column(browser, "#hw-3", verdict)) == {"claim off"}

    # The hostile model name is text: no element was made of it, no handler ran.
    assert browser.evaluate("document.querySelectorAll('main img').length") == 0
    assert browser.evaluate("window.__pwned === undefined")
    cells = browser.evaluate("[...document.querySelectorAll('td')].map(td => td.textContent)")
    assert '<img src=x onerror="window.__pwned=1">⟨U+202E⟩gnp.exe' in cells

    # The scatters: a dot per measured model, a Pareto front, and the legend hides a team.
    dots = browser.evaluate(f"document.querySelectorAll('{hw2} figure[data-kind=size] circle').length")
    assert dots >= 5
    assert browser.evaluate(f"document.querySelectorAll('{hw2} path.front').length") == 2
    browser.click(f"{hw2} .legend label:first-child input")
    fewer = browser.evaluate(f"document.querySelectorAll('{hw2} figure[data-kind=size] circle').length")
    assert 0 < fewer < dots
    browser.click(f"{hw2} .legend label:first-child input")
    assert browser.problems == []
    shot = browser.screenshot(tmp_path / "site.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_team_page_in_a_browser(browser: Browser, sites: dict[str, Path]) -> None:
    browser.open((sites["en"] / "teams" / "ml_masters.html").as_uri())
    assert browser.problems == []
    rows = browser.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.cells[0].textContent)")
    assert sorted(rows) == ["HW-2", "HW-2", "HW-4"]
    links = browser.evaluate("[...document.querySelectorAll('td a')].map(a => a.href)")
    assert f"https://github.com/{REPOSITORY}/pull/42" in links
    assert any(link.startswith(f"https://github.com/{REPOSITORY}/commit/") for link in links)
    text = browser.evaluate("document.body.innerText")
    assert "replaced the grading of 2025-03-14 10:00:00 UTC: the same PR, graded again" in text
    assert browser.evaluate("document.querySelector('a').getAttribute('href')") == "../index.html"
    browser.click("thead th:nth-child(2) button")  # by grading time
    times = browser.evaluate("[...document.querySelectorAll('tbody tr')].map(r => r.cells[1].textContent)")
    assert times == sorted(times)


def test_the_russian_page(browser: Browser, sites: dict[str, Path]) -> None:
    browser.open((sites["ru"] / "index.html").as_uri())
    assert browser.problems == []
    assert browser.evaluate("document.documentElement.lang") == "ru"
    text = browser.evaluate("document.body.innerText")
    assert "Размер весов и качество" in text and "Фронт Парето" in text
    assert all(url.startswith("file://") for url in browser.requests), browser.requests


def test_a_course_with_no_records_yet(browser: Browser, tmp_path: Path) -> None:
    site = build_site(tmp_path / "results", tmp_path / "site", gradebook_course(), language="en").out_dir
    browser.open((site / "index.html").as_uri())
    assert browser.problems == []
    assert browser.evaluate("document.querySelectorAll('section.homework').length") == 0


def test_a_flat_speed_up_range_gets_distinct_axis_labels(
    browser: Browser, sites: dict[str, Path], tmp_path: Path
) -> None:
    """Speed-ups of 1.000–1.006× (the demo's HW-3: a clustered model as fast as its baseline):
    each axis's tick labels carry the decimals that tell them apart, never "1, 1, 1.01"."""
    import shutil

    site = tmp_path / "flat"
    shutil.copytree(sites["en"], site)
    data = site / "data.js"
    values = iter([1.0, 1.002, 1.004, 1.006] * 50)
    text = data.read_text(encoding="utf-8")
    flat = re.sub(r'"speedup": [0-9.]+', lambda _: f'"speedup": {next(values)}', text)
    data.write_text(flat, encoding="utf-8")
    browser.open((site / "index.html").as_uri())
    assert browser.problems == []
    axes = browser.evaluate(
        "[...document.querySelectorAll('figure svg.scatter')].flatMap(s => ['x', 'y'].map(a =>"
        " [...s.querySelectorAll('text.tick.' + a)].map(t => t.textContent)))"
    )
    assert len(axes) >= 4
    for labels in axes:
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    speed = browser.evaluate(
        "[...document.querySelectorAll('figure[data-kind=speed] text.tick.x')].map(t => t.textContent)"
    )
    assert "1.002" in speed or "1.001" in speed, speed
