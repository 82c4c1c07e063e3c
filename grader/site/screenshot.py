"""A PNG of the course page, taken by headless Chromium (`grader demo` puts it beside the plots).

Chromium is optional: without it, or if it fails, the caller gets the reason instead of a file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def screenshot(
    page: Path, out: Path, *, width: int = 1280, height: int = 1500, timeout_s: float = 60
) -> str | None:
    """Write ``page`` (an HTML file) as ``out`` (PNG); None when done, else why not."""
    executable = find_chromium()
    if executable is None:
        return "Chromium is not installed (Debian: apt-get install chromium)"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grader-shot-") as profile:
        tmp = Path(profile) / "shot.png"
        command = [
            executable,
            "--headless",
            "--no-sandbox",  # as root in a container Chromium's sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={tmp}",
            page.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"Chromium did not take the screenshot: {error}"
        if done.returncode != 0 or not tmp.is_file():
            tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
            return f"Chromium did not take the screenshot (exit {done.returncode}): {tail[0][:300]}"
        from grader.atomic import write_atomic

        write_atomic(out, tmp.read_bytes())
    return None
