"""Thread plan, the reproducibility block, and /proc memory readings."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from grader.course.model import Threads
from grader.harness.environment import ThreadPlan, collect_environment
from grader.harness.memory import MIB, memory_result, read_status


def test_thread_plan_caps_at_the_cpus_and_records_the_request() -> None:
    plan = ThreadPlan.from_course(Threads(intra_op=4, inter_op=3), cpus=2)
    assert (plan.intra_op, plan.inter_op) == (2, 2)
    env = plan.env()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["OPENBLAS_NUM_THREADS"] == "1"  # numpy's BLAS: no pool before fork
    assert env["HF_HUB_OFFLINE"] == "1" and env["TOKENIZERS_PARALLELISM"] == "false"
    record = plan.record()
    assert record["intra_op"] == 2 and record["intra_op_requested"] == 4


def test_the_plan_is_pure() -> None:
    import os

    before = dict(os.environ)
    ThreadPlan.from_course(Threads(intra_op=1, inter_op=1)).env()
    assert dict(os.environ) == before


def test_environment_block_describes_the_machine_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "from grader.course.model import Threads\n"
        "from grader.harness.environment import ThreadPlan, collect_environment\n"
        "env = collect_environment(ThreadPlan.from_course(Threads()), seed=3, input_shapes={'x': [1, 2]})\n"
        "print(env.model_dump_json())\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    document, torch_imported = done.stdout.strip().splitlines()
    assert torch_imported == "False"  # no CUDA initialisation can happen in the parent
    import json

    env = json.loads(document)
    assert env["seed"] == 3 and env["input_shapes"] == {"x": [1, 2]}
    assert env["cpu_model"] and env["cpu_count"] >= 1 and env["ram_total_bytes"] > 2**30
    assert {"torch", "transformers", "onnxruntime", "onnx", "numpy"} <= set(env["libraries"])
    assert "CPUExecutionProvider" in env["onnxruntime_providers"]
    assert env["git_commit"] is None or len(env["git_commit"]) == 40


def test_observed_threads_are_merged_into_the_record() -> None:
    plan = ThreadPlan.from_course(Threads(intra_op=1, inter_op=1))
    env = collect_environment(plan, seed=0, observed_threads={"torch_intra_op": 1})
    assert env.threads["torch_intra_op"] == 1 and env.threads["intra_op"] == 1


def test_proc_status_tracks_an_allocation() -> None:
    before = read_status()
    block = np.ones(64 * MIB, dtype=np.uint8)
    after = read_status()
    assert after["VmRSS"] - before["VmRSS"] >= 60 * MIB
    assert after["VmHWM"] >= after["VmRSS"]
    del block
    assert read_status(999_999_999) == {}  # a process that is gone reads as unknown


def test_memory_result_prefers_wait4_and_falls_back_to_vmhwm() -> None:
    both = memory_result(rss_before_load=100 * MIB, ru_maxrss=300 * MIB, vmhwm=299 * MIB)
    assert both.source == "wait4 ru_maxrss" and both.peak_above_interpreter_bytes == 200 * MIB
    only_hwm = memory_result(rss_before_load=100 * MIB, ru_maxrss=None, vmhwm=250 * MIB)
    assert only_hwm.source == "VmHWM" and only_hwm.peak_above_interpreter_bytes == 150 * MIB
    with pytest.raises(ValueError, match="no peak memory reading"):
        memory_result(rss_before_load=1, ru_maxrss=None, vmhwm=None)
