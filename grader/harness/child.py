"""A measurement child: one job (model × device × phase, or a self-test probe), one report.

A child is either forked by a zygote (`forked_main`, the normal path: the heavy imports are
already done) or started as `python -m grader.harness.child ENVELOPE.json` (the fallback). Either
way it runs the job, writes a ChildReport next to it and exits; how it exited (code, signal,
peak RSS) is read by whoever reaps it. Everything the child prints goes to its log file, whose
tail is attached to a failed phase.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import faulthandler
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from grader.atomic import write_atomic
from grader.harness.affinity import pin_self
from grader.harness.jobs import (
    ChildReport,
    GenerationReport,
    JobEnvelope,
    LoadReport,
    PhaseJob,
    ProbeJob,
    ProbeReport,
    QualityReport,
)
from grader.harness.memory import MIB, hwm_bytes, repopulate, rss_bytes

if TYPE_CHECKING:  # the backends and tasks are imported in the child, once it knows which it runs
    from grader.harness.backends.base import Backend, LoadSpec
    from grader.harness.tasks.base import Task

EXIT_OK = 0
EXIT_REPORTED_ERROR = 1  # the child caught an error and wrote it into its report
EXIT_UNCAUGHT = 70  # something escaped even the report writer

PR_SET_PDEATHSIG = 1


def forked_main(envelope: JobEnvelope, close_fds: list[int]) -> NoReturn:
    """Entry of a child the zygote has just forked. Never returns into the zygote's loop."""
    code = EXIT_UNCAUGHT
    try:
        _become_child(Path(envelope.log_path), close_fds)
        code = run_envelope(envelope)
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # no atexit handlers, no zygote buffers flushed twice


# Set in the zygote after its imports (grader.harness.memory.mapped_file_pages): the file-backed
# pages its RSS counts, which a forked child maps again before it reads its own RSS.
ZYGOTE_FILE_PAGES: list[tuple[int, int]] = []


