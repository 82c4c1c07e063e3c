"""Atomic file writes: a reader sees the old bytes or the new ones, never a mixture, never nothing.

Every file the grader produces that someone else reads (stage documents, leaderboard records,
the README, plots, reports) goes through :func:`write_atomic`: the bytes go to a temporary file of
a unique name in the same folder (so the rename cannot cross file systems, and two writers of the
same file never share one temporary file), are flushed to disk with fsync, and the file is
renamed over the target with ``os.replace``, which POSIX makes atomic. A job killed at any point
leaves the old file intact, at worst with a stray ``.<name>.*.tmp`` beside it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

# Test hook: when set to a path, the writer creates that file halfway through writing the
# temporary file and then waits, so a test can SIGKILL a real `grader` process mid-write at a
# known point. Unset in any real run; reading one variable costs nothing.
PAUSE_ENV = "GRADER_TEST_PAUSE_MID_WRITE"
_DEFAULT_MODE = 0o644


def write_atomic(path: Path, data: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``data`` atomically; creates the parent folder if needed."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            half = len(payload) // 2
            handle.write(payload[:half])
            _maybe_pause(handle)
            handle.write(payload[half:])
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(_mode_for(path))  # mkstemp makes 0600; keep the file's mode, or the usual one
        tmp.replace(path)  # os.replace: atomic on POSIX
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)
    return path


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return _DEFAULT_MODE


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some file systems do not allow opening folders."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _maybe_pause(handle: BinaryIO) -> None:
    marker = os.environ.get(PAUSE_ENV)
    if not marker:
        return
    handle.flush()  # the half written so far is really in the file
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    while True:  # until the test kills us
        time.sleep(1)
