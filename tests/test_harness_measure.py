"""`measure_submission` end to end: real tiny models, real zygotes and children, real eval data.

One module-wide runner keeps the torch zygote warm across the runs. Each run is one submission
as `grader validate` would hand it over: a baseline and candidates in the team's folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from harness_support import (
    bert_inputs,
    course,
    export_onnx,
    make_bert,
    make_vit,
    team_dir,
    validated,
    write_reviews,
)

from grader.course.model import LatencySettings, Tolerance
from grader.harness.environment import ThreadPlan
from grader.harness.jobs import Limits, PhaseJob
from grader.harness.measure import ProgressEvent, measure_submission
from grader.harness.memory import MIB, memory_result
from grader.harness.models import MeasurementRun, ModelMeasurement, Status
from grader.harness.runner import Runner, split_shared
from grader.validate.document import ParsedClaim, ValidatedSubmission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    write_reviews(root)
    hw = team_dir(root)
    model = make_bert(hw / "base")
    export_onnx(model, hw / "base", hw / "onnx", bert_inputs())
    garbage = hw / "garbage"
    shutil.copytree(hw / "base", garbage)
    (garbage / "model.safetensors").write_bytes(os.urandom(4096))  # not what its name claims
    pickled = hw / "pickled"
    shutil.copytree(hw / "base", pickled)
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    return root


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    plan = ThreadPlan.from_course(course().runner.threads)
    with Runner(tmp_path_factory.mktemp("work"), plan.env()) as shared:
        yield shared


@pytest.fixture(scope="module")
def text_measured(repo: Path, runner: Runner) -> tuple[MeasurementRun, list[ProgressEvent]]:
    submission = validated(
        repo,
        "text-classification",
        [
            ("base", {}),
            ("onnx", {"format": "onnx"}),
            ("base", {"transform": "dynamic-int8"}),
            ("garbage", {}),
            ("pickled", {}),
        ],
    )
    events: list[ProgressEvent] = []
    run = measure_submission(
        submission, course(), repo, progress=events.append, cache_dir=repo / ".cache", runner=runner
    )
    return run, events


@pytest.fixture(scope="module")
def text_run(text_measured: tuple[MeasurementRun, list[ProgressEvent]]) -> MeasurementRun:
    return text_measured[0]


def model(run: MeasurementRun, key: str) -> ModelMeasurement:
    found = run.model(key)
    assert found is not None, key
    return found


def phases(m: ModelMeasurement, phase: str) -> list:
    return [p for p in m.phases if p.phase == phase]


def test_baseline_is_measured_in_every_phase(text_run: MeasurementRun) -> None:
    base = model(text_run, "baseline")
    assert base.status is Status.OK, base.reason
    assert base.role == "baseline" and base.backend == "transformers"
    assert {p.phase for p in base.phases} == {"fetch", "size", "memory", "quality", "latency"}
    assert all(p.status is Status.OK for p in base.phases)
    assert base.size is not None
    weights = next(f for f in base.size.files if f.path == "model.safetensors")
    assert base.size.weights_bytes == weights.bytes and weights.role == "weights"
    assert set(base.artifact_digests) >= {"config.json", "model.safetensors", "tokenizer.json"}
    cpu = base.devices["cpu"]
    assert cpu.status is Status.OK
    assert cpu.load is not None and cpu.load.load_s > 0 and cpu.load.first_call_s > 0
    assert cpu.load.as_run_bytes == sum(t.bytes for t in base.size.tensors)  # fp32 weights, held as stored
    assert any("fresh process, forked from a zygote" in note for note in cpu.load.notes)


def test_latency_keeps_raw_samples_rounds_and_statistics(text_run: MeasurementRun) -> None:
    latency = model(text_run, "baseline").devices["cpu"].latency
    assert latency is not None
    assert len(latency.rounds) == 2
    assert latency.samples.stats.n == sum(r.n for r in latency.rounds) == len(latency.samples.values)
    assert latency.samples.unit == "ms" and latency.per_item.unit == "ms/item"
    assert latency.per_item.median == latency.samples.stats.median  # batch size 1
    assert latency.warmup_iters >= 6 and latency.timer == "perf_counter"
    assert latency.noise_cv is not None and not latency.remeasured


def test_latency_children_ran_interleaved(text_run: MeasurementRun) -> None:
    loadable = ["baseline@cpu", "models[0]@cpu", "models[1]@cpu"]
    # A B C, then C B A: a drift of the machine during the batch slows every model alike
    assert text_run.order == [f"{k}#1" for k in loadable] + [f"{k}#2" for k in reversed(loadable)]
    rounds = [p.round for p in phases(model(text_run, "models[0]"), "latency")]
    assert rounds == [1, 2]


def test_a_round_is_one_child_that_times_its_models_turn_by_turn(text_run: MeasurementRun) -> None:
    loadable = ["baseline", "models[0]", "models[1]"]  # transformers, onnxruntime, dynamic int8
    infos = {key: model(text_run, key).devices["cpu"].latency.round_info for key in loadable}
    for key in loadable:
        first, second = infos[key]
        assert first.models == loadable and second.models == loadable[::-1]
    for number in (0, 1):  # one child: the same wall time for each of its models
        assert len({infos[key][number].wall_s for key in loadable}) == 1


def test_a_peer_that_fails_to_load_leaves_the_others_of_its_round_timed(repo: Path, runner: Runner) -> None:
    hw = team_dir(repo)
    params = dict(course().tasks["text-classification"].params)

    def job(folder: str, backend: str, fmt: str) -> PhaseJob:
        settings = LatencySettings(min_time_s=0.05, max_time_s=0.2)
        return PhaseJob(
            phase="latency",
            backend=backend,
            model_dir=str(hw / folder),
            format=fmt,
            task="text-classification",
            task_params=params,
            latency=settings,
        )

    peers = [job("garbage", "transformers", "safetensors"), job("onnx", "onnxruntime", "onnx")]
    shared = job("base", "transformers", "safetensors").model_copy(update={"peers": peers})
    limits = Limits(timeout_s=60)
    outcome = runner.run(shared, limits, preload=("torch", "transformers", "onnxruntime"), label="shared")
    base, garbage, onnx = split_shared(outcome, 3, limits) or pytest.fail(f"no split: {outcome.reason}")
    assert base.ok and onnx.ok
    assert garbage.status is Status.FAILED and garbage.reason.startswith("loading the model failed: ")
    assert base.report and base.report.timing and base.report.timing.samples_ms
    assert onnx.report and onnx.report.threads["onnxruntime_intra_op"] == 1
    assert len({o.report.pid for o in (base, garbage, onnx) if o.report}) == 1  # one child


def test_memory_is_the_peak_above_the_interpreter_from_the_kernel(text_run: MeasurementRun) -> None:
    memory = model(text_run, "baseline").devices["cpu"].memory
    assert memory is not None
    assert memory.source == "wait4 ru_maxrss"
    assert memory.peak_above_interpreter_bytes == memory.peak_rss_bytes - memory.rss_before_load_bytes
    # A forked child starts from the zygote's imports; what the tiny model costs is small.
    assert memory.rss_before_load_bytes > 100 * MIB
    assert 0 < memory.peak_above_interpreter_bytes < 150 * MIB


def test_quality_runs_the_task_on_the_course_dataset(text_run: MeasurementRun) -> None:
    base = model(text_run, "baseline")
    quality = base.quality
    assert quality is not None
    assert quality.task == "text-classification" and quality.dataset == "reviews" and quality.device == "cpu"
    assert quality.n == 8 and quality.dataset_digest.startswith("sha256:")
    assert set(quality.metrics) == {"accuracy", "macro_f1", "mcc"}
    assert quality.primary == "accuracy" and quality.directions["accuracy"] == "higher"
    assert quality.params == {"max_length": 16}
    assert 0.0 <= quality.metrics["accuracy"] <= 1.0


def test_the_onnx_export_runs_on_onnxruntime_and_scores_like_its_original(text_run: MeasurementRun) -> None:
    base, onnx = model(text_run, "baseline"), model(text_run, "models[0]")
    assert onnx.status is Status.OK, onnx.reason
    assert onnx.backend == "onnxruntime"
    cpu = onnx.devices["cpu"]
    assert cpu.load is not None and cpu.load.providers == ["CPUExecutionProvider"]
    assert base.quality is not None and onnx.quality is not None
    assert onnx.quality.metrics == base.quality.metrics  # same weights, same predictions
    assert onnx.quality.dataset_digest == base.quality.dataset_digest


def test_dynamic_int8_holds_fewer_weight_bytes_than_fp32(text_run: MeasurementRun) -> None:
    fp32, int8 = model(text_run, "baseline"), model(text_run, "models[1]")
    assert int8.status is Status.OK, int8.reason
    assert int8.transform == "dynamic-int8"
    fp32_bytes = fp32.devices["cpu"].load.as_run_bytes
    int8_bytes = int8.devices["cpu"].load.as_run_bytes
    assert fp32_bytes is not None and int8_bytes is not None
    assert int8_bytes < fp32_bytes
    assert any("quantize_dynamic" in note for note in int8.devices["cpu"].load.notes)


def test_garbage_weights_fail_with_reasons_while_the_rest_reports(text_run: MeasurementRun) -> None:
    bad = model(text_run, "models[2]")
    assert bad.status is Status.FAILED
    (size,) = phases(bad, "size")
    assert size.status is Status.FAILED and "model.safetensors" in size.reason
    (load,) = phases(bad, "load")  # the memory and quality children failed the same way: said once
    assert load.status is Status.FAILED and load.device == "cpu"
    assert load.reason.startswith("loading the model failed: ")
    assert load.stderr_tail  # the child's traceback
    (latency,) = phases(bad, "latency")
    assert latency.status is Status.SKIPPED and "memory phase on cpu ended failed" in latency.reason
    assert bad.devices["cpu"].status is Status.FAILED and bad.devices["cpu"].latency is None
    assert bad.quality is None
    assert all(model(text_run, k).status is Status.OK for k in ("baseline", "models[0]", "models[1]"))


def test_pickle_weights_are_refused_before_anything_loads(text_run: MeasurementRun) -> None:
    pickled = model(text_run, "models[3]")
    assert pickled.status is Status.FAILED
    assert [p.phase for p in pickled.phases] == ["fetch"]
    assert "pytorch_model.bin" in pickled.phases[0].reason and "pickle" in pickled.phases[0].reason
    assert pickled.devices == {} and pickled.size is None


def test_the_record_carries_the_environment_and_round_trips(text_run: MeasurementRun, tmp_path: Path) -> None:
    env = text_run.environment
    assert env.threads["intra_op"] == 1 and env.threads["torch_intra_op"] == 1
    assert env.threads["onnxruntime_intra_op"] == 1
    assert env.libraries["torch"] and env.libraries["onnxruntime"]
    assert "CPUExecutionProvider" in env.onnxruntime_providers
    assert env.input_shapes == {"input_ids": [1, 16], "attention_mask": [1, 16], "token_type_ids": [1, 16]}
    assert env.cpu_count >= 1 and env.ram_total_bytes > 0
    copy = MeasurementRun.read(text_run.write(tmp_path / "measurement.json"))
    assert copy == text_run


def test_progress_counts_every_step(text_measured: tuple[MeasurementRun, list[ProgressEvent]]) -> None:
    _run, events = text_measured
    steps = [e for e in events if e.stage != "done"]
    # 5 fetch+size steps, 8 memory/quality children (4 loadable models), 6 latency rounds.
    assert [e.done for e in steps] == list(range(1, 5 + 8 + 6 + 1))
    assert steps[-1].total == 19 and events[-1].stage == "done"
    assert {e.stage for e in steps} == {"size", "memory", "quality", "latency"}


# --- memory of a model of known size, and limits --------------------------------------------------


def big_model(repo: Path) -> Path:
    folder = team_dir(repo) / "big"
    if not folder.exists():
        make_bert(folder, hidden=512, layers=6, intermediate=2048, vocab_size=16000)  # ~108 MB of fp32
    return folder


def test_memory_of_a_model_of_known_size(repo: Path, runner: Runner, tmp_path: Path) -> None:
    """At least the weights a forward pass touches, and not absurdly more.

    transformers maps safetensors files and the model runs on the mapped pages, so the kernel
    counts the weights as they are touched: every layer's, but of the word embeddings only the
    rows the input looks up.
    """
    import numpy as np
    from safetensors import safe_open

    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.jobs import Limits, PhaseJob

    folder = big_model(repo)
    with safe_open(str(folder / "model.safetensors"), framework="np") as weights:
        sizes = {name: weights.get_slice(name).get_shape() for name in weights.keys()}  # noqa: SIM118
    total = sum(int(np.prod(shape)) * 4 for shape in sizes.values())
    embedding = int(np.prod(sizes["bert.embeddings.word_embeddings.weight"])) * 4
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **bert_inputs())
    job = PhaseJob(
        phase="memory",
        backend="transformers",
        model_dir=str(folder),
        format="safetensors",
        inputs_file=str(inputs),
    )
    outcome = runner.run(job, Limits(timeout_s=120), preload=TransformersBackend.preload)
    assert outcome.ok, outcome.reason
    assert outcome.report is not None and outcome.exit is not None
    assert outcome.report.rss_before_load_bytes is not None
    memory = memory_result(
        rss_before_load=outcome.report.rss_before_load_bytes,
        ru_maxrss=outcome.exit.ru_maxrss_bytes,
        vmhwm=outcome.report.vmhwm_bytes,
    )
    assert memory.peak_above_interpreter_bytes >= total - embedding
    assert memory.peak_above_interpreter_bytes <= 1.5 * total + 64 * MIB


def test_forked_and_fresh_children_read_the_same_memory(repo: Path, runner: Runner, tmp_path: Path) -> None:
    """The zygote is a speed-up, not a different measurement."""
    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.jobs import Limits, PhaseJob

    job = PhaseJob(
        phase="memory",
        backend="transformers",
        model_dir=str(team_dir(repo) / "base"),
        format="safetensors",
        task="text-classification",
        task_params={"max_length": 16},
    )
    readings = []
    with Runner(tmp_path, ThreadPlan.from_course(course().runner.threads).env(), use_zygote=False) as fresh:
        for each in (runner, fresh):
            outcome = each.run(job, Limits(timeout_s=120), preload=TransformersBackend.preload)
            assert outcome.ok, outcome.reason
            assert outcome.report is not None and outcome.exit is not None
            readings.append(outcome)
    above = []
    for outcome in readings:
        memory = memory_result(
            rss_before_load=outcome.report.rss_before_load_bytes,
            ru_maxrss=outcome.exit.ru_maxrss_bytes,
            vmhwm=outcome.report.vmhwm_bytes,
        )
        above.append(memory.peak_above_interpreter_bytes)
    assert readings[0].process.startswith("forked") and readings[1].process.startswith("a fresh")
    assert abs(above[0] - above[1]) <= 4 * MIB, [a / MIB for a in above]


# --- limits: a hang and a memory hog in one run -----------------------------------------------------


@pytest.fixture(scope="module")
def fault_run(repo: Path, runner: Runner, text_run: MeasurementRun) -> MeasurementRun:
    big_model(repo)
    # Each child's whole-process limit: what the tiny model's memory child peaked at in the first
    # run, plus 24 MiB. The big model touches 75 MB of weights beyond what the tiny one does.
    tiny = model(text_run, "baseline").devices["cpu"].memory
    assert tiny is not None
    settings = course(
        limits={"phase_timeout_s": 8, "memory_mib": math.ceil(tiny.peak_rss_bytes / MIB) + 24},
        latency={"min_time_s": 60, "max_time_s": 120, "min_iters": 10, "max_iters": 10_000_000},
    )
    submission = validated(repo, "text-classification", [("base", {}), ("big", {})])
    return measure_submission(submission, settings, repo, cache_dir=repo / ".cache", runner=runner)


def test_a_latency_child_past_its_time_limit_fails_and_the_rest_stands(fault_run: MeasurementRun) -> None:
    base = model(fault_run, "baseline")
    assert base.status is Status.FAILED
    first, second = phases(base, "latency")
    assert first.status is Status.FAILED and first.reason == "timed out after 8 s (the phase time limit)"
    assert first.signal == "SIGKILL"
    assert second.status is Status.SKIPPED and second.round == 2
    assert base.devices["cpu"].status is Status.FAILED and "timed out" in base.devices["cpu"].reason
    assert base.devices["cpu"].memory is not None and base.quality is not None and base.size is not None


def test_a_child_over_the_memory_limit_fails_with_the_limit_named(fault_run: MeasurementRun) -> None:
    big = model(fault_run, "models[0]")
    assert big.status is Status.FAILED
    (memory,) = phases(big, "memory")
    assert memory.status is Status.FAILED
    assert memory.reason.startswith("exceeded the memory limit of ") and "MiB" in memory.reason
    (latency,) = phases(big, "latency")
    assert latency.status is Status.SKIPPED
    assert big.size is not None and big.size.weights_bytes > 50_000_000  # the parent's size phase is intact


# --- the adaptive paired rounds ----------------------------------------------------------------------


def _claim_speedup(submission: ValidatedSubmission, key: str, value: float) -> ValidatedSubmission:
    """The submission with ``key`` claiming `speedup_cpu: <value>x`."""
    claim = ParsedClaim(metric="speedup_cpu", raw=f"{value}x", value=value, unit="x")
    entries = [e.model_copy(update={"claims": [claim]}) if e.key == key else e for e in submission.entries]
    return submission.model_copy(update={"entries": entries})


def test_an_undecided_figure_gets_more_rounds_in_alternating_order(repo: Path, runner: Runner) -> None:
    # A precision no machine reaches: the rounds go on to max_rounds, two at a time after the first four.
    submission = validated(
        repo, "text-classification", [("onnx", {"format": "onnx"}), ("onnx", {"format": "onnx"})]
    )
    speed = {"min_rounds": 4, "max_rounds": 6, "step": 2, "budget_s": 120, "precision": 1e-9}
    run = measure_submission(
        submission,
        course(speed=speed, devices=["cpu", "cuda"]),
        repo,
        cache_dir=repo / ".cache",
        runner=runner,
    )
    assert run.order == [
        "baseline@cpu#1",
        "models[0]@cpu#1",
        "models[0]@cpu#2",  # even rounds run in reverse: drift during a batch hits both alike
        "baseline@cpu#2",
        "baseline@cpu#3",
        "models[0]@cpu#3",
        "models[0]@cpu#4",
        "baseline@cpu#4",
        "baseline@cpu#5",
        "models[0]@cpu#5",
        "models[0]@cpu#6",
        "baseline@cpu#6",
    ]
    candidate = model(run, "models[0]")
    cpu = candidate.devices["cpu"]
    assert cpu.status is Status.OK and cpu.latency is not None
    latency = cpu.latency
    assert latency.round_numbers == [1, 2, 3, 4, 5, 6] and len(latency.rounds) == 6
    assert latency.stop_reason == "max_rounds"
    assert latency.median is not None and latency.median.rounds == 6 and latency.median.unit == "ms/item"
    assert latency.median.low < latency.median.estimate < latency.median.high
    # the same file against itself: a speed-up of 1 lies inside its interval, except by rare chance
    assert latency.speedup is not None and latency.speedup.rounds == 6
    assert latency.speedup.low < 1.0 < latency.speedup.high or abs(latency.speedup.estimate - 1) < 0.1
    assert [r.round for r in latency.round_info] == latency.round_numbers
    assert all(r.wall_s and r.wall_s > 0 for r in latency.round_info)
    pinned = {r.cpu for r in latency.round_info}
    assert pinned == ({max(os.sched_getaffinity(0))} if len(os.sched_getaffinity(0)) > 1 else {None})
    assert model(run, "baseline").devices["cpu"].latency.speedup is None  # type: ignore[union-attr]
    # A device this runner (or backend) lacks is not measurable, and says why; it does not make the
    # model itself "not measurable".
    cuda = candidate.devices["cuda"]
    assert cuda.status is Status.NOT_MEASURABLE and cuda.reason
    assert not [p for p in candidate.phases if p.device == "cuda"]


def test_a_decided_claim_stops_its_rounds(repo: Path, runner: Runner) -> None:
    # A claim of 1.0x with a tolerance so wide that the first rounds' interval already lies inside.
    submission = _claim_speedup(
        validated(repo, "text-classification", [("onnx", {"format": "onnx"}), ("onnx", {"format": "onnx"})]),
        "models[0]",
        1.0,
    )
    wide = course(speed={"min_rounds": 4, "max_rounds": 20, "budget_s": 120, "precision": 1e-9})
    wide = wide.model_copy(
        update={"tolerances": wide.tolerances.model_copy(update={"speedup": Tolerance(rel=0.9)})}
    )
    run = measure_submission(submission, wide, repo, cache_dir=repo / ".cache", runner=runner)
    latency = model(run, "models[0]").devices["cpu"].latency
    # decided after the first check on a quiet host; a host's slow stretch may cost a step or two
    assert latency is not None and latency.stop_reason == "decided" and 4 <= len(latency.rounds) < 20
    # the baseline (unclaimed, impossible precision) still stops: it runs only to pair with candidates
    assert len(run.order) == 2 * len(latency.rounds)


# --- an image model, and the CLI ---------------------------------------------------------------------


def test_a_vit_and_its_onnx_export_are_measured_alike(tmp_path: Path, runner: Runner) -> None:
    hw = team_dir(tmp_path)
    vit = make_vit(hw / "vit")
    import numpy as np

    export_onnx(vit, hw / "vit", hw / "vit-onnx", {"pixel_values": np.zeros((1, 1, 8, 8), dtype=np.float32)})
    submission = validated(tmp_path, "image-classification", [("vit", {}), ("vit-onnx", {"format": "onnx"})])
    run = measure_submission(submission, course(), tmp_path, cache_dir=tmp_path / ".cache", runner=runner)
    torch_vit, onnx_vit = model(run, "baseline"), model(run, "models[0]")
    assert torch_vit.status is Status.OK, torch_vit.reason
    assert onnx_vit.status is Status.OK, onnx_vit.reason
    assert torch_vit.quality is not None and onnx_vit.quality is not None
    assert torch_vit.quality.n == 24
    assert set(torch_vit.quality.metrics) == {"accuracy", "macro_precision", "macro_recall", "macro_f1"}
    assert onnx_vit.quality.metrics == torch_vit.quality.metrics
    assert run.environment.input_shapes == {"pixel_values": [1, 1, 8, 8]}


def test_grader_measure_cli_writes_the_document(repo: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grader.cli import app

    settings = course()
    (repo / "course.yaml").write_text(yaml.safe_dump(settings.model_dump(mode="json")), encoding="utf-8")
    submission = validated(repo, "text-classification", [("onnx", {"format": "onnx"})])
    validated_file = submission.write(tmp_path / "validated.json")
    out = tmp_path / "measurement.json"
    args = ["measure", str(validated_file), "--course", str(repo / "course.yaml"), "--repo", str(repo)]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--quiet", "--devices", "cpu"])
    assert result.exit_code == 0, result.output
    run = MeasurementRun.read(out)
    assert run.models[0].status is Status.OK
    assert json.loads(out.read_text())["kind"] == "measurement-run"

    bad = CliRunner().invoke(app, [*args, "--out", str(out), "--devices", "gpu"])
    assert bad.exit_code == 2 and "unknown device gpu" in bad.output
    missing = CliRunner().invoke(
        app, ["measure", str(tmp_path / "nope.json"), "--course", str(repo / "course.yaml")]
    )
    assert missing.exit_code == 2 and "does not exist" in missing.output
