"""`grader selftest`: does this runner's harness read what it should?

Each check runs a real child through the same runner the measurements use and compares what
the harness reads with what the child is known to have done:

- memory (zygote child, and a fresh-process child): the child touches exactly ``mib`` MiB; the
  memory reading (peak RSS above the child's pre-allocation RSS, from wait4 / VmHWM) must be
  within 3 %;
- timing: the child busy-waits 5 ms per call; the fastest sample the timing loop reads must be
  within 3 % (the timer), and so must the median (the machine is quiet enough to time);
- time limit: a child that sleeps forever must be killed at its limit and reported as timed out;
- memory limit: a child that allocates past its limit must be killed and reported as such;
- crash: a child that segfaults must be reported FAILED with the signal and its log tail;
- zygote: it must hold one thread when it forks (no thread pool copied into the children).

On GPU runners the CUDA checks (VRAM within 3 %, device-side timing) plug in here.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.model import LatencySettings, Threads
from grader.harness.environment import ThreadPlan
from grader.harness.jobs import Limits, ProbeJob
from grader.harness.memory import MIB, memory_result
from grader.harness.models import Status
from grader.harness.runner import ChildOutcome, Runner

TOLERANCE = 0.03
SPIN_MS = 5.0
PROBE_PRELOAD = ("numpy",)
HANG_LIMIT_S = 1.5
KILL_SLACK_S = 3.0  # the watchdog polls every 20 ms; the rest is process start on a busy machine
SPIN_SETTINGS = LatencySettings(
    warmup_block=3,
    warmup_tolerance=0.05,
    warmup_max_s=1.0,
    min_iters=30,
    min_time_s=0.5,
    max_time_s=5.0,
    max_iters=2000,
    stable_tolerance=0.01,
)


@dataclass
class Check:
    name: str
    ok: bool
    expected: str
    measured: str
    detail: str = ""


@dataclass
class SelftestResult:
    device: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def run_selftest(
    *,
    device: str = "cpu",
    mib: int = 512,
    threads: Threads | None = None,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> SelftestResult:
    """Run every check for ``device`` and return them all (a failed check does not stop the rest)."""
    result = SelftestResult(device=device)
    if device != "cpu":
        result.checks.append(
            Check(
                name=f"{device} checks",
                ok=False,
                expected=f"a {device} device and its self-test",
                measured="not available",
                detail=f"this harness has no {device} self-test on this runner yet; run `--device cpu`",
            )
        )
        return result
    plan = ThreadPlan.from_course(threads or Threads(intra_op=1, inter_op=1))
    folder = work_dir or Path(tempfile.mkdtemp(prefix="grader-selftest-"))
    folder.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _message: None)
    (folder / "zygote").mkdir(exist_ok=True)
    (folder / "fresh").mkdir(exist_ok=True)
    try:
        with (
            Runner(folder / "zygote", plan.env()) as forked,
            Runner(folder / "fresh", plan.env(), use_zygote=False) as fresh,
        ):
            steps: list[tuple[str, Callable[[], list[Check]]]] = [
                ("memory reading in a forked child", lambda: [_memory_check(forked, mib, "forked child")]),
                ("memory reading in a fresh process", lambda: [_memory_check(fresh, mib, "fresh process")]),
                ("zygote threads", lambda: [_zygote_check(forked)]),
                ("timing", lambda: _timing_checks(forked)),
                ("time limit", lambda: [_time_limit_check(forked)]),
                ("memory limit", lambda: [_memory_limit_check(forked, mib)]),
                ("crash", lambda: [_crash_check(forked)]),
            ]
            for label, step in steps:
                say(label)
                result.checks.extend(step())
    finally:
        if work_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _relative_error(measured: float, expected: float) -> float:
    return abs(measured - expected) / expected


def _memory_check(runner: Runner, mib: int, where: str) -> Check:
    outcome = runner.run(ProbeJob(action="alloc", mib=mib), Limits(timeout_s=120), preload=PROBE_PRELOAD)
    name = f"memory ({where})"
    expected = f"{mib} MiB ± {TOLERANCE:.0%}"
    report, info = outcome.report, outcome.exit
    if not outcome.ok or report is None or info is None or report.rss_before_load_bytes is None:
        return Check(name, False, expected, "no reading", _why(outcome))
    reading = memory_result(
        rss_before_load=report.rss_before_load_bytes,
        ru_maxrss=info.ru_maxrss_bytes,
        vmhwm=report.vmhwm_bytes,
    )
    above = reading.peak_above_interpreter_bytes / MIB
    error = _relative_error(above, mib)
    before = report.rss_before_load_bytes / MIB
    detail = f"{reading.source}; peak {reading.peak_rss_bytes / MIB:.1f} MiB, before {before:.1f} MiB"
    if info.ru_maxrss_bytes and report.vmhwm_bytes:
        detail += f"; VmHWM {report.vmhwm_bytes / MIB:.1f} MiB"
    return Check(name, error <= TOLERANCE, expected, f"{above:.1f} MiB ({error:.2%} off)", detail)


def _zygote_check(runner: Runner) -> Check:
    info = runner.zygote_info().get(PROBE_PRELOAD, {})
    threads = info.get("threads")
    if threads is None:
        return Check("zygote", False, "1 thread before fork", "no zygote", "; ".join(runner.notes))
    return Check(
        "zygote",
        threads == 1,
        "1 thread before fork",
        f"{threads} thread(s)",
        f"imports took {info.get('import_s', 0):.2f} s",
    )


def _timing_checks(runner: Runner) -> list[Check]:
    """The child spins SPIN_MS per call. The fastest sample checks the clock and the loop (a spin
    cannot be faster than its length, and one sample in many escapes preemption); the median
    checks that the machine is quiet enough for latency figures to mean anything."""
    outcome = runner.run(
        ProbeJob(action="spin", spin_ms=SPIN_MS, latency=SPIN_SETTINGS),
        Limits(timeout_s=60),
        preload=PROBE_PRELOAD,
    )
    expected = f"{SPIN_MS:g} ms ± {TOLERANCE:.0%}"
    if not outcome.ok or outcome.report is None or outcome.report.timing is None:
        return [Check("timer", False, expected, "no reading", _why(outcome))]
    samples = outcome.report.timing.samples_ms
    fastest, median = min(samples), statistics.median(samples)
    detail = (
        f"{len(samples)} samples of a {SPIN_MS:g} ms busy-wait, stop: {outcome.report.timing.stop_reason}"
    )
    quiet_detail = detail
    if _relative_error(median, SPIN_MS) > TOLERANCE:
        quiet_detail += "; other processes take this CPU: latency measured now would be inflated"
    return [
        Check(
            "timer",
            _relative_error(fastest, SPIN_MS) <= TOLERANCE,
            expected,
            f"fastest {fastest:.3f} ms ({_relative_error(fastest, SPIN_MS):.2%} off)",
            detail,
        ),
        Check(
            "quiet machine",
            _relative_error(median, SPIN_MS) <= TOLERANCE,
            expected,
            f"median {median:.3f} ms ({_relative_error(median, SPIN_MS):.2%} off)",
            quiet_detail,
        ),
    ]


def _time_limit_check(runner: Runner) -> Check:
    started = time.monotonic()
    outcome = runner.run(ProbeJob(action="hang"), Limits(timeout_s=HANG_LIMIT_S), preload=PROBE_PRELOAD)
    elapsed = time.monotonic() - started
    killed = outcome.exit is not None and outcome.exit.killed_for == "timeout"
    ok = outcome.status is Status.FAILED and killed and elapsed <= HANG_LIMIT_S + KILL_SLACK_S
    return Check(
        "time limit",
        ok,
        f"killed at {HANG_LIMIT_S:g} s, reported as timed out",
        f"{outcome.status.value} after {elapsed:.2f} s",
        outcome.reason,
    )


def _memory_limit_check(runner: Runner, mib: int) -> Check:
    base = runner.zygote_info().get(PROBE_PRELOAD, {}).get("rss_bytes") or 64 * MIB
    limit = int(base + mib * MIB // 2)
    outcome = runner.run(
        ProbeJob(action="alloc", mib=mib), Limits(timeout_s=120, memory_bytes=limit), preload=PROBE_PRELOAD
    )
    ok = outcome.status is Status.FAILED and "memory limit" in outcome.reason
    return Check(
        "memory limit",
        ok,
        f"killed above {limit / MIB:.0f} MiB, reported as over the limit",
        outcome.status.value,
        outcome.reason,
    )


def _crash_check(runner: Runner) -> Check:
    outcome = runner.run(ProbeJob(action="crash"), Limits(timeout_s=30), preload=PROBE_PRELOAD)
    signal = outcome.exit.signal if outcome.exit else None
    ok = (
        outcome.status is Status.FAILED
        and signal == "SIGSEGV"
        and "Segmentation fault" in outcome.stderr_tail
    )
    return Check(
        "crash",
        ok,
        "FAILED with SIGSEGV and the log tail",
        f"{outcome.status.value}, {signal or 'no signal'}",
        outcome.reason,
    )


def _why(outcome: ChildOutcome) -> str:
    tail = outcome.stderr_tail.splitlines()[-1:] if outcome.stderr_tail else []
    return "; ".join([outcome.reason or outcome.status.value, *tail])
