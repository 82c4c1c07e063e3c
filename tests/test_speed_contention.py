"""A runner whose timed CPU is shared with other work: the child measures how long its threads
waited for the CPU (the scheduler's run-queue delay), and a speed claim the interval puts outside
its band is graded "off" only if it stays outside when that wait is allowed to have moved the
ratio the most it can; otherwise it is left undecided, with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from grader.course.model import Tolerance
from grader.harness.models import RoundInfo
from grader.harness.stats import Interval
from grader.harness.timing import run_queue_wait_s
from grader.messages import note, render_note
from grader.verify.checks import CONTENDED_SHARE, judge_speed
from grader.verify.models import MetricCheck, MetricStatus
from grader.verify.readings import Reading, State

LINUX = sys.platform.startswith("linux") and run_queue_wait_s() is not None

# A child pinned to one CPU times a busy call with the grader's own loop and prints the share of
# the timed window its threads waited for that CPU.
TIMED_CHILD = textwrap.dedent(
    """
    import os, sys
    os.sched_setaffinity(0, {int(sys.argv[1])})
    from grader.course.model import LatencySettings
    from grader.harness.timing import measure
    settings = LatencySettings(warmup_block=3, warmup_tolerance=0.5, warmup_max_s=0.2, min_iters=20,
                               min_time_s=1.0, max_time_s=1.5, max_iters=100000, stable_tolerance=1e-9)
    report = measure(lambda: sum(range(20000)), settings)
    print(report.waited_s / report.measure_s)
    """
)
HOG = "import time\nend = time.time() + 20\nwhile time.time() < end: pass\n"


def _timed_share(cpu: int) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIMED_CHILD, str(cpu)], capture_output=True, text=True, timeout=120, check=True
    )
    return float(done.stdout.strip())


@pytest.mark.skipif(not LINUX, reason="the run-queue delay is read from Linux's /proc/self/task/*/schedstat")
def test_a_child_sharing_its_cpu_with_a_busy_process_reports_the_wait() -> None:
    cpu = min(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", HOG], preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        shared = _timed_share(cpu)
    finally:
        hog.kill()
        hog.wait()
    # Two CPU-bound processes on one CPU: each waits about half the time (more if others join).
    assert 0.25 <= shared <= 1.0


def _rounds(waited: float | None, n: int = 12) -> list[RoundInfo]:
    return [
        RoundInfo(round=r, cpu=1, steal_s=0.0, governor=None, waited_share=waited) for r in range(1, n + 1)
    ]


def _reading(low: float, estimate: float, high: float) -> Reading:
    interval = Interval(
        estimate=estimate, low=low, high=high, confidence=0.95, rounds=12, unit="x", method="t"
    )
    return Reading(State.OK, value=estimate, interval=interval)


def _judge(reading: Reading, rounds: list[RoundInfo]) -> MetricCheck:
    measured = note("reason.speedup_measured", claimed="1.0x", measured="1.5x", tolerance="±20 %")
    fields = {"metric": "speedup_cpu", "claimed": 1.0, "unit": "x"}
    return judge_speed(
        1.0, reading, Tolerance(rel=0.2), fields, reason=measured, claim_text="1.0x", rounds_ran_on=rounds
    )


def test_outside_the_band_on_a_quiet_runner_is_off() -> None:
    check = _judge(_reading(1.40, 1.50, 1.60), _rounds(0.0))
    assert check.status is MetricStatus.OFF


def test_just_outside_the_band_on_a_contended_runner_is_undecided_with_the_reason() -> None:
    # band for 1.0x ±20 %: 0.833–1.25; the interval 1.30–1.40 is outside, but 15 % of a round
    # waiting for the CPU can stretch it to 1.105–1.65, across the edge.
    check = _judge(_reading(1.30, 1.35, 1.40), _rounds(0.15))
    assert check.status is MetricStatus.INCONCLUSIVE
    assert check.reason_note is not None and check.reason_note.key == "reason.contended"
    assert check.reason_note.params["waited"] == pytest.approx(0.15)
    assert check.hint_note is not None and check.hint_note.key == "hint.inconclusive_waited"
    for language in ("en", "ru"):  # both languages say the share and how to settle it
        said = render_note(check.reason_note, language) + render_note(check.hint_note, language)
        assert "15" in said and "/regrade" in said


def test_far_outside_the_band_stays_off_even_on_a_contended_runner() -> None:
    # eight times slower: no wait for a CPU of 15 % explains it
    check = _judge(_reading(0.12, 0.125, 0.13), _rounds(0.15))
    assert check.status is MetricStatus.OFF


def test_a_wait_below_the_threshold_changes_nothing() -> None:
    check = _judge(_reading(1.30, 1.35, 1.40), _rounds(CONTENDED_SHARE / 2))
    assert check.status is MetricStatus.OFF


def test_rounds_without_the_figure_old_documents_judge_as_before() -> None:
    check = _judge(_reading(1.30, 1.35, 1.40), _rounds(None))
    assert check.status is MetricStatus.OFF
    inside = _judge(_reading(0.95, 1.0, 1.05), _rounds(0.5))
    assert inside.status is MetricStatus.REPRODUCED  # contention never turns a decided "inside" away
