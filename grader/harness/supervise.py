"""Watching measurement children: time limit, memory limit, and reaping with os.wait4.

One Supervisor serves the zygote (for the children it forks) and the fallback runner (for the
`python -m grader.harness.child` processes it spawns), so a child is held to its limits the same
way whichever process started it. The memory watchdog reads the kernel's high-water mark
(VmHWM) rather than the current RSS, so a spike between two polls is still seen; and after the
child is reaped, wait4's ru_maxrss gives the exact peak even for a child that finished between
polls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

from grader.harness.jobs import ExitInfo, Limits
from grader.harness.memory import hwm_bytes, maxrss_bytes

POLL_S = 0.02


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def kill_process_group(pid: int) -> None:
    """SIGKILL the child and anything it started (each child leads its own process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class _Watched:
    key: str
    pid: int
    limits: Limits
    started: float
    killed_for: str | None = None
    hwm_seen: int | None = None


class Supervisor:
    def __init__(self) -> None:
        self._watched: dict[int, _Watched] = {}

    def add(self, key: str, pid: int, limits: Limits, started: float | None = None) -> None:
        self._watched[pid] = _Watched(key, pid, limits, started if started is not None else time.monotonic())

    @property
    def busy(self) -> bool:
        return bool(self._watched)

    def poll(self) -> list[tuple[str, ExitInfo]]:
        """Reap the children that ended; kill those past a limit (they are reaped on a later poll)."""
        done: list[tuple[str, ExitInfo]] = []
        now = time.monotonic()
        for pid, watched in list(self._watched.items()):
            try:
                reaped, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else: nothing more can be learned
                del self._watched[pid]
                done.append((watched.key, ExitInfo(pid=pid, wall_s=now - watched.started)))
                continue
            if reaped == 0:
                self._enforce(watched, now)
                continue
            del self._watched[pid]
            done.append((watched.key, _exit_info(watched, status, usage.ru_maxrss, now)))
        return done

    def _enforce(self, watched: _Watched, now: float) -> None:
        if watched.killed_for is not None:
            return
        hwm = hwm_bytes(watched.pid)
        if hwm is not None:
            watched.hwm_seen = max(hwm, watched.hwm_seen or 0)
        if now - watched.started > watched.limits.timeout_s:
            watched.killed_for = "timeout"
        elif watched.limits.memory_bytes is not None and (hwm or 0) > watched.limits.memory_bytes:
            watched.killed_for = "memory"
        if watched.killed_for is not None:
            kill_process_group(watched.pid)

    def wait(self, pid: int, poll_s: float = POLL_S) -> ExitInfo:
        """Block until one child ends (the fallback runner supervises one child per thread)."""
        while True:
            for _key, info in self.poll():
                if info.pid == pid:
                    return info
            time.sleep(poll_s)

    def kill_all(self) -> None:
        for pid in list(self._watched):
            kill_process_group(pid)


def _exit_info(watched: _Watched, status: int, ru_maxrss_kib: int, now: float) -> ExitInfo:
    return ExitInfo(
        pid=watched.pid,
        exit_code=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
        signal=signal_name(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else None,
        ru_maxrss_bytes=maxrss_bytes(ru_maxrss_kib) if ru_maxrss_kib else None,
        hwm_seen_bytes=watched.hwm_seen,
        wall_s=now - watched.started,
        killed_for=watched.killed_for,
    )
