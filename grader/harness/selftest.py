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

`--device cuda` (grader.harness.gpu_probes, in children forked from a torch zygote):

- the zygote imported torch without initialising CUDA (a forked child could not use it otherwise);
- VRAM: a child allocates ``mib`` MiB in one torch tensor; torch's allocator peaks and NVML's
  per-process and device-used figures (read by the memory phase's own sampler) must be within 3 %;
- GPU timing: torch.cuda._sleep(cycles) spins the GPU 5 ms (cycles from the SM clock NVML reads
  under load); the fastest sample through CUDA events, and through perf_counter + synchronize,
  must be within 3 %.

Without a CUDA device the GPU self-test is skipped with the reason (SelftestResult.skipped; the
command exits 3, ExitCode.SKIPPED), as it has nothing to check there.
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


GPU_PRELOAD = ("numpy", "torch")
GPU_SLEEP_MS = 5.0


@dataclass
class Check:
    name: str
    ok: bool
    expected: str
    measured: str
    detail: str = ""
    skipped: bool = False  # this runner cannot take the reading (the detail says why): not a failure


@dataclass
class SelftestResult:
    device: str
    checks: list[Check] = field(default_factory=list)
    skipped: str = ""  # the whole self-test had nothing to check here: "no CUDA device: skipped (why)"

    @property
    def ok(self) -> bool:
        return not self.skipped and bool(self.checks) and all(c.ok or c.skipped for c in self.checks)


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
    if device == "cuda":
        return _cuda_selftest(result, mib, threads, work_dir, progress)
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


def _cuda_selftest(
    result: SelftestResult,
    mib: int,
    threads: Threads | None,
    work_dir: Path | None,
    progress: Callable[[str], None] | None,
) -> SelftestResult:
    from grader.harness.environment import probe_gpus

    gpus, how = probe_gpus()  # NVML / nvidia-smi: the parent never initialises CUDA
    if not gpus:
        result.skipped = f"no CUDA device: skipped ({how})"
        return result
    say = progress or (lambda _message: None)
    say(f"GPU: {', '.join(g.name for g in gpus)} ({how})")
    plan = ThreadPlan.from_course(threads or Threads(intra_op=1, inter_op=1))
    folder = work_dir or Path(tempfile.mkdtemp(prefix="grader-selftest-cuda-"))
    (folder / "cuda").mkdir(parents=True, exist_ok=True)
    try:
        with Runner(folder / "cuda", plan.env()) as forked:
            steps: list[tuple[str, Callable[[], list[Check]]]] = [
                ("VRAM readings", lambda: _vram_checks(forked, mib)),
                ("zygote without CUDA", lambda: [_cuda_zygote_check(forked)]),
                ("GPU timing (CUDA events)", lambda: _gpu_timing_checks(forked, "cuda_events")),
                ("GPU timing (synchronize)", lambda: _gpu_timing_checks(forked, "synchronize")),
            ]
            for label, step in steps:
                say(label)
                result.checks.extend(step())
    finally:
        if work_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _vram_checks(runner: Runner, mib: int) -> list[Check]:
    outcome = runner.run(ProbeJob(action="cuda_alloc", mib=mib), Limits(timeout_s=120), preload=GPU_PRELOAD)
    expected = f"{mib} MiB ± {TOLERANCE:.0%}"
    gpu = outcome.report.probe.gpu if outcome.report and outcome.report.probe else None
    names = ("VRAM torch allocated", "VRAM torch reserved", "VRAM NVML process", "VRAM NVML device")
    if not outcome.ok or gpu is None:
        return [Check(name, False, expected, "no reading", _why(outcome)) for name in names]
    notes = "; ".join(gpu.notes)
    where = f"{gpu.device}, {outcome.process}"
    return [
        _vram_check(names[0], gpu.torch_peak_allocated_bytes, 0, mib, "torch.cuda.max_memory_allocated()"),
        _vram_check(names[1], gpu.torch_peak_reserved_bytes, 0, mib, "torch.cuda.max_memory_reserved()"),
        _vram_check(
            names[2],
            gpu.nvml_process_peak_bytes,
            gpu.nvml_process_before_bytes,
            mib,
            f"NVML per-process peak above the context, sampled ({gpu.nvml_readings} readings); {where}",
            missing=notes or "NVML listed no memory for the probe's pid",
        ),
        _vram_check(
            names[3],
            gpu.nvml_device_peak_bytes,
            gpu.nvml_device_before_bytes,
            mib,
            f"NVML device used, peak above the context, sampled ({gpu.nvml_readings} readings); "
            "another process on this GPU would show here",
            missing=notes or "no NVML reading",
        ),
    ]


def _vram_check(
    name: str, peak: int | None, before: int | None, mib: int, how: str, missing: str = ""
) -> Check:
    expected = f"{mib} MiB ± {TOLERANCE:.0%}"
    if peak is None or before is None:
        # A reading this runner cannot take (no NVML, a pid namespace) is not a wrong reading: the
        # harness reports the other figures, each labelled.
        return Check(name, False, expected, "not available", missing or how, skipped=True)
    value = (peak - before) / MIB
    error = _relative_error(value, mib)
    return Check(name, error <= TOLERANCE, expected, f"{value:.1f} MiB ({error:.2%} off)", how)


def _cuda_zygote_check(runner: Runner) -> Check:
    from grader.harness.gpu import cuda_fork_problem

    info = runner.zygote_info().get(GPU_PRELOAD)
    expected = "torch imported, CUDA untouched before fork"
    if info is None:
        return Check("zygote CUDA", False, expected, "no zygote", "; ".join(runner.notes))
    state = info.get("cuda") or {}
    problem = cuda_fork_problem(state)
    measured = f"driver {state.get('driver', '?')}, torch initialised: {state.get('torch_initialized')}"
    return Check("zygote CUDA", problem is None, expected, measured, problem or "GPU children are forked")


def _gpu_timing_checks(runner: Runner, timer: str) -> list[Check]:
    job = ProbeJob(action="cuda_sleep", spin_ms=GPU_SLEEP_MS, latency=SPIN_SETTINGS, timer=timer)
    outcome = runner.run(job, Limits(timeout_s=120), preload=GPU_PRELOAD)
    label = "CUDA events" if timer == "cuda_events" else "perf_counter + synchronize"
    expected = f"{GPU_SLEEP_MS:g} ms ± {TOLERANCE:.0%}"
    report = outcome.report
    gpu = report.probe.gpu if report and report.probe else None
    if not outcome.ok or report is None or report.timing is None or gpu is None:
        return [Check(f"GPU timer ({label})", False, expected, "no reading", _why(outcome))]
    samples = report.timing.samples_ms
    fastest, median = min(samples), statistics.median(samples)
    detail = (
        f"{len(samples)} samples of torch.cuda._sleep({gpu.sleep_cycles}) at {gpu.sm_clock_mhz:.0f} MHz "
        f"({gpu.clock_source}); timer {report.timing.timer}"
    )
    checks = [
        Check(
            f"GPU timer ({label})",
            _relative_error(fastest, GPU_SLEEP_MS) <= TOLERANCE,
            expected,
            f"fastest {fastest:.3f} ms ({_relative_error(fastest, GPU_SLEEP_MS):.2%} off)",
            detail,
        )
    ]
    if timer == "cuda_events":
        quiet = _relative_error(median, GPU_SLEEP_MS) <= TOLERANCE
        checks.append(
            Check(
                "quiet GPU",
                quiet,
                expected,
                f"median {median:.3f} ms ({_relative_error(median, GPU_SLEEP_MS):.2%} off)",
                detail if quiet else detail + "; the SM clock moved or another process shares this GPU",
            )
        )
    return checks


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
