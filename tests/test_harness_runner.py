"""Children through the real zygote and the real fallback: readings, limits, crashes, isolation.

Probe jobs (grader.harness.child) do known things: allocate N MiB of touched memory, hang,
segfault, exit without a report, raise. Every one must come back as a result with its reason,
and the next job must still run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.course.model import Threads
from grader.harness.environment import ThreadPlan
from grader.harness.jobs import Limits, ProbeJob
from grader.harness.memory import MIB, memory_result, read_status
from grader.harness.models import Status
from grader.harness.runner import Runner, classify

PRELOAD = ("numpy",)
PLAN = ThreadPlan.from_course(Threads(intra_op=1, inter_op=1))


@pytest.fixture(scope="module")
def forked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    with Runner(tmp_path_factory.mktemp("forked"), PLAN.env()) as runner:
        yield runner


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    with Runner(tmp_path_factory.mktemp("fresh"), PLAN.env(), use_zygote=False) as runner:
        yield runner


def alloc(runner: Runner, mib: int, memory_mib: int | None = None):
    limits = Limits(timeout_s=60, memory_bytes=memory_mib * MIB if memory_mib else None)
    return runner.run(ProbeJob(action="alloc", mib=mib), limits, preload=PRELOAD, label=f"alloc-{mib}")


def test_forked_child_reads_a_known_allocation_within_3_percent(forked: Runner) -> None:
    outcome = alloc(forked, 128)
    assert outcome.ok, outcome.reason
    assert outcome.process.startswith("forked from a zygote")
    report, info = outcome.report, outcome.exit
    assert report is not None and info is not None and report.rss_before_load_bytes is not None
    # A forked child starts at the zygote's RSS: the whole-process peak is far above 128 MiB...
    assert info.ru_maxrss_bytes is not None and info.ru_maxrss_bytes > 128 * MIB
    result = memory_result(
        rss_before_load=report.rss_before_load_bytes, ru_maxrss=info.ru_maxrss_bytes, vmhwm=report.vmhwm_bytes
    )
    # ...and subtracting the child's own pre-allocation RSS leaves what it allocated.
    assert result.source == "wait4 ru_maxrss"
    assert abs(result.peak_above_interpreter_bytes / MIB - 128) <= 128 * 0.03
    # The kernel's two peaks agree: wait4's ru_maxrss and the child's own VmHWM.
    assert report.vmhwm_bytes is not None
    assert abs(info.ru_maxrss_bytes - report.vmhwm_bytes) <= 2 * MIB


def test_a_forked_child_starts_with_the_zygotes_page_tables(forked: Runner) -> None:
    """fork drops the zygote's shared-library pages from the child's page tables; the child maps
    them again first, so its RSS before anything else is the zygote's, as in a fresh process."""
    outcome = alloc(forked, 8)
    assert outcome.ok and outcome.report is not None and outcome.report.rss_before_load_bytes is not None
    ready = forked.zygote_info()[PRELOAD]
    assert ready["file_pages_bytes"] > 1 * MIB
    assert abs(outcome.report.rss_before_load_bytes - ready["rss_bytes"]) < 6 * MIB


def test_fresh_process_reading_ignores_the_spawners_high_water_mark(fresh: Runner) -> None:
    ballast = bytearray(300 * MIB)  # the spawner's peak, which exec would fold into ru_maxrss
    outcome = alloc(fresh, 64)
    del ballast
    assert outcome.ok, outcome.reason
    assert outcome.process.startswith("a fresh python process")
    report, info = outcome.report, outcome.exit
    assert report is not None and info is not None and report.rss_before_load_bytes is not None
    assert info.ru_maxrss_bytes is None  # not the child's own figure, so not offered as one
    assert info.ru_maxrss_inherited_bytes is not None
    assert info.ru_maxrss_inherited_bytes >= read_status()["VmHWM"] - 2 * MIB
    result = memory_result(
        rss_before_load=report.rss_before_load_bytes, ru_maxrss=info.ru_maxrss_bytes, vmhwm=report.vmhwm_bytes
    )
    assert result.source == "VmHWM"
    assert abs(result.peak_above_interpreter_bytes / MIB - 64) <= 64 * 0.03


