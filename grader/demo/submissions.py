"""The demo teams' submissions: real manifests and model files in a course repository's layout.

Three teams, four pull requests, each one `submissions/<team>/hw-<n>/submission.yaml` with its
model folders next to it:

- alpha HW-2: the fp32 baseline; fp16, dynamic INT8 (a transform the grader applies), pruned 50 %;
- beta HW-3: k-means clustering to 16 values per weight, with the one deliberately wrong claim:
  the size an ideal 4-bit codebook would take, while the file stores the weights dense (the
  "302 MB after clustering" of the 2025 course). The grader must call it off, with the measured size;
- beta HW-4: a distilled student;
- gamma HW-5: the baseline exported to ONNX, and that export quantized to dynamic INT8.

Every other claim is the team's own quick measurement (grader.demo.claims), honestly rounded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader.demo.claims import (
    Figures,
    ModelRef,
    accuracy_text,
    latency_text,
    memory_text,
    size_text,
)
from grader.demo.models import BASELINE, CLUSTERED, FP16, ONNX, ONNX_INT8, PRUNED, STUDENT, ModelSet

TASK = "image-classification"


@dataclass(frozen=True)
class DemoEntry:
    name: str
    ref: ModelRef
    methods: tuple[str, ...]
    details: tuple[str, str] | None = None  # (ru, en)
    wrong_size: bool = False  # claim the ideal codebook size instead of the measured one

    @property
    def folder(self) -> str:
        """The artifact folder inside the team's homework folder."""
        return self.ref.variant


@dataclass(frozen=True)
class DemoSubmission:
    team: str
    homework: int
    baseline: DemoEntry
    models: tuple[DemoEntry, ...]

    @property
    def slug(self) -> str:
        return f"{self.team}-hw-{self.homework}"

    def manifest_path(self, repo: Path) -> Path:
        return repo / "submissions" / self.team / f"hw-{self.homework}" / "submission.yaml"

    def entries(self) -> tuple[DemoEntry, ...]:
        return (self.baseline, *self.models)


BASELINE_ENTRY = DemoEntry(
    name="ViT-tiny fp32",
    ref=ModelRef(BASELINE),
    methods=("baseline",),
    details=(
        "ViT 2 слоя × 64, патчи 4×4, обучен на train-части digits",
        "ViT 2 layers × 64, 4×4 patches, trained on the digits train split",
    ),
)

SUBMISSIONS: tuple[DemoSubmission, ...] = (
    DemoSubmission(
        team="alpha",
        homework=2,
        baseline=BASELINE_ENTRY,
        models=(
            DemoEntry(
                name="FP16",
                ref=ModelRef(FP16),
                methods=("quantization",),
                details=("веса сохранены в fp16 (model.half())", "weights stored as fp16 (model.half())"),
            ),
            DemoEntry(
                name="INT8 dynamic",
                ref=ModelRef(BASELINE, transform="dynamic-int8"),
                methods=("quantization",),
                details=(
                    "динамическая INT8-квантизация Linear (torch), грейдер применяет при загрузке",
                    "torch dynamic INT8 quantization of Linear layers, applied by the grader at load time",
                ),
            ),
            DemoEntry(
                name="Pruned 50%",
                ref=ModelRef(PRUNED),
                methods=("pruning",),
                details=(
                    "глобальный L1-прунинг 50 % весов Linear, 6 эпох дообучения; хранится плотно",
                    "global L1 pruning of 50 % of Linear weights, 6 epochs fine-tuning; stored dense",
                ),
            ),
        ),
    ),
    DemoSubmission(
        team="beta",
        homework=3,
        baseline=BASELINE_ENTRY,
        models=(
            DemoEntry(
                name="k-means 16",
                ref=ModelRef(CLUSTERED),
                methods=("clustering",),
                details=(
                    "k-means, 16 значений на каждую матрицу Linear (scikit-learn)",
                    "k-means, 16 values per Linear weight matrix (scikit-learn)",
                ),
                wrong_size=True,
            ),
        ),
    ),
    DemoSubmission(
        team="beta",
        homework=4,
        baseline=BASELINE_ENTRY,
        models=(
            DemoEntry(
                name="Student 2×32",
                ref=ModelRef(STUDENT),
                methods=("distillation",),
                details=(
                    "ViT 2 слоя × 32, дистилляция из логитов учителя (T=2, α=0.7) + метки",
                    "ViT 2 layers × 32, distilled from the teacher's logits (T=2, α=0.7) plus labels",
                ),
            ),
        ),
    ),
    DemoSubmission(
        team="gamma",
        homework=5,
        baseline=BASELINE_ENTRY,
        models=(
            DemoEntry(
                name="ONNX fp32",
                ref=ModelRef(ONNX, format="onnx"),
                methods=("export",),
                details=(
                    "torch.onnx.export (dynamo), динамическая ось батча",
                    "torch.onnx.export (dynamo exporter), dynamic batch axis",
                ),
            ),
            DemoEntry(
                name="ONNX INT8",
                ref=ModelRef(ONNX_INT8, format="onnx"),
                methods=("export", "quantization"),
                details=(
                    "onnxruntime quantize_dynamic, веса QInt8",
                    "onnxruntime quantize_dynamic, QInt8 weights",
                ),
            ),
        ),
    ),
)


