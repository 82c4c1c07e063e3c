"""Submission manifest v1: `submissions/<team>/hw-<n>/submission.yaml`.

One manifest per team and homework. It names the team's baseline and one or more compressed
models (one row each in the course's table), where each artifact is, its format, any runtime
transform the grader applies itself, the method, and the claims as the team measured them.
Claims stay the strings the team wrote; validation parses them (see grader.units).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from grader.course.model import Method

MANIFEST_SCHEMA_VERSION: Final = 1  # Final: its type is Literal[1], as the field's

# The formats of grader.formats.FORMATS, in its order (tests/test_format_contract.py checks it):
# a Literal here keeps the JSON schema a plain enum.
Format = Literal["safetensors", "onnx", "openvino", "tensorrt", "torchscript", "torch-export"]
Transform = Literal["fp16", "bf16", "dynamic-int8"]
ClaimValue = Annotated[
    str | float | int, Field(description="As measured by the team, with its unit: `455 MB`")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Artifact(Strict):
    """Where the model's files are. Exactly one of `path`, `hf` or `url`."""

    path: str | None = Field(
        default=None,
        description="A file or folder inside the team's folder, relative to this manifest.",
        examples=["model/", "model.onnx"],
    )
    hf: str | None = Field(
        default=None, description="A Hugging Face model repo `owner/name`.", examples=["team-x/vit-int8"]
    )
    revision: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{40}$",
        description="With `hf`: the full 40-hex commit, so the files cannot change after grading.",
    )
    subfolder: str | None = Field(default=None, description="With `hf`: a folder inside the repo.")
    url: str | None = Field(
        default=None, pattern=r"^https://", description="An https URL of a single file or .zip/.tar archive."
    )
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="With `url`: the sha256 of the downloaded file."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Artifact:
        given = [name for name in ("path", "hf", "url") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `path:` (files in your team folder), `hf:` + `revision:` "
                "(a Hugging Face repo at a commit) or `url:` + `sha256:`"
                + (f"; found {', '.join(given)}" if given else "")
            )
        if self.hf and not self.revision:
            raise ValueError("`hf:` needs `revision:`, the full 40-hex commit id of the files you measured")
        if self.url and not self.sha256:
            raise ValueError("`url:` needs `sha256:` of the file, so the grader can check what it downloaded")
        if self.revision and not self.hf:
            raise ValueError("`revision:` only goes with `hf:`")
        if self.sha256 and not self.url:
            raise ValueError("`sha256:` only goes with `url:`")
        return self

    def describe(self) -> str:
        if self.path:
            return self.path
        if self.hf:
            return f"hf://{self.hf}@{(self.revision or '')[:12]}" + (
                f"/{self.subfolder}" if self.subfolder else ""
            )
        return self.url or ""


class Claims(Strict):
    """What the team measured. Every field is optional; claim what you measured."""

    size: ClaimValue | None = Field(default=None, description="Weights size: `455 MB`, `1.33 GB`, `434 MiB`.")
    latency_cpu: ClaimValue | None = Field(
        default=None, description="CPU time per input at the course's batch size: `19.6 ms`, `0.0196 s/text`."
    )
    latency_gpu: ClaimValue | None = Field(default=None, description="GPU time per input: `2.7 ms`.")
    speedup_cpu: ClaimValue | None = Field(
        default=None, description="CPU speed-up over your baseline: `1.8x`."
    )
    speedup_gpu: ClaimValue | None = Field(
        default=None, description="GPU speed-up over your baseline: `1.3x`."
    )
    compression: ClaimValue | None = Field(default=None, description="Size ratio baseline/model: `3.9x`.")
    ram: ClaimValue | None = Field(default=None, description="Peak RAM of inference: `812 MiB`.")
    vram: ClaimValue | None = Field(default=None, description="Peak GPU memory of inference: `500 MiB`.")
    quality: dict[str, ClaimValue] = Field(
        default_factory=dict,
        description="Quality metric values by name: `accuracy: 82.8%`, `macro_f1: 0.81`, `perplexity: 21.4`.",
    )

    def items(self) -> list[tuple[str, Any]]:
        """(metric, raw value) for every claim made, quality metrics as `quality.<name>`."""
        out = [(name, getattr(self, name)) for name in _SCALAR_CLAIMS if getattr(self, name) is not None]
        out += [(f"quality.{name}", value) for name, value in self.quality.items()]
        return out


_SCALAR_CLAIMS = (
    "size",
    "latency_cpu",
    "latency_gpu",
    "speedup_cpu",
    "speedup_gpu",
    "compression",
    "ram",
    "vram",
)


class ModelEntry(Strict):
    """One model: the baseline, or one compressed variant (one row of the course's table)."""

    name: str = Field(min_length=1, max_length=80, description="Short name shown in the table.")
    method: list[Method] = Field(
        default_factory=lambda: [Method.BASELINE],
        description="How it was made: one method or a list for combinations, e.g. [pruning, quantization].",
    )
    details: str | None = Field(
        default=None,
        max_length=300,
        description="One line on how: `GPTQ 4-bit, group 128, 256 calibration texts`.",
    )
    artifact: Artifact
    format: Format = Field(default="safetensors", description="The format the grader loads.")
    transform: Transform | None = Field(
        default=None, description="A transform the grader applies at load time to a safetensors checkpoint."
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="ONNX / OpenVINO only: graph input name → the role the task feeds it, for inputs "
        "the grader cannot guess by name (`features: audio_features`); see submissions/README.md for "
        "each task's roles.",
        examples=[{"features": "audio_features", "feature_lengths": "audio_lengths"}],
    )
    claims: Claims = Field(default_factory=Claims)

    @field_validator("method", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _transform_needs_checkpoint(self) -> ModelEntry:
        if self.transform and self.format != "safetensors":
            raise ValueError(
                f"`transform: {self.transform}` applies to safetensors checkpoints only; "
                f"this model's format is {self.format}"
            )
        return self


class Submission(Strict):
    """A team's submission for one homework."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Compression Grader submission manifest v1")

    schema_version: Literal[1] = Field(
        default=MANIFEST_SCHEMA_VERSION, description="Always 1 for this format."
    )
    team: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Your team's name as in course.yaml."
    )
    homework: int = Field(ge=1, description="The homework number: `2` (or `HW-2`).")
    task: str = Field(description="The quality task, e.g. `text-classification`, `image-classification`.")
    eval: str | None = Field(
        default=None, description="Eval dataset id from course.yaml; default: the task's."
    )
    params: dict[str, int | float | str | bool] = Field(
        default_factory=dict, description="Task settings the course allows a team to choose."
    )
    baseline: ModelEntry | None = Field(default=None, description="Your uncompressed starting model.")
    models: list[ModelEntry] = Field(min_length=1, description="The compressed models, one table row each.")

    @field_validator("homework", mode="before")
    @classmethod
    def _hw_number(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(?:hw|дз)?[-_ ]?(\d+)\s*", value, flags=re.IGNORECASE)
            if match:
                return int(match.group(1))
        return value

    def entries(self) -> list[tuple[str, ModelEntry]]:
        """(key, entry) for the baseline (key `baseline`) and every model (`models[i]`)."""
        out = [("baseline", self.baseline)] if self.baseline else []
        return out + [(f"models[{i}]", m) for i, m in enumerate(self.models)]