def test_a_hanging_child_is_killed_at_its_time_limit(forked: Runner) -> None:
    started = time.monotonic()
    outcome = forked.run(ProbeJob(action="hang"), Limits(timeout_s=1.0), preload=PRELOAD)
    elapsed = time.monotonic() - started
    assert outcome.status is Status.FAILED
    assert (
        outcome.exit is not None and outcome.exit.killed_for == "timeout" and outcome.exit.signal == "SIGKILL"
    )
    assert "1 s" in outcome.reason  # the reason names the limit it hit
    assert 1.0 <= elapsed < 4.0


@pytest.mark.parametrize("runner_name", ["forked", "fresh"])
def test_a_child_over_its_memory_limit_is_killed(runner_name: str, request: pytest.FixtureRequest) -> None:
    runner: Runner = request.getfixturevalue(runner_name)
    outcome = alloc(runner, 400, memory_mib=250)
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("exceeded the memory limit of 250 MiB (peak RSS ")
    assert outcome.exit is not None and outcome.exit.killed_for == "memory"
    assert outcome.report is None  # it never got to write one


def test_a_child_that_finished_above_the_limit_is_still_over_it() -> None:
    from grader.harness.jobs import ChildReport, ExitInfo

    # The watchdog polls; a child that peaks and exits between two polls is caught by ru_maxrss.
    info = ExitInfo(pid=7, exit_code=0, ru_maxrss_bytes=300 * MIB, wall_s=0.1)
    report = ChildReport(ok=True, pid=7, vmhwm_bytes=300 * MIB)
    status, reason = classify(info, report, Limits(timeout_s=10, memory_bytes=200 * MIB))
    assert status is Status.FAILED and "memory limit of 200 MiB" in reason


def test_a_segfault_is_a_failed_phase_with_the_signal_and_the_log_tail(forked: Runner) -> None:
    outcome = forked.run(ProbeJob(action="crash"), Limits(timeout_s=30), preload=PRELOAD)
    assert outcome.status is Status.FAILED
    assert outcome.exit is not None and outcome.exit.signal == "SIGSEGV"
    assert "killed by SIGSEGV" in outcome.reason
    assert "Segmentation fault" in outcome.stderr_tail  # faulthandler's report, from the child's log
    assert "_probe_crash" in outcome.stderr_tail


def test_an_exit_without_a_report_says_so(forked: Runner) -> None:
    outcome = forked.run(ProbeJob(action="exit", exit_code=5), Limits(timeout_s=30), preload=PRELOAD)
    assert outcome.status is Status.FAILED
    assert outcome.exit is not None and outcome.exit.exit_code == 5 and outcome.report is None
    assert "exiting with code 5" in outcome.stderr_tail


def test_an_exception_is_reported_with_its_text_and_traceback(forked: Runner) -> None:
    outcome = forked.run(ProbeJob(action="raise"), Limits(timeout_s=30), preload=PRELOAD)
    assert outcome.status is Status.FAILED
    assert outcome.reason.endswith("RuntimeError: probe: an exception inside the child, on purpose")
    assert "Traceback" in outcome.stderr_tail
    assert outcome.exit is not None and outcome.exit.exit_code == 1


def test_the_zygote_keeps_serving_after_failures_and_forks_pristine_children(forked: Runner) -> None:
    first, second = alloc(forked, 16), alloc(forked, 16)
    assert first.ok and second.ok
    assert first.report is not None and second.report is not None
    assert first.report.pid != second.report.pid
    # Each child starts from the zygote, not from its predecessor: no memory carried over.
    assert second.report.rss_before_load_bytes is not None and first.report.rss_before_load_bytes is not None
    assert abs(second.report.rss_before_load_bytes - first.report.rss_before_load_bytes) < 8 * MIB
    assert forked.zygote_info()[PRELOAD]["threads"] == 1