def _become_child(log_path: Path, close_fds: list[int]) -> None:
    with contextlib.suppress(OSError):  # the zygote already made us a group leader
        os.setpgid(0, 0)
    _die_with_parent()
    for fd in close_fds:  # the zygote's protocol pipes: only the zygote may talk on them
        with contextlib.suppress(OSError):
            os.close(fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    faulthandler.enable()  # a segfault leaves a Python traceback in the log
    random.seed()
    repopulate(ZYGOTE_FILE_PAGES)


def _die_with_parent() -> None:
    """If the zygote is killed, its children must not run on unsupervised."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_envelope(envelope: JobEnvelope) -> int:
    job = envelope.job
    report = run_probe(job) if isinstance(job, ProbeJob) else run_phase(job)
    write_report(Path(job.result_path), report)
    return EXIT_OK if report.ok else EXIT_REPORTED_ERROR


def write_report(path: Path, report: ChildReport) -> None:
    write_atomic(path, report.model_dump_json())


# --- model phases ------------------------------------------------------------------------------


class _Stage:
    """Where the child is, so a failure says whether loading, the first call or the phase broke."""

    def __init__(self) -> None:
        self.name = "setup"


def run_phase(job: PhaseJob) -> ChildReport:
    from grader.harness.backends import BACKENDS
    from grader.harness.backends.base import NotMeasurable

    if job.peers:
        return run_shared_round(job)
    report = ChildReport(ok=False, pid=os.getpid())
    stage = _Stage()
    try:
        pin_self(job.cpu)  # before any runtime starts its thread pool
        backend_cls = BACKENDS.load(job.backend)
        report.threads = configure_threads(job, uses_torch="torch" in backend_cls.preload)
        seed_everything(job.seed)
        task, spec = _before_load(job, backend_cls, report)
        stage.name = "load"
        started = time.perf_counter()
        with _gpu_watch(job, backend_cls, report), backend_cls(spec) as backend:
            load_s = time.perf_counter() - started
            _run_loaded(job, task, backend, report, stage, load_s)
        report.ok = True
    except NotMeasurable as error:
        report.error_kind, report.error = "not_measurable", error_text(error)
    except MemoryError:
        report.error_kind, report.error = "failed", "MemoryError: the process could not allocate memory"
    except Exception as error:
        report.error_kind, report.error = "failed", error_text(error)
        traceback.print_exc()
    report.error_stage = "" if report.ok else stage.name
    report.vmhwm_bytes = hwm_bytes()
    report.vmrss_end_bytes = rss_bytes()
    return report


def error_text(error: Exception) -> str:
    """One line for the phase's reason. Located errors (a task's or the eval data's findings) keep
    their message and hint; the file paths inside the child's scratch folders mean nothing to a
    student."""
    from grader.errors import InputError
    from grader.harness.backends.base import NotMeasurable
    from grader.harness.gpu import DeviceFallback

    if isinstance(error, NotMeasurable | DeviceFallback) and not isinstance(error, InputError):
        return str(error)  # a backend's (or the provider check's) sentence, shown as it is
    if isinstance(error, InputError):
        parts = []
        for finding in error.findings:
            text = finding.message
            if finding.expected:
                text += f" (expected {finding.expected})"
            if finding.hint:
                text += f"; {finding.hint}"
            parts.append(text)
        return " | ".join(parts)
    return f"{type(error).__name__}: {error}"


def _run_loaded(
    job: PhaseJob, task: Task | None, backend: Backend, report: ChildReport, stage: _Stage, load_s: float
) -> None:
    run_once, call = _first_call(job, task, backend, report, stage, load_s)
    stage.name = job.phase
    if job.phase == "latency":
        from grader.harness.gpu import latency_timer
        from grader.harness.timing import measure

        timed, timer, clock = latency_timer(job.device, backend, run_once, call)
        report.timing = measure(timed, job.latency, timer=timer, clock=clock)
        if job.generation and task is not None:
            stage.name = "generation"
            _generation(task, backend, report)
    elif job.phase == "memory":
        for _ in range(job.memory_iters):
            call()
        _check_execution(job, backend, report, stage)
    else:
        report.quality = _evaluate(job, task, backend)


def _before_load(
    job: PhaseJob, backend_cls: type[Backend], report: ChildReport
) -> tuple[Task | None, LoadSpec]:
    """The task, the load spec, the imports a load needs, and the RSS reading before the load."""
    task = _make_task(job)
    spec = _load_spec(job, backend_cls)
    preload(pre_load_imports(backend_cls, spec))
    _quiet_libraries()
    report.rss_before_load_bytes = rss_bytes()
    return task, spec


def _load_spec(job: PhaseJob, backend_cls: type[Backend]) -> LoadSpec:
    from grader.harness.backends.base import LoadSpec

    return LoadSpec(
        model_dir=Path(job.model_dir),
        format=job.format,
        device=job.device,
        transform=job.transform,
        task=job.task,
        intra_op_threads=job.intra_op_threads,
        inter_op_threads=job.inter_op_threads,
        model_file=job.model_file,
        allow_code_formats=job.allow_code_formats,
        profile_dir=_profile_dir(job, backend_cls),
        input_roles=dict(job.input_roles),
    )


def _first_call(
    job: PhaseJob, task: Task | None, backend: Backend, report: ChildReport, stage: _Stage, load_s: float
) -> tuple[Callable[[], object], Callable[[], object]]:
    """Build the inputs, make the first call (its time goes into report.load); returns
    (run once, run and synchronize)."""
    stage.name = "inputs"
    inputs = _inputs(job, task, backend)
    report.input_shapes = {name: list(array.shape) for name, array in inputs.items()}
    prepared = backend.prepare(inputs)
    run, synchronize = backend.run, backend.synchronize

    def run_once() -> None:
        run(prepared)

    def call() -> None:
        run(prepared)
        synchronize()

    stage.name = "first_call"
    started = time.perf_counter()
    call()
    first_call_s = time.perf_counter() - started
    info = backend.info
    report.load = LoadReport(
        load_s=max(0.0, load_s - (info.build_s or 0.0)),  # an engine build is its own figure, build_s
        first_call_s=first_call_s,
        as_run_bytes=info.as_run_bytes,
        providers=list(info.providers),
        build_s=info.build_s,
        notes=list(info.notes),
    )
    return run_once, call


# --- a shared latency round --------------------------------------------------------------------


@dataclasses.dataclass
class _RoundModel:
    """One model of a shared round once it is loaded: its job, report, task and what to time."""

    job: PhaseJob
    report: ChildReport
    task: Task | None
    backend: Backend
    timed: Any  # grader.harness.timing.Timed


def run_shared_round(job: PhaseJob) -> ChildReport:
    """One latency round of ``job``'s model and its ``peers``, in this one child: each loads and
    makes its first call in turn, then grader.harness.timing.measure_turns times them turn by turn
    (25 ms of A, of B, of C, then A again), then each times its generation if the task has one.

    A model that fails to load or to run gets its own failed report; the others go on. The
    reports come back as ``job``'s, with the peers' in ``peers``, in the peers' order.
    """
    jobs = [job, *job.peers]
    reports = [ChildReport(ok=False, pid=os.getpid()) for _ in jobs]
    with contextlib.ExitStack() as stack:
        try:
            loaded = _load_round(jobs, reports, stack)
            _time_round(loaded)
        except Exception as error:  # set-up, or the turns themselves: nothing of this round stands
            traceback.print_exc()
            for report in reports:
                if report.ok or not report.error_kind:
                    report.ok, report.error_kind, report.error = False, "failed", error_text(error)
                    report.error_stage = report.error_stage or "latency"
    for report in reports:
        report.vmhwm_bytes = hwm_bytes()
        report.vmrss_end_bytes = rss_bytes()
    head, *peers = reports
    return head.model_copy(update={"peers": peers})


def _load_round(
    jobs: list[PhaseJob], reports: list[ChildReport], stack: contextlib.ExitStack
) -> list[_RoundModel]:
    from grader.harness.backends import BACKENDS
    from grader.harness.gpu import latency_timer
    from grader.harness.timing import Timed

    first = jobs[0]
    pin_self(first.cpu)  # before any runtime starts its thread pool
    classes = [BACKENDS.load(j.backend) for j in jobs]
    threads = configure_threads(first, uses_torch=any("torch" in c.preload for c in classes))
    seed_everything(first.seed)
    loaded = []
    for job, report, backend_cls in zip(jobs, reports, classes, strict=True):
        report.threads = threads | onnxruntime_threads(job)
        stage = _Stage()
        try:
            task, spec = _before_load(job, backend_cls, report)
            stage.name = "load"
            started = time.perf_counter()
            backend = stack.enter_context(backend_cls(spec))
            run_once, call = _first_call(job, task, backend, report, stage, time.perf_counter() - started)
        except Exception as error:
            _fail(report, stage, error)
            continue
        timed, timer, clock = latency_timer(job.device, backend, run_once, call)
        loaded.append(_RoundModel(job, report, task, backend, Timed(timed, timer, clock)))
    return loaded


def _time_round(loaded: list[_RoundModel]) -> None:
    from grader.harness.timing import measure_turns

    if not loaded:
        return
    timings = measure_turns([m.timed for m in loaded], loaded[0].job.latency)
    for model, timing in zip(loaded, timings, strict=True):
        model.report.timing = timing
        model.report.ok = True
    for model in loaded:
        if model.job.generation and model.task is not None:
            _generation(model.task, model.backend, model.report)


def _fail(report: ChildReport, stage: _Stage, error: Exception) -> None:
    from grader.harness.backends.base import NotMeasurable

    if isinstance(error, NotMeasurable):
        report.error_kind, report.error = "not_measurable", error_text(error)
    else:
        report.error_kind, report.error = "failed", error_text(error)
        traceback.print_exc()
    report.error_stage = stage.name


def _generation(task: Task, backend: Backend, report: ChildReport) -> None:
    """Generation latency after the forward latency, in the same fresh child. Whatever happens
    here is the generation figure's outcome: the forward latency already measured stands."""
    import gc

    from grader.harness.backends.base import NotMeasurable

    started = time.perf_counter()
    try:
        reason = task.generation_unsupported(backend)
        if reason is not None:
            raise NotMeasurable(reason)
        gc.collect()
        gc.disable()  # as in timing.measure: no collection inside a timed step
        try:
            timing = task.generation_latency(backend, repeats=int(task.params["generation_repeats"]))
        finally:
            gc.enable()
    except NotMeasurable as error:
        report.generation_error_kind, report.generation_error = "not_measurable", error_text(error)
        return
    except Exception as error:
        report.generation_error_kind, report.generation_error = "failed", error_text(error)
        traceback.print_exc()
        return
    report.generation = GenerationReport(
        prompt_tokens=timing.prompt_tokens,
        new_tokens=timing.new_tokens,
        kv_cache=timing.kv_cache,
        repeats=timing.time_to_first_token.stats.n,
        ttft_ms=list(timing.time_to_first_token.values),
        tpot_ms=list(timing.time_per_output_token.values),
        seconds=time.perf_counter() - started,
    )


def _profile_dir(job: PhaseJob, backend_cls: type[Backend]) -> str | None:
    """Where a GPU memory phase profiles the model, for backends that can say who ran each node."""
    if job.phase != "memory" or job.device == "cpu" or not backend_cls.reports_execution_providers:
        return None
    return str(Path(job.result_path).parent) if job.result_path else None


def _gpu_watch(job: PhaseJob, backend_cls: type[Backend], report: ChildReport) -> Any:
    """VRAM readings around load + phase of a GPU memory phase (grader.harness.gpu); else nothing."""
    if job.phase != "memory" or job.device == "cpu":
        return contextlib.nullcontext()
    from grader.harness.gpu import gpu_memory_watch

    def keep(gpu: Any) -> None:
        report.gpu = gpu

    return gpu_memory_watch(job.device, torch_allocator=backend_cls.torch_allocator, sink=keep)


def _check_execution(job: PhaseJob, backend: Backend, report: ChildReport, stage: _Stage) -> None:
    """GPU runs of backends that profile (onnxruntime): which provider ran the nodes. Above the
    limit of CPU time the GPU figures would describe the CPU: the phase fails with the counts."""
    if job.device == "cpu" or not backend.reports_execution_providers or backend.spec.profile_dir is None:
        return
    from grader.harness.gpu import DeviceFallback, cpu_fallback_problem

    stage.name = "providers"
    report.execution = backend.execution_providers()
    problem = cpu_fallback_problem(report.execution)
    if problem:
        raise DeviceFallback(problem)


def _make_task(job: PhaseJob) -> Task | None:
    if job.task is None:
        return None
    from grader.harness.tasks import TASKS

    return TASKS.load(job.task)(Path(job.model_dir), dict(job.task_params))


def _inputs(job: PhaseJob, task: Task | None, backend: Backend) -> dict[str, Any]:
    import numpy as np

    if job.inputs_file:
        with np.load(job.inputs_file, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    if task is None:
        raise ValueError(
            "the job names neither a task nor an inputs file, so there is nothing to feed the model"
        )
    return dict(task.latency_inputs(job.batch_size, backend.input_names()))


def _evaluate(job: PhaseJob, task: Task | None, backend: Backend) -> QualityReport:
    if job.eval is None or task is None:
        raise ValueError("a quality job needs a task and an eval dataset")
    from grader.course.model import Course
    from grader.harness.data import load_eval_data

    course = Course.model_validate(job.eval.course)
    data = load_eval_data(job.eval.dataset_id, course, Path(job.eval.repo_root))
    companions = {
        role: load_eval_data(dataset_id, course, Path(job.eval.repo_root))
        for role, dataset_id in task.companion_datasets().items()
    }
    data = dataclasses.replace(data, companions=companions) if companions else data
    started = time.perf_counter()
    evaluation = task.assess(backend, data, job.batch_size)
    return QualityReport(
        metrics={k: float(v) for k, v in evaluation.scores.items()},
        n=len(data.items),
        dataset_digest=data.digest,
        seconds=time.perf_counter() - started,
        unmeasured=dict(evaluation.unmeasured),
    )


def configure_threads(job: PhaseJob, *, uses_torch: bool) -> dict[str, int]:
    """Apply and record the thread counts. onnxruntime takes its counts from the LoadSpec."""
    out = {"intra_op": job.intra_op_threads, "inter_op": job.inter_op_threads}
    if uses_torch or "torch" in sys.modules:
        import torch

        torch.set_num_threads(job.intra_op_threads)
        with contextlib.suppress(RuntimeError):  # only settable before inter-op work starts
            torch.set_num_interop_threads(job.inter_op_threads)
        out["torch_intra_op"] = torch.get_num_threads()
        out["torch_inter_op"] = torch.get_num_interop_threads()
    return out | onnxruntime_threads(job)


def onnxruntime_threads(job: PhaseJob) -> dict[str, int]:
    """onnxruntime's thread counts, which its session takes from the LoadSpec."""
    if job.backend != "onnxruntime":
        return {}
    return {"onnxruntime_intra_op": job.intra_op_threads, "onnxruntime_inter_op": job.inter_op_threads}


def pre_load_imports(backend_cls: type[Backend], spec: LoadSpec) -> list[str]:
    """Modules the child imports before its pre-load RSS reading: code is not model memory.

    The zygote's preload (already imported there; the fallback process imports it here), plus
    what a backend names for this model (`pre_load_imports(spec)`: a runtime that must not be
    imported before fork, the architecture's modelling module).
    """
    names = list(backend_cls.preload)
    return names + [name for name in backend_cls.pre_load_imports(spec) if name not in names]


def preload(modules: list[str]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    if "numpy" in sys.modules:
        import numpy as np

        np.random.seed(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def _quiet_libraries() -> None:
    """Progress bars and info logs would bury the useful end of a failed child's log."""
    if "transformers" in sys.modules:
        with contextlib.suppress(Exception):
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()


# --- self-test probes -------------------------------------------------------------------------


def run_probe(job: ProbeJob) -> ChildReport:
    report = ChildReport(ok=False, pid=os.getpid())
    try:
        _PROBES[job.action](job, report)
        report.ok = True
    except Exception as error:
        report.error_kind, report.error = "failed", f"{type(error).__name__}: {error}"
        traceback.print_exc()
    report.error_stage = "" if report.ok else job.action
    report.vmhwm_bytes = hwm_bytes()
    report.vmrss_end_bytes = rss_bytes()
    return report


def _probe_alloc(job: ProbeJob, report: ChildReport) -> None:
    import numpy as np

    started = time.monotonic()
    report.rss_before_load_bytes = rss_bytes()
    block = np.ones(job.mib * MIB, dtype=np.uint8)  # ones, not empty: every page is touched
    report.probe = ProbeReport(allocated_bytes=int(block.nbytes), rss_after_alloc_bytes=rss_bytes())
    report.vmhwm_bytes = hwm_bytes()
    time.sleep(job.hold_s)
    del block
    report.probe.started_monotonic_s, report.probe.ended_monotonic_s = started, time.monotonic()


def _probe_spin(job: ProbeJob, report: ChildReport) -> None:
    from grader.harness.timing import measure

    spin_ns = int(job.spin_ms * 1_000_000)
    clock = time.perf_counter_ns

    def call() -> None:
        end = clock() + spin_ns
        while clock() < end:
            pass

    report.timing = measure(call, job.latency)


def _probe_hang(job: ProbeJob, report: ChildReport) -> None:
    while True:
        time.sleep(3600)


def _probe_crash(job: ProbeJob, report: ChildReport) -> None:
    sys.stderr.write("probe: reading address 0 on purpose\n")
    sys.stderr.flush()
    ctypes.string_at(0)  # SIGSEGV


def _probe_exit(job: ProbeJob, report: ChildReport) -> None:
    sys.stderr.write(f"probe: exiting with code {job.exit_code} without a report\n")
    sys.stderr.flush()
    os._exit(job.exit_code)


def _probe_raise(job: ProbeJob, report: ChildReport) -> None:
    raise RuntimeError("probe: an exception inside the child, on purpose")


def _gpu_probe(job: ProbeJob, report: ChildReport) -> None:
    from grader.harness.gpu_probes import run_gpu_probe

    run_gpu_probe(job, report)


_PROBES: dict[str, Callable[[ProbeJob, ChildReport], None]] = {
    "alloc": _probe_alloc,
    "spin": _probe_spin,
    "hang": _probe_hang,
    "crash": _probe_crash,
    "exit": _probe_exit,
    "raise": _probe_raise,
    "cuda_alloc": _gpu_probe,
    "cuda_sleep": _gpu_probe,
}


# --- fallback entry: python -m grader.harness.child ENVELOPE.json ------------------------------


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m grader.harness.child ENVELOPE.json\n")
        return 2
    envelope = JobEnvelope.model_validate_json(Path(args[0]).read_text(encoding="utf-8"))
    faulthandler.enable()
    _die_with_parent()
    return run_envelope(envelope)


if __name__ == "__main__":
    sys.exit(main())
