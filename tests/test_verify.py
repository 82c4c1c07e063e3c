"""verify: each metric's status (incl. tolerance edges), the hints, not-measurable and noisy
figures, ratios, verdict precedence, invalid submissions. Inputs are real MeasurementRun
documents (tests/golden/factory.py) with claims read by the real unit parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from golden.factory import (
    BERT_FP32,
    BERT_PARAMS,
    MIB,
    DeviceMeasurement,
    PhaseResult,
    Status,
    bert_baseline,
    cpu,
    cuda,
    entry,
    latency,
    make_course,
    model,
    no_cuda,
    quality,
    run,
    size_report,
    validated,
)

from grader.verify import grade_invalid, verify
from grader.verify.models import Grade, MetricCheck, MetricStatus, Verdict
from grader.verify.scoring import VERDICT_PRECEDENCE, entry_verdict, worst

NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
BASE_CLAIMS = {"size": "438 MB", "latency_cpu": "21 ms", "ram": "610 MiB", "quality.accuracy": "91.2%"}
FULL = {
    "size": "219 MB",
    "latency_cpu": "11 ms",
    "ram": "330 MiB",
    "quality.accuracy": "90.5%",
}  # HW-2 asks these


def candidate(
    claims: dict[str, str],
    *,
    size: int = BERT_FP32 // 2,
    ms: float = 11.0,
    ram: float = 330.0,
    acc: float = 0.905,
    transform: str | None = None,
    as_run: int | None = None,
    devices: list[DeviceMeasurement] | None = None,
    size_kwargs: dict | None = None,
    **model_kwargs,
):
    """(validated entry, measurement) of one compressed model."""
    e = entry("models[0]", "cand", claims, transform=transform)
    m = model(
        "models[0]",
        "cand",
        size=size_report(size, BERT_PARAMS, **(size_kwargs or {})),
        devices=devices or [cpu(ms, ram, as_run_bytes=as_run), no_cuda()],
        quality_result=quality(acc, acc - 0.01, 0.8),
        transform=transform,
        **model_kwargs,
    )
    return e, m


def grade(
    cand=None,
    *,
    homework: int = 2,
    base_claims: dict[str, str] | None = None,
    base=None,
    gpu: bool = False,
    course=None,
) -> Grade:
    entries = [entry("baseline", "base", BASE_CLAIMS if base_claims is None else base_claims)]
    models = [base or bert_baseline(gpu=gpu)]
    if cand is not None:
        entries.append(cand[0])
        models.append(cand[1])
    return verify(
        run(validated("ml_masters", homework, entries), models, gpu=gpu), course or make_course(), now=NOW
    )


def check(g: Grade, metric: str, key: str = "models[0]") -> MetricCheck:
    e = next(e for e in g.entries if e.key == key)
    return next(c for c in e.checks if c.metric == metric)


# --- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed_mb", "status"),
    [
        (219.0, MetricStatus.REPRODUCED),
        (223.34, MetricStatus.REPRODUCED),
        (223.36, MetricStatus.OFF),
        (214.6, MetricStatus.REPRODUCED),
        (214.58, MetricStatus.OFF),
    ],
)
def test_size_tolerance_edges(claimed_mb: float, status: MetricStatus) -> None:
    # measured 218,967,556 B; the course allows ±2 % of the measured value: [214.588, 223.347] MB
    g = grade(candidate({"size": f"{claimed_mb} MB"}))
    c = check(g, "size")
    assert c.status is status
    assert c.measured == BERT_FP32 // 2
    assert c.tolerance == "±2 %"
    assert c.source == "weights_files"
    if status is MetricStatus.OFF:
        assert c.difference == pytest.approx(BERT_FP32 // 2 - claimed_mb * 1e6)
        assert c.relative == pytest.approx((claimed_mb * 1e6 - BERT_FP32 // 2) / (BERT_FP32 // 2))
        assert c.reason_note is not None and c.reason_note.key == "reason.off"
        assert c.reason_note.params["tolerance"] == "±2 %"


def test_size_of_a_transformed_model_is_the_size_as_run() -> None:
    as_run = 181_874_012
    g = grade(candidate({"size": "182 MB"}, size=BERT_FP32, transform="dynamic-int8", as_run=as_run))
    c = check(g, "size")
    assert (c.status, c.measured, c.source) == (MetricStatus.REPRODUCED, as_run, "as_run")
    assert g.entries[1].measured.size_bytes == BERT_FP32  # the files stay fp32, and the record says so
    assert g.entries[1].measured.graded_size_bytes == as_run
    assert g.entries[1].ratios.compression == pytest.approx(BERT_FP32 / as_run)


def test_a_transformed_model_claiming_its_file_size_is_told_why() -> None:
    g = grade(candidate({"size": "438 MB"}, size=BERT_FP32, transform="dynamic-int8", as_run=181_874_012))
    c = check(g, "size")
    assert c.status is MetricStatus.OFF
    assert c.hint_note is not None and c.hint_note.key == "hint.as_run_vs_files"
    assert "dynamic-int8" in c.hint and "437.9 MB" in c.hint


@pytest.mark.parametrize(
    ("claim", "other_unit", "suggestion"),
    [("418 MB", "MiB", "417.6 MiB"), ("0.41 GB", "GiB", "0.4 GiB"), ("438 MiB", "MB", "437.9 MB")],
)
def test_decimal_and_binary_units_mixed_up_get_a_hint(claim: str, other_unit: str, suggestion: str) -> None:
    g = grade(candidate({"size": claim}, size=BERT_FP32))
    c = check(g, "size")
    assert c.status is MetricStatus.OFF
    assert c.hint_note is not None and c.hint_note.key == "hint.binary_units"
    assert c.hint_note.params["other_unit"] == other_unit
    assert f"`{suggestion}`" in c.hint


def test_a_size_claim_that_is_simply_wrong_gets_no_unit_hint() -> None:
    c = check(grade(candidate({"size": "300 MB"}, size=BERT_FP32)), "size")
    assert c.status is MetricStatus.OFF
    assert c.hint_note is not None and c.hint_note.key == "hint.size_generic"


def test_a_pruned_model_stored_dense_is_explained() -> None:
    kwargs = {"zeros": 0.5, "sparse_ideal": 232_700_000}
    near_ideal = check(grade(candidate({"size": "230 MB"}, size=BERT_FP32, size_kwargs=kwargs)), "size")
    assert near_ideal.status is MetricStatus.OFF
    assert near_ideal.hint_note is not None and near_ideal.hint_note.key == "hint.ideal_sparse"
    assert "50 %" in near_ideal.hint and "232.7 MB" in near_ideal.hint
    elsewhere = check(grade(candidate({"size": "120 MB"}, size=BERT_FP32, size_kwargs=kwargs)), "size")
    assert elsewhere.hint_note is not None and elsewhere.hint_note.key == "hint.dense_zeros_ideal"


def test_the_2025_clustered_302_mb_claim() -> None:
    kwargs = {"unique": 16, "codebook_ideal": 54_742_000, "compressed": 112_400_000}
    c = check(grade(candidate({"size": "302 MB"}, size=BERT_FP32, size_kwargs=kwargs)), "size")
    assert c.status is MetricStatus.OFF
    assert c.measured == BERT_FP32
    assert c.hint_note is not None and c.hint_note.key == "hint.dense_clustered_ideal"
    assert "16 distinct values" in c.hint and "54.7 MB" in c.hint
    zstd = check(grade(candidate({"size": "112 MB"}, size=BERT_FP32, size_kwargs=kwargs)), "size")
    assert zstd.hint_note is not None and zstd.hint_note.key == "hint.ideal_compressed"


# --- latency ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed_ms", "status"),
    # baseline claim 21 ms; measured speed-up 21.3/10.65 = 2.0 with an interval of about ±0.2 %; a
    # claimed speed-up c holds for measured values in [c/1.2, c/0.8]: the whole interval inside →
    # reproduced, wholly outside → off, across the edge → inconclusive
    [
        (10.5, MetricStatus.REPRODUCED),
        (8.79, MetricStatus.REPRODUCED),  # c = 2.389: band from 1.991
        (8.75, MetricStatus.INCONCLUSIVE),  # c = 2.400: band from 2.000, the interval's middle
        (8.70, MetricStatus.OFF),  # c = 2.414: band from 2.011
        (13.05, MetricStatus.REPRODUCED),  # c = 1.609: band up to 2.011
        (13.2, MetricStatus.OFF),  # c = 1.591: band up to 1.989
    ],
)
def test_latency_is_checked_as_the_speedup_over_the_baseline(claimed_ms: float, status: MetricStatus) -> None:
    g = grade(candidate({"latency_cpu": f"{claimed_ms} ms"}, ms=10.65))
    c = check(g, "latency_cpu")
    assert c.status is status
    assert c.compared == "speedup"
    assert c.measured_speedup == pytest.approx(2.0, rel=1e-9)
    assert c.claimed_speedup == pytest.approx(21 / claimed_ms)
    assert c.measured == pytest.approx(0.01065)  # the absolute time is shown, not graded
    assert c.interval is not None and c.interval.unit == "x"  # judged on the speed-up's interval
    if status is MetricStatus.INCONCLUSIVE:
        assert c.reason_note is not None and c.reason_note.key == "reason.inconclusive"
        assert c.hint_note is not None and c.hint_note.key == "hint.inconclusive"
    else:
        assert c.reason_note is not None and c.reason_note.key == "reason.speedup_compared"


def test_absolute_latency_without_a_baseline_claim_is_unverifiable_with_the_measured_value() -> None:
    g = grade(candidate({"latency_cpu": "11 ms"}, ms=12.4), base_claims={"size": "438 MB"})
    c = check(g, "latency_cpu")
    assert c.status is MetricStatus.UNVERIFIABLE
    assert c.measured == pytest.approx(0.0124)
    assert c.reason_note is not None and c.reason_note.key == "reason.absolute_time"
    assert c.reason_note.params["measured"] == "12.4 ms"
    assert check(g, "latency_cpu", "baseline").status is MetricStatus.NOT_CLAIMED


def test_the_baselines_own_latency_is_the_reference() -> None:
    c = check(grade(candidate({})), "latency_cpu", "baseline")
    assert c.status is MetricStatus.UNVERIFIABLE
    assert c.reason_note is not None and c.reason_note.key == "reason.baseline_reference"


def test_a_per_token_claim_never_compares_with_a_per_item_measurement() -> None:
    c = check(grade(candidate({"latency_cpu": "2 ms/token"})), "latency_cpu")
    assert c.status is MetricStatus.UNVERIFIABLE
    assert c.reason_note is not None and c.reason_note.key == "reason.per_token"
    assert c.hint_note is not None


def test_a_per_batch_claim_is_per_call_at_the_course_batch_size() -> None:
    devices = [cpu(40.0, 330.0), no_cuda()]
    devices[0] = devices[0].model_copy(update={"latency": latency(40.0, batch_size=4)})  # 10 ms per item
    g = grade(candidate({"latency_cpu": "42 ms/batch"}, devices=devices))
    c = check(g, "latency_cpu")
    assert c.claimed == pytest.approx(0.0105)
    assert c.status is MetricStatus.REPRODUCED
    assert c.measured == pytest.approx(0.010)


def test_no_gpu_on_the_runner_is_not_measurable_not_off() -> None:
    claims = {**FULL, "latency_gpu": "2.5 ms", "vram": "600 MiB"}
    g = grade(candidate(claims), base_claims={**BASE_CLAIMS, "latency_gpu": "4 ms"})
    for metric in ("latency_gpu", "vram"):
        c = check(g, metric)
        assert c.status is MetricStatus.NOT_MEASURABLE
        assert c.reason_note is not None and c.reason_note.key == "reason.not_measurable"
        assert "no CUDA device" in c.reason_note.params["text"]  # the harness's own reason, passed on
        assert c.measured is None
    assert g.entries[1].verdict is Verdict.PASS  # HW-2 does not require the GPU


def test_a_required_gpu_metric_that_cannot_be_measured_makes_the_grade_incomplete() -> None:
    claims = {
        "size": "219 MB",
        "latency_cpu": "11 ms",
        "latency_gpu": "2 ms",
        "ram": "330 MiB",
        "vram": "1 GiB",
        "quality.accuracy": "90.5%",
    }
    base_claims = {**BASE_CLAIMS, "latency_gpu": "4 ms", "vram": "1 GiB"}
    g = grade(candidate(claims), homework=5, base_claims=base_claims)
    assert g.entries[1].missing == ["latency_gpu", "vram"]
    assert g.verdict is Verdict.INCOMPLETE


def test_a_noisy_latency_is_shown_never_graded() -> None:
    noisy = DeviceMeasurement(
        device="cpu", status=Status.NOISY, reason="CV above the gate", load=cpu(11, 330).load,
        latency=latency(11.0, 0.18), memory=cpu(11, 330).memory,
    )  # fmt: skip
    g = grade(candidate({**FULL, "latency_cpu": "30 ms", "speedup_cpu": "5x"}, devices=[noisy, no_cuda()]))
    for metric in ("latency_cpu", "speedup_cpu"):
        c = check(g, metric)
        assert c.status is MetricStatus.INCONCLUSIVE  # a 30 ms claim against 11 ms is not called "off"
        assert c.reason_note is not None and c.reason_note.key == "reason.noisy"
    assert check(g, "latency_cpu").measured == pytest.approx(0.011)
    assert g.entries[1].ratios.speedup_cpu is None
    assert g.verdict is Verdict.INCONCLUSIVE


def test_noise_in_a_timing_nobody_claims_or_needs_does_not_change_the_verdict() -> None:
    noisy = DeviceMeasurement(
        device="cpu", status=Status.NOISY, reason="CV above the gate", load=cpu(11, 330).load,
        latency=latency(11.0, 0.18), memory=cpu(11, 330).memory,
    )  # fmt: skip
    claims = {"size": "219 MB", "quality.accuracy": "90.5%"}
    g = grade(
        candidate(claims, devices=[noisy, no_cuda()]),
        homework=3,
        base_claims={"size": "438 MB", "quality.accuracy": "91.2%"},
    )
    assert check(g, "latency_cpu").status is MetricStatus.INCONCLUSIVE
    assert g.verdict is Verdict.PASS


def test_a_noisy_baseline_makes_the_speedup_check_noisy() -> None:
    base = bert_baseline()
    base.devices["cpu"] = base.devices["cpu"].model_copy(update={"status": Status.NOISY})
    c = check(grade(candidate({"latency_cpu": "11 ms"}), base=base), "latency_cpu")
    assert c.status is MetricStatus.INCONCLUSIVE
    assert c.reason_note is not None and c.reason_note.key == "reason.baseline_noisy"


# --- ratios as claims -----------------------------------------------------------------------------


def test_speedup_and_compression_claims() -> None:
    g = grade(candidate({"speedup_cpu": "2.0x", "compression": "3x"}, ms=10.65))
    speed, comp = check(g, "speedup_cpu"), check(g, "compression")
    assert speed.status is MetricStatus.REPRODUCED
    assert speed.measured == pytest.approx(2.0)
    assert comp.status is MetricStatus.OFF  # measured 2.0×; 3× is 50 % above
    assert comp.measured == pytest.approx(2.0)
    assert comp.tolerance == "±20 %"


# --- memory and quality -------------------------------------------------------------------------------


def test_ram_uses_the_memory_tolerance_and_the_peak_above_the_interpreter() -> None:
    inside = check(grade(candidate({"ram": "412 MiB"}, ram=330.0)), "ram")  # +24.8 %
    outside = check(grade(candidate({"ram": "413 MiB"}, ram=330.0)), "ram")  # +25.2 %
    assert (inside.status, outside.status) == (MetricStatus.REPRODUCED, MetricStatus.OFF)
    assert inside.measured == 330 * MIB
    assert inside.source == "rss_above_interpreter"


def test_vram_prefers_the_per_process_nvml_figure() -> None:
    devices = [cpu(11.0, 330.0), cuda(2.0, 800.0)]
    g = grade(candidate({"vram": "800 MiB"}, devices=devices), gpu=True)
    c = check(g, "vram")
    assert (c.status, c.measured, c.source) == (MetricStatus.REPRODUCED, 800 * MIB, "nvml_process")
    assert g.entries[1].measured.vram_source == "nvml_process"


@pytest.mark.parametrize(
    ("claim", "status"),
    [
        ("90.5%", MetricStatus.REPRODUCED),
        ("91.5%", MetricStatus.REPRODUCED),
        ("91.51%", MetricStatus.OFF),
        ("0.895", MetricStatus.REPRODUCED),
        ("0.8949", MetricStatus.OFF),
    ],
)
def test_quality_absolute_tolerance_edges(claim: str, status: MetricStatus) -> None:
    assert (
        check(grade(candidate({"quality.accuracy": claim}, acc=0.905)), "quality.accuracy").status is status
    )


def test_a_quality_claim_that_matches_another_metric_is_pointed_out() -> None:
    c = check(
        grade(candidate({"quality.accuracy": "89.5%"}, acc=0.915)), "quality.accuracy"
    )  # macro_f1 0.905
    assert c.status is MetricStatus.OFF
    assert c.hint_note is not None and c.hint_note.key == "hint.quality_other_metric"
    assert c.hint_note.params["other"] == "macro_f1"


def test_the_primary_metric_is_checked_even_when_not_claimed() -> None:
    g = grade(candidate({"quality.macro_f1": "0.895"}))
    assert {c.metric for c in g.entries[1].checks if c.metric.startswith("quality.")} == {
        "quality.accuracy",
        "quality.macro_f1",
    }
    assert check(g, "quality.accuracy").status is MetricStatus.NOT_CLAIMED


# --- failures -------------------------------------------------------------------------------------------


def test_a_model_that_fails_to_load_fails_its_checks_with_the_reason_and_the_rest_stands() -> None:
    broken = "model.safetensors: header length 1936287828 is beyond the end of the file (312 bytes)"
    e = entry("models[0]", "cand", {"size": "219 MB", "latency_cpu": "11 ms", "quality.accuracy": "90%"})
    m = model(
        "models[0]",
        "cand",
        size=None,
        devices=[DeviceMeasurement(device="cpu", status=Status.FAILED, reason=broken), no_cuda()],
        quality_result=None,
        status=Status.FAILED,
        reason=broken,
        phases=[
            PhaseResult(phase="size", status=Status.FAILED, reason=broken),
            PhaseResult(phase="load", device="cpu", status=Status.FAILED, reason=broken, exit_code=1),
        ],
    )
    g = grade((e, m))
    for metric in ("size", "latency_cpu", "ram", "quality.accuracy"):
        c = check(g, metric)
        assert c.status is MetricStatus.FAILED, metric
        assert c.reason_note is not None and c.reason_note.key == "reason.failed"
        assert c.reason_note.params["text"].startswith(broken)  # the harness's reason, passed on
    assert check(g, "size").reason_note.params["phase"] == "@phase.size"  # type: ignore[union-attr]
    assert check(g, "latency_cpu").reason_note.params["phase"] == "@phase.load"  # type: ignore[union-attr]
    assert g.entries[0].verdict is Verdict.PASS  # the baseline is still graded
    assert g.entries[1].verdict is Verdict.FAILED and g.verdict is Verdict.FAILED
    assert g.entries[1].score is None


def test_a_model_the_harness_never_reported_is_failed() -> None:
    e = entry("models[0]", "cand", {"size": "219 MB"})
    g = verify(
        run(validated("ml_masters", 2, [entry("baseline", "base", BASE_CLAIMS), e]), [bert_baseline()]),
        make_course(),
        now=NOW,
    )
    assert check(g, "size").status is MetricStatus.FAILED
    assert g.verdict is Verdict.FAILED


# --- verdicts ------------------------------------------------------------------------------------------


def _check(
    status: MetricStatus, *, claimed: bool = True, required: bool = False, metric: str = "size"
) -> MetricCheck:
    return MetricCheck(
        metric=metric, status=status, unit="B", claimed_raw="1 MB" if claimed else None, required=required
    )


@pytest.mark.parametrize(
    ("checks", "model_failed", "missing", "expected"),
    [
        ([_check(MetricStatus.REPRODUCED)], False, [], Verdict.PASS),
        (
            [_check(MetricStatus.UNVERIFIABLE), _check(MetricStatus.NOT_CLAIMED, claimed=False)],
            False,
            [],
            Verdict.PASS,
        ),
        ([_check(MetricStatus.OFF), _check(MetricStatus.INCONCLUSIVE)], False, [], Verdict.CLAIMS_MISMATCH),
        ([_check(MetricStatus.OFF)], True, [], Verdict.FAILED),
        ([_check(MetricStatus.OFF), _check(MetricStatus.FAILED)], False, ["ram"], Verdict.FAILED),
        ([_check(MetricStatus.OFF)], False, ["ram"], Verdict.CLAIMS_MISMATCH),
        ([_check(MetricStatus.INCONCLUSIVE)], False, ["ram"], Verdict.INCOMPLETE),
        ([_check(MetricStatus.INCONCLUSIVE, claimed=False, required=True)], False, [], Verdict.INCONCLUSIVE),
        ([_check(MetricStatus.INCONCLUSIVE, claimed=False)], False, [], Verdict.PASS),
        ([_check(MetricStatus.FAILED, claimed=False)], False, [], Verdict.PASS),
        ([_check(MetricStatus.NOT_MEASURABLE)], False, [], Verdict.PASS),
    ],
)
def test_entry_verdict_precedence(checks, model_failed, missing, expected) -> None:
    assert entry_verdict(checks, model_failed=model_failed, missing=missing, scored=set()) is expected


def test_a_failure_in_a_scored_figure_counts_even_unclaimed() -> None:
    checks = [_check(MetricStatus.INCONCLUSIVE, claimed=False, metric="latency_cpu")]
    verdict = entry_verdict(checks, model_failed=False, missing=[], scored={"latency_cpu"})
    assert verdict is Verdict.INCONCLUSIVE


def test_the_submission_verdict_is_the_most_serious() -> None:
    assert VERDICT_PRECEDENCE[0] is Verdict.INVALID and VERDICT_PRECEDENCE[-1] is Verdict.PASS
    assert worst([Verdict.PASS, Verdict.INCONCLUSIVE, Verdict.CLAIMS_MISMATCH]) is Verdict.CLAIMS_MISMATCH
    assert worst([Verdict.INCOMPLETE, Verdict.FAILED]) is Verdict.FAILED
    assert worst([]) is Verdict.PASS


def test_a_required_metric_not_claimed_makes_the_grade_incomplete_and_says_which() -> None:
    g = grade(candidate({"size": "219 MB", "latency_cpu": "11 ms", "quality.accuracy": "90.5%"}))
    assert g.entries[1].missing == ["ram"]
    assert g.verdict is Verdict.INCOMPLETE


def test_a_speedup_claim_satisfies_a_required_latency() -> None:
    g = grade(
        candidate({"size": "219 MB", "speedup_cpu": "1.9x", "ram": "330 MiB", "quality.accuracy": "90.5%"})
    )
    assert g.entries[1].missing == []
    assert g.verdict is Verdict.PASS


def test_the_grade_carries_what_the_report_needs() -> None:
    g = grade(candidate({"size": "219 MB"}))
    assert (g.team, g.homework, g.task, g.dataset, g.language) == (
        "ml_masters",
        2,
        "text-classification",
        "sentiment-ru",
        "ru",
    )
    assert g.homework_title == {"ru": "Квантизация и прунинг", "en": "Quantization and pruning"}
    assert g.graded_at == "2025-03-14T10:00:00Z"
    assert g.tolerances is not None and g.tolerances.size.rel == 0.02
    assert g.quality_metrics["accuracy"].direction == "higher"
    assert g.entries[1].artifact_digests
    assert Grade.from_data(g.model_dump(mode="json")) == g  # it round-trips as a document


def test_homework_tolerance_overrides_apply() -> None:
    course = make_course()
    data = course.model_dump(mode="json")
    data["homeworks"][1]["tolerances"] = {"size": {"rel": 0.10}}
    loose = make_course(homeworks=data["homeworks"])
    assert check(grade(candidate({"size": "235 MB"}), course=loose), "size").status is MetricStatus.REPRODUCED
    assert check(grade(candidate({"size": "235 MB"}), course=course), "size").status is MetricStatus.OFF


# --- invalid submissions ----------------------------------------------------------------------------------


def test_an_invalid_submission_becomes_an_invalid_grade_with_every_finding() -> None:
    from golden.factory import finding

    findings = [
        finding("S002", 14, "unknown field `claim`", field="models[0].claim"),
        finding("M010", 3, "ram not claimed", field="models", warning=True),
    ]
    v = validated("quantum", 2, [], findings=findings, ok=False)
    g = grade_invalid(v, make_course(), now=NOW)
    assert g.verdict is Verdict.INVALID
    assert g.findings == findings
    assert (g.team, g.homework) == ("quantum", 2)  # from the PR title: the manifest could not be read
    assert g.homework_title["en"] == "Quantization and pruning"
    assert g.entries == []
    # verify() on a run of an invalid submission says the same
    assert verify(run(v, []), make_course(), now=NOW).verdict is Verdict.INVALID