def test_two_children_may_run_side_by_side(forked: Runner) -> None:
    results: list = [None, None]
    job = ProbeJob(action="alloc", mib=32, hold_s=1.5)  # each child stays alive 1.5 s

    def run(index: int) -> None:
        results[index] = forked.run(job, Limits(timeout_s=60), preload=PRELOAD, label=f"side-{index}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None and r.ok for r in results)
    # Both children finishing is not enough: run one after the other they finish too. Their own
    # clocks (one monotonic clock for the machine) must show each alive while the other was.
    first, second = (r.report.probe for r in results)
    assert first.started_monotonic_s < second.ended_monotonic_s
    assert second.started_monotonic_s < first.ended_monotonic_s


def test_a_zygote_that_cannot_import_falls_back_to_fresh_processes(tmp_path: Path) -> None:
    with Runner(tmp_path, PLAN.env()) as runner:
        outcome = runner.run(
            ProbeJob(action="alloc", mib=8),
            Limits(timeout_s=60),
            preload=("numpy", "no_such_module_for_grader"),
        )
        assert outcome.ok, outcome.reason
        assert outcome.process.startswith("a fresh python process (zygote unavailable: importing")
        assert any("no_such_module_for_grader" in note for note in runner.notes)


def test_closing_the_runner_stops_a_running_child(tmp_path: Path) -> None:
    runner = Runner(tmp_path, PLAN.env())
    box: list = []
    worker = threading.Thread(
        target=lambda: box.append(runner.run(ProbeJob(action="hang"), Limits(timeout_s=300), preload=PRELOAD))
    )
    worker.start()
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("0*.log")) and time.monotonic() < deadline:  # the child's own log
        time.sleep(0.05)
    time.sleep(0.5)
    runner.close()
    worker.join(30)
    assert box and box[0].status is Status.FAILED
    assert box[0].exit is not None and box[0].exit.signal == "SIGKILL"


@pytest.mark.slow
def test_torch_and_transformers_zygote_holds_one_thread_after_asking_torch_for_its_threads(
    tmp_path: Path,
) -> None:
    """The zygote's imports must not start thread pools, and neither may torch.get_num_threads():
    the zygote calls it, then counts its threads, and a forked child still runs torch normally."""
    from grader.harness.backends.transformers import TransformersBackend

    plan = ThreadPlan.from_course(Threads(intra_op=2, inter_op=1))
    with Runner(tmp_path, plan.env()) as runner:
        outcome = runner.run(
            ProbeJob(action="alloc", mib=8), Limits(timeout_s=120), preload=TransformersBackend.preload
        )
        assert outcome.ok, outcome.reason
        ready = runner.zygote_info()[TransformersBackend.preload]
    assert ready["threads"] == 1
    assert ready["torch_threads"][0] == plan.intra_op  # OMP_NUM_THREADS, read without starting a pool
    assert outcome.process.startswith("forked from a zygote that preloaded numpy, torch")


@pytest.mark.parametrize("use_zygote", [True, False])
def test_a_module_planted_in_the_working_folder_is_not_imported(
    use_zygote: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grader runs inside the course repository; nothing there may stand in for a module."""
    planted = tmp_path / "repo"
    planted.mkdir()
    (planted / "numpy.py").write_text('raise SystemExit("a planted numpy was imported")\n')
    monkeypatch.chdir(planted)
    work = tmp_path / "work"
    work.mkdir()
    with Runner(work, PLAN.env(), use_zygote=use_zygote) as runner:
        outcome = runner.run(ProbeJob(action="alloc", mib=8), Limits(timeout_s=60), preload=PRELOAD)
    assert outcome.ok, (outcome.reason, outcome.stderr_tail)
    assert not runner.notes  # the zygote started: its `import numpy` found the real one


def test_thread_runtime_settings_of_the_parent_do_not_reach_the_zygote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing scikit-learn sets KMP_INIT_AT_FORK=FALSE in the parent (the demo does); forked
    children must get the runtime's defaults and the plan's settings, not the parent's."""
    monkeypatch.setenv("KMP_INIT_AT_FORK", "FALSE")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv("GOMP_SPINCOUNT", "0")
    monkeypatch.setenv("GRADER_TEST_UNRELATED", "kept")
    with Runner(tmp_path, PLAN.env()) as runner:
        assert alloc(runner, 8).ok
        pid = runner.zygote_info()[PRELOAD]["pid"]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    seen = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    assert "KMP_INIT_AT_FORK" not in seen and "GOMP_SPINCOUNT" not in seen
    assert seen["OMP_NUM_THREADS"] == "1"  # the plan's, not the parent's 7
    assert seen["GRADER_TEST_UNRELATED"] == "kept"
