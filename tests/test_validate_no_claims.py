"""M008 also warns about a model entry with no `claims:` at all (its grade would be incomplete)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_validate_manifest import VALID, Repo, line_of

from grader.findings import Severity


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)  # HW-2 requires size, latency_cpu and quality


# The int8 model's whole claims block, as the fixture writes it.
INT8_CLAIMS = """\
    claims:
      size: 45 MB
      latency_cpu: 0.0040 s/text
      speedup_cpu: 1.5x
      quality:
        accuracy: 0.865
"""


def m008(result) -> list:
    return [f for f in result.findings if f.code == "M008"]


def test_a_model_without_claims_warns_at_its_entry(repo: Repo) -> None:
    assert INT8_CLAIMS in VALID
    text = VALID.replace(INT8_CLAIMS, "")
    result = repo.validate(repo.put(text))
    assert result.ok  # a warning: the grader measures the model anyway
    [finding] = m008(result)
    assert finding.severity is Severity.WARNING
    assert (finding.code, finding.location.line) == ("M008", line_of(text, "- name: int8"))
    assert finding.location.field == "models[0].claims"
    assert "no `claims:`" in finding.message
    for metric in ("size", "latency_cpu", "quality.accuracy"):
        assert metric in finding.message
    assert "incomplete" in finding.hint


def test_an_empty_claims_key_is_the_schemas_error_alone(repo: Repo) -> None:
    text = VALID.replace(INT8_CLAIMS, "    claims:\n")
    result = repo.validate(repo.put(text))
    assert [f.code for f in result.findings if f.location.line == line_of(text, "    claims:")] == ["S004"]
    assert m008(result) == []


def test_a_baseline_without_claims_warns_too(repo: Repo) -> None:
    baseline_claims = VALID[VALID.index("  claims:\n") : VALID.index("\nmodels:")] + "\n"
    text = VALID.replace(baseline_claims, "", 1)
    assert "118 MB" not in text
    result = repo.validate(repo.put(text))
    [finding] = m008(result)
    assert finding.location.line == line_of(text, "baseline:")
    assert finding.location.field == "baseline.claims"


def test_full_claims_give_no_m008(repo: Repo) -> None:
    assert m008(repo.validate(repo.put(VALID))) == []
