"""OpenVINO phases fork from a zygote: `import openvino` starts a thread, so the backend imports it
in the child (pre_load_imports), after fork, and its zygote stays single-threaded.

Before this, the zygote preloaded openvino, held two threads, and the runner ran every OpenVINO
phase as a fresh interpreter (seconds of imports each, and a different memory baseline).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness_support import bert_inputs, course, export_onnx, make_bert, team_dir, validated, write_reviews

from grader.harness.backends.base import LoadSpec
from grader.harness.backends.openvino import OpenVinoBackend
from grader.harness.environment import ThreadPlan
from grader.harness.jobs import Limits, ProbeJob
from grader.harness.measure import measure_submission
from grader.harness.models import Status
from grader.harness.runner import Runner

ov = pytest.importorskip("openvino", reason="OpenVINO is not installed (the `openvino` extra)")


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    plan = ThreadPlan.from_course(course().runner.threads)
    with Runner(tmp_path_factory.mktemp("work"), plan.env()) as shared:
        yield shared


def test_openvino_is_imported_in_the_child_not_the_zygote(tmp_path: Path) -> None:
    assert "openvino" not in OpenVinoBackend.preload
    spec = LoadSpec(model_dir=tmp_path, format="openvino")
    assert OpenVinoBackend.pre_load_imports(spec) == ["openvino"]


def test_the_openvino_zygote_holds_one_thread_and_forks(runner: Runner) -> None:
    outcome = runner.run(
        ProbeJob(action="alloc", mib=8), Limits(timeout_s=60), preload=OpenVinoBackend.preload
    )
    assert outcome.ok, outcome.reason
    assert runner.zygote_info()[OpenVinoBackend.preload]["threads"] == 1
    assert outcome.process.startswith("forked from a zygote")


@pytest.mark.slow
def test_an_openvino_measurement_runs_in_forked_children(tmp_path: Path, runner: Runner) -> None:
    repo = tmp_path / "repo"
    write_reviews(repo)
    hw = team_dir(repo)
    model = make_bert(hw / "base")
    onnx_path = export_onnx(model, hw / "base", hw / "ir", bert_inputs())
    ov.save_model(ov.convert_model(str(onnx_path)), str(hw / "ir" / "model.xml"))
    onnx_path.unlink()  # the IR alone, as a team would submit it
    submission = validated(repo, "text-classification", [("ir", {"format": "openvino"})])
    run = measure_submission(submission, course(), repo, cache_dir=repo / ".cache", runner=runner)
    measured = run.models[0]
    assert measured.status is Status.OK, measured.reason
    cpu = measured.devices["cpu"]
    assert cpu.load is not None and cpu.latency is not None and cpu.memory is not None
    assert any(
        note.startswith("each phase ran in a fresh process, forked from a zygote") for note in cpu.load.notes
    )
    assert not [n for n in runner.notes if "numpy" in n], runner.notes  # no fallback to fresh interpreters
    assert measured.quality is not None and measured.quality.n == 8
    # openvino's import was before the pre-load RSS reading: the model's memory is the model's
    assert 0 < cpu.memory.peak_above_interpreter_bytes < 200 * 1024 * 1024
