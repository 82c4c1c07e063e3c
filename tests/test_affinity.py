"""grader.harness.affinity: latency children pinned to one CPU, the grader's own threads (all of
them, not only the calling one) kept off it meanwhile, and what the CPU went through."""

from __future__ import annotations

import os
import threading

import pytest

from grader.harness.affinity import StealWatch, allowed_cpus, keep_off, latency_cpu, steal_seconds

TWO_CPUS = pytest.mark.skipif(len(allowed_cpus()) < 2, reason="pinning needs at least two CPUs")


def test_only_one_thread_per_child_is_pinned() -> None:
    assert latency_cpu(2) is None  # a child with an intra-op pool needs more than one CPU
    assert latency_cpu(1, enabled=False) is None
    if len(allowed_cpus()) >= 2:
        assert latency_cpu(1) == max(allowed_cpus())


@TWO_CPUS
def test_every_thread_keeps_off_the_childrens_cpu_and_gets_it_back() -> None:
    cpu = max(allowed_cpus())
    before = allowed_cpus()
    seen: dict[str, set[int]] = {}
    ready, done = threading.Event(), threading.Event()

    def waiter() -> None:  # a thread started before the block, like the runner's event readers
        ready.set()
        done.wait(10)
        seen["other thread"] = set(os.sched_getaffinity(0))

    thread = threading.Thread(target=waiter)
    thread.start()
    ready.wait(10)
    with keep_off(cpu):
        seen["this thread"] = set(os.sched_getaffinity(0))
        done.set()
        thread.join(10)
    assert seen == {"this thread": before - {cpu}, "other thread": before - {cpu}}
    assert allowed_cpus() == before


def test_steal_time_is_read_from_proc_stat() -> None:
    total = steal_seconds(None)
    if total is None:
        pytest.skip("/proc/stat has no steal column here")
    assert total >= 0 and steal_seconds(0) is not None
    assert StealWatch(0).seconds() == pytest.approx(0.0, abs=0.5)