def model_refs(submissions: tuple[DemoSubmission, ...] = SUBMISSIONS) -> list[ModelRef]:
    return list(dict.fromkeys(e.ref for s in submissions for e in s.entries()))


def codebook_claim_bytes(folder: Path) -> int:
    """What a team that believes clustering shrinks the file claims: the size of an ideal codebook
    encoding (indices of ceil(log2(distinct)) bits plus the centroids), as the grader computes it,
    although the submitted file stores every weight dense."""
    from grader.harness.size import analyze_size

    ideal = analyze_size(folder, "safetensors", compress=False).codebook_ideal_bytes
    if ideal is None:
        raise ValueError(f"{folder} holds no clustered weights: no codebook size to claim")
    return ideal


def claims_of(entry: DemoEntry, figures: Figures, models: ModelSet) -> dict[str, Any]:
    """The claims block of one manifest entry, written the way students write numbers."""
    size = codebook_claim_bytes(models.folder(entry.ref.variant)) if entry.wrong_size else figures.size_bytes
    claims: dict[str, Any] = {"size": size_text(size)}
    if figures.latency_s is not None:
        claims["latency_cpu"] = latency_text(figures.latency_s)
    if figures.ram_bytes is not None:
        claims["ram"] = memory_text(figures.ram_bytes)
    claims["quality"] = {"accuracy": accuracy_text(figures.accuracy)}
    return claims


def manifest_of(
    submission: DemoSubmission, figures: dict[ModelRef, Figures], models: ModelSet, language: str
) -> dict[str, Any]:
    def entry(e: DemoEntry) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": e.name,
            "method": e.methods[0] if len(e.methods) == 1 else list(e.methods),
        }
        if e.details:
            out["details"] = e.details[0] if language == "ru" else e.details[1]
        out["artifact"] = {"path": f"{e.folder}/"}
        out["format"] = e.ref.format
        if e.ref.transform:
            out["transform"] = e.ref.transform
        out["claims"] = claims_of(e, figures[e.ref], models)
        return out

    return {
        "schema_version": 1,
        "team": submission.team,
        "homework": submission.homework,
        "task": TASK,
        "baseline": entry(submission.baseline),
        "models": [entry(m) for m in submission.models],
    }


def write_submission(
    submission: DemoSubmission,
    repo: Path,
    figures: dict[ModelRef, Figures],
    models: ModelSet,
    language: str,
) -> Path:
    """The manifest and a copy of every model folder it names; returns the manifest's path."""
    manifest = submission.manifest_path(repo)
    folder = manifest.parent
    folder.mkdir(parents=True, exist_ok=True)
    for entry in submission.entries():
        target = folder / entry.folder
        if not target.exists():
            shutil.copytree(models.folder(entry.ref.variant), target)
    header = (
        f"# {submission.team} HW-{submission.homework}: "
        + (
            "манифест демо-команды (написан `grader demo`)"
            if language == "ru"
            else "a demo team's manifest (written by `grader demo`)"
        )
        + "\n"
    )
    body = yaml.safe_dump(
        manifest_of(submission, figures, models, language), sort_keys=False, allow_unicode=True, width=100
    )
    manifest.write_text(header + body, encoding="utf-8")
    return manifest
