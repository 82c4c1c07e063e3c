"""Documents written before speed was judged on intervals (schema 1) are still read: a grade the
previous release wrote (tests/fixtures/schema1/, copied from its golden files) and a measurement
of the schema-1 shape, which verify grades with intervals computed from its rounds. A schema-2
measurement (size notes as prose, English beside Russian) is read too."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from golden.cases import course, grade_pass
from golden.factory import bert_baseline, cpu, entry, model, quality, run, size_report, validated

from grader.harness.models import MEASUREMENT_SCHEMA_VERSION, MeasurementRun
from grader.leaderboard.records import record_from_grade
from grader.messages import render_note
from grader.notes import VERBATIM
from grader.verify import verify
from grader.verify.models import Grade, MetricStatus, Verdict

FIXTURES = Path(__file__).parent / "fixtures" / "schema1"
SCHEMA2_LATENCY = ("round_numbers", "round_info", "median", "speedup", "stop_reason")


def test_a_schema1_grade_is_read_and_its_noisy_status_is_now_inconclusive() -> None:
    grade = Grade.read(FIXTURES / "grade_failed.json")
    assert grade.schema_version == 2
    statuses = {c.status for e in grade.entries for c in e.checks}
    assert MetricStatus.INCONCLUSIVE in statuses  # "noisy" in the file
    assert grade.noise_gate_cv == 0.1 and grade.speed is None
    record_from_grade(grade)  # the leaderboard can still file it


def _as_schema1(data: Any) -> Any:
    """The measurement as schema 1 wrote it: latencies without their rounds' numbers, intervals or
    stop reasons (and with the old gate's `remeasured`)."""
    if isinstance(data, dict):
        latency = "samples" in data and "rounds" in data
        out = {k: _as_schema1(v) for k, v in data.items() if not (latency and k in SCHEMA2_LATENCY)}
        if latency:
            out["remeasured"] = False
        return out
    if isinstance(data, list):
        return [_as_schema1(v) for v in data]
    return data


def _schema1_measurement() -> MeasurementRun:
    submission = validated(
        "ml_masters",
        2,
        [
            entry("baseline", "bert-base-fp32", {"latency_cpu": "21 ms"}),
            entry("models[0]", "bert-int8", {"latency_cpu": "11 ms"}, method=["quantization"]),
        ],
    )
    models = [
        bert_baseline(),
        model(
            "models[0]",
            "bert-int8",
            size=size_report(181_900_000, 177_853_440),
            devices=[cpu(11.6, 342.0)],
            quality_result=quality(0.9080, 0.9049, 0.8163),
        ),
    ]
    data = json.loads(run(submission, models).to_json())
    old = _as_schema1(data) | {"schema_version": 1}
    assert '"round_numbers"' not in json.dumps(old)
    return MeasurementRun.from_data(old, "measurement.json")


def test_a_schema1_measurement_is_graded_with_intervals_from_its_rounds() -> None:
    measured = _schema1_measurement()
    assert measured.schema_version == MEASUREMENT_SCHEMA_VERSION
    grade = verify(measured, course())
    entry = next(e for e in grade.entries if e.key == "models[0]")
    check = next(c for c in entry.checks if c.metric == "latency_cpu")
    assert check.compared == "speedup" and check.status is MetricStatus.REPRODUCED, check.reason
    assert check.interval is not None and check.interval.rounds == 12  # paired in order
    assert entry.ratios.speedup_cpu_ci is not None


def test_the_current_grade_round_trips() -> None:
    grade = grade_pass()
    again = Grade.from_data(json.loads(grade.to_json()))
    assert again == grade and again.verdict is Verdict.PASS


def _schema2_measurement() -> dict[str, Any]:
    """A measurement as schema 2 wrote it: size notes as English prose, `notes_ru` beside them."""
    data = json.loads(_schema1_measurement().to_json()) | {"schema_version": 2}
    size = data["models"][1]["size"]
    size["notes"] = ["50.0 % of the weights are zero, but the files store them densely."]
    size["notes_ru"] = ["50,0 % весов равны нулю, но файлы хранят их плотно."]
    return data


def test_a_schema2_measurement_is_read_and_its_prose_notes_are_kept_verbatim() -> None:
    data = _schema2_measurement()
    measured = MeasurementRun.from_data(data, "measurement.json")
    assert measured.schema_version == MEASUREMENT_SCHEMA_VERSION == 4
    size = measured.models[1].size
    assert size is not None and [n.key for n in size.notes] == [VERBATIM]
    assert render_note(size.notes[0], "en") == data["models"][1]["size"]["notes"][0]
    assert render_note(size.notes[0], "ru") == data["models"][1]["size"]["notes_ru"][0]
    current = json.loads(measured.to_json())
    assert "notes_ru" not in current["models"][1]["size"]
    assert MeasurementRun.from_data(current) == measured  # and it is written as schema 3
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert verify(measured, course(), now=now) == verify(_schema1_measurement(), course(), now=now)
