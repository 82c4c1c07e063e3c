"""Running measurement children from the parent: through zygotes, or plain subprocesses.

``Runner.run(job, limits, preload=...)`` runs one job in a fresh process and returns a
ChildOutcome: the status and reason of the phase, the child's own report, how it exited (from
wait4) and the tail of its log. A child that times out, exceeds its memory limit, crashes or
raises is a FAILED outcome with the reason; it never raises here.

One zygote per preload set (the modules a backend imports) is started lazily, with the thread
environment set, and forks a child per job. If a zygote cannot start (an import fails, it holds
threads after importing, it dies), jobs for that preload set run as
`python -m grader.harness.child` subprocesses instead, watched by the same Supervisor.
``run`` is thread-safe: the caller decides what may run side by side.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grader
from grader.harness.gpu import cuda_fork_problem
from grader.harness.jobs import ChildReport, ExitInfo, Job, JobEnvelope, Limits
from grader.harness.memory import MIB
from grader.harness.models import Status
from grader.harness.supervise import Supervisor, kill_process_group

# `-P`: the working folder (the course repository, submissions included) is not put on sys.path,
# so no file there can stand in for a module the harness imports. The grader itself is found
# through PYTHONPATH (see _child_env) or site-packages.
SAFE_PATH = ("-P",)
ZYGOTE_START_TIMEOUT_S = 180.0
ZYGOTE_GRACE_S = 60.0  # beyond a job's own time limit, before the parent gives up on the zygote
TAIL_BYTES = 4000
TAIL_LINES = 25

STAGE_TEXT = {
    "setup": "setting up the measurement failed",
    "load": "loading the model failed",
    "inputs": "preparing the inputs failed",
    "first_call": "the first call of the model failed",
    "latency": "the latency run failed",
    "memory": "the memory run failed",
    "quality": "the quality evaluation failed",
    "providers": "the model did not run on the GPU",
}


@dataclass
class ChildOutcome:
    id: str
    status: Status
    reason: str
    report: ChildReport | None
    exit: ExitInfo | None
    stderr_tail: str = ""
    process: str = ""  # "zygote (torch, transformers)" or "subprocess (...why...)"

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    info: ExitInfo | None = None
    error: str | None = None


class _ZygoteClient:
    """The parent's end of one zygote: sends spawn requests, routes exit events to waiters."""

    def __init__(self, preload: tuple[str, ...], python: str, env: Mapping[str, str], log_path: Path) -> None:
        self.preload = preload
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.proc = subprocess.Popen(
            [python, *SAFE_PATH, "-m", "grader.harness.zygote", "--preload", ",".join(preload)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=dict(env),
            start_new_session=True,  # Ctrl-C reaches the parent, which then shuts the zygote down
        )
        self.ready = threading.Event()
        self.ready_info: dict[str, Any] = {}
        self.error: str | None = None
        self._lock = threading.Lock()
        self._waiters: dict[str, _Waiter] = {}
        self._reader = threading.Thread(target=self._read_events, name=f"zygote-{preload[:2]}", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.error is None and self.proc.poll() is None

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            self._dispatch(event)
        code = self.proc.wait()
        self._fail_all(f"the measurement zygote exited (code {code}); {self.log_tail()}")

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "ready":
            self.ready_info = event
            self.ready.set()
        elif kind == "error":
            self.error = str(event.get("message"))
            self.ready.set()
        elif kind in ("started", "exit", "rejected"):
            with self._lock:
                waiter = self._waiters.get(str(event.get("id")))
            if waiter is None:
                return
            if kind == "started":
                waiter.pid = int(event["pid"])
                return
            if kind == "exit":
                waiter.info = ExitInfo.model_validate(event["info"])
            else:
                waiter.error = f"the zygote refused the job: {event.get('message')}"
            with self._lock:
                self._waiters.pop(str(event.get("id")), None)
            waiter.done.set()

    def _fail_all(self, message: str) -> None:
        if self.error is None:
            self.error = message
        self.ready.set()
        with self._lock:
            waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.error = message
            waiter.done.set()

    def log_tail(self) -> str:
        return _tail(self.log_path) or "no output"

    def wait_ready(self, timeout: float) -> str | None:
        """None when ready; else why the zygote cannot be used."""
        if not self.ready.wait(timeout):
            return f"the zygote did not finish importing {', '.join(self.preload)} within {timeout:.0f} s"
        if self.error:
            return self.error
        threads = int(self.ready_info.get("threads", 1))
        modules = ", ".join(self.preload) or "nothing"
        if threads > 1:
            return f"the zygote holds {threads} threads after importing {modules}; forking it is unsafe"
        cuda = cuda_fork_problem(self.ready_info.get("cuda"))
        if cuda is not None:
            return (
                f"the zygote cannot fork GPU children: {cuda} while importing {modules} "
                "(CUDA does not survive fork)"
            )
        return None

    def spawn(self, key: str, envelope: Path) -> _Waiter:
        waiter = _Waiter()
        request = json.dumps({"op": "spawn", "id": key, "envelope": str(envelope)}) + "\n"
        with self._lock:
            if not self.alive:
                waiter.error = self.error or "the zygote is not running"
                waiter.done.set()
                return waiter
            self._waiters[key] = waiter
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(request.encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as error:  # ValueError: the pipe is closed
                self._waiters.pop(key, None)
                waiter.error = f"cannot reach the zygote: {error}"
                waiter.done.set()
        return waiter

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b'{"op": "exit"}\n')
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_process_group(self.proc.pid)
            self.proc.wait()
        self._reader.join(timeout=5)
        self._log.close()


class Runner:
    """Runs jobs in fresh processes. Use as a context manager; ``close()`` stops the zygotes."""

    def __init__(
        self,
        work_dir: Path,
        env: Mapping[str, str],
        *,
        use_zygote: bool = True,
        python: str = sys.executable,
    ) -> None:
        self.work_dir = work_dir
        self.python = python
        self.use_zygote = use_zygote
        self.env = _child_env(env)
        self._zygotes: dict[tuple[str, ...], _ZygoteClient] = {}
        self._fallback_reasons: dict[tuple[str, ...], str] = {}
        self._restarted: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = False
        self.notes: list[str] = []

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prestart(self, preloads: Iterable[tuple[str, ...]]) -> None:
        """Start zygotes now, so their imports overlap with the parent's own work."""
        for preload in preloads:
            self._zygote(tuple(preload), wait=False)

    def zygote_info(self) -> dict[tuple[str, ...], dict[str, Any]]:
        return {key: dict(z.ready_info) for key, z in self._zygotes.items() if z.ready_info}

    def run(self, job: Job, limits: Limits, *, preload: Iterable[str] = (), label: str = "") -> ChildOutcome:
        key = f"{next(self._ids):04d}-{_slug(label or job.kind)}"
        log_path = self.work_dir / f"{key}.log"
        job = job.model_copy(update={"result_path": str(self.work_dir / f"{key}.result.json")})
        envelope = JobEnvelope(id=key, job=job, log_path=str(log_path), limits=limits)
        envelope_path = self.work_dir / f"{key}.job.json"
        envelope_path.write_text(envelope.model_dump_json(), encoding="utf-8")
        preload_key = tuple(preload)
        zygote = self._zygote(preload_key, wait=True) if self.use_zygote else None
        if zygote is not None:
            waiter = zygote.spawn(key, envelope_path)
            if not waiter.done.wait(limits.timeout_s + ZYGOTE_GRACE_S):  # the zygote itself is stuck
                if waiter.pid is not None:
                    kill_process_group(waiter.pid)
                waiter.error = (
                    f"timed out after {limits.timeout_s:g} s; the zygote did not report the child's end"
                )
            process = f"forked from a zygote that preloaded {', '.join(preload_key) or 'nothing'}"
            if waiter.error is not None and waiter.info is None:
                return self._outcome(key, envelope, None, process, infrastructure_error=waiter.error)
            return self._outcome(key, envelope, waiter.info, process)
        why = self._fallback_reasons.get(preload_key, "zygotes are switched off")
        info = self._run_subprocess(envelope_path, log_path, limits)
        return self._outcome(key, envelope, info, f"a fresh python process ({why})")

    def _zygote(self, preload: tuple[str, ...], *, wait: bool) -> _ZygoteClient | None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the runner is closed")
            if preload in self._fallback_reasons:
                return None
            zygote = self._zygotes.get(preload)
            if zygote is not None and zygote.ready_info and not zygote.alive:
                # It was working and died (the OOM killer, a bug): one fresh start, then fall back.
                zygote.close()
                if preload in self._restarted:
                    self._fallback_reasons[preload] = f"the zygote died twice: {zygote.error}"
                    self.notes.append(
                        f"running plain subprocesses for {', '.join(preload)}: zygote died twice"
                    )
                    return None
                self._restarted.add(preload)
                self.notes.append(
                    f"the zygote for {', '.join(preload)} died and was restarted: {zygote.error}"
                )
                zygote = None
            if zygote is None:
                log = self.work_dir / f"zygote-{_slug('-'.join(preload) or 'bare')}.log"
                zygote = _ZygoteClient(preload, self.python, self.env, log)
                self._zygotes[preload] = zygote
        if not wait:
            return zygote
        problem = zygote.wait_ready(ZYGOTE_START_TIMEOUT_S)
        if problem is None:
            return zygote
        with self._lock:
            if preload not in self._fallback_reasons:
                self._fallback_reasons[preload] = f"zygote unavailable: {problem}"
                self.notes.append(f"running plain subprocesses for {', '.join(preload)}: {problem}")
        return None

    def _run_subprocess(self, envelope_path: Path, log_path: Path, limits: Limits) -> ExitInfo:
        started = time.monotonic()
        pid = os.posix_spawn(
            self.python,
            [self.python, *SAFE_PATH, "-m", "grader.harness.child", str(envelope_path)],
            self.env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        supervisor = Supervisor()  # one per child: poll() reaps only the pids it watches
        supervisor.add(envelope_path.name, pid, limits, started)
        info = supervisor.wait(pid)
        return info.model_copy(
            update={"ru_maxrss_bytes": None, "ru_maxrss_inherited_bytes": info.ru_maxrss_bytes}
        )

    def _outcome(
        self,
        key: str,
        envelope: JobEnvelope,
        info: ExitInfo | None,
        process: str,
        *,
        infrastructure_error: str | None = None,
    ) -> ChildOutcome:
        report = _read_report(Path(envelope.job.result_path))
        tail = _tail(Path(envelope.log_path))
        if info is None:
            return ChildOutcome(
                key, Status.FAILED, infrastructure_error or "no exit status", report, None, tail, process
            )
        status, reason = classify(info, report, envelope.limits)
        return ChildOutcome(
            key, status, reason, report, info, tail if status is not Status.OK else "", process
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            zygotes, self._zygotes = list(self._zygotes.values()), {}
        for zygote in zygotes:
            zygote.close()


def split_shared(outcome: ChildOutcome, count: int, limits: Limits) -> list[ChildOutcome] | None:
    """A shared latency round's outcome (a job with ``count - 1`` peers) as one outcome per model,
    in the job's order; None when the child left no report of every model (it crashed, timed out
    or never ran), so that the caller can run the models alone and learn which one broke."""
    report = outcome.report
    if outcome.exit is None or report is None or len(report.peers) != count - 1:
        return None
    out = []
    for index, own in enumerate([report.model_copy(update={"peers": []}), *report.peers]):
        status, reason = classify(outcome.exit, own, limits)
        if status is Status.FAILED and own.ok:  # the process itself failed (a limit, a signal)
            return None
        tail = outcome.stderr_tail if status is not Status.OK else ""
        out.append(
            ChildOutcome(f"{outcome.id}#{index}", status, reason, own, outcome.exit, tail, outcome.process)
        )
    return out


def classify(info: ExitInfo, report: ChildReport | None, limits: Limits) -> tuple[Status, str]:
    """The phase's status and reason from how the child ended and what it reported."""
    if info.killed_for == "timeout":
        return Status.FAILED, f"timed out after {limits.timeout_s:g} s (the phase time limit)"
    peak = max(
        info.ru_maxrss_bytes or 0, info.hwm_seen_bytes or 0, (report.vmhwm_bytes or 0) if report else 0
    )
    if limits.memory_bytes is not None and (info.killed_for == "memory" or peak > limits.memory_bytes):
        return Status.FAILED, (
            f"exceeded the memory limit of {limits.memory_bytes / MIB:.0f} MiB "
            f"(peak RSS {peak / MIB:.0f} MiB, read from the kernel)"
        )
    if report is not None and report.pid == info.pid and info.signal is None:
        if report.ok:
            return Status.OK, ""
        if report.error_kind == "not_measurable":
            return Status.NOT_MEASURABLE, report.error
        stage = STAGE_TEXT.get(report.error_stage, f"the {report.error_stage or 'phase'} failed")
        return Status.FAILED, f"{stage}: {report.error}"
    if info.signal is not None:
        return Status.FAILED, f"the process crashed (killed by {info.signal}); see the log tail"
    if info.exit_code not in (None, 0):
        return Status.FAILED, f"the process exited with code {info.exit_code} before writing its result"
    return Status.FAILED, "the process ended without writing its result"


def _read_report(path: Path) -> ChildReport | None:
    try:
        return ChildReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is probably cut
    return "\n".join(lines[-TAIL_LINES:]).strip()


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    return cleaned.strip("-")[:60] or "job"


# Thread-runtime settings a parent may carry without meaning to: scikit-learn and joblib set
# KMP_INIT_AT_FORK=FALSE when imported (the demo imports scikit-learn for its digits), and with it
# every forked child's OpenMP runtime skips its after-fork set-up: the demo ViT's latency CV went
# from ~10 % to ~26 %, every model NOISY. Children get the runtime's defaults plus ThreadPlan.env().
INHERITED_THREAD_PREFIXES = ("KMP_", "GOMP_", "OMP_", "MKL_")


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its thread-runtime settings, plus ``env``, and the grader
    importable from any working folder."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_THREAD_PREFIXES)}
    out = {**inherited, **env}
    source_root = str(Path(grader.__file__).resolve().parent.parent)
    paths = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p]
    if source_root not in paths:
        out["PYTHONPATH"] = os.pathsep.join([source_root, *paths])
    return out
