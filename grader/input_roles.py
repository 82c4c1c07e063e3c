"""Input roles: what the grader feeds each input of an exported graph, whatever the graph calls it.

A task builds its inputs under the names the grader knows (`input_ids`, `pixel_values`,
`input_features`, ...): each of those is one *role*. A graph whose inputs have those names is fed
by name, as before; a graph that names them otherwise (a CTC speech model's `features` +
`feature_lengths`) says which is which in the manifest's `inputs:` mapping, graph input name →
role. Each task declares the roles it can feed (`Task.input_roles`), so the vocabulary is closed
and checked at validate time. Validation (grader.validate.input_roles) and the backends that feed
by role (grader.harness.input_roles) share `resolve`. Lives below every stage: no imports of the
harness or of heavy libraries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Protocol


@dataclass(frozen=True)
class Role:
    name: str
    key: str  # the array the task builds for it: the graph input name the grader feeds by default
    what: str  # what the grader feeds, for findings and docs
    guessed: bool = True  # a graph input named `key` takes this role without a mapping


ROLES: Final[dict[str, Role]] = {
    role.name: role
    for role in (
        Role("token_ids", "input_ids", "token ids from the model folder's tokenizer, [batch, tokens]"),
        Role("attention_mask", "attention_mask", "1 for real tokens (or samples), 0 for padding"),
        Role("token_type_ids", "token_type_ids", "segment ids, 0 for a single text, [batch, tokens]"),
        Role("position_ids", "position_ids", "0, 1, 2, ... for each token, [batch, tokens]"),
        Role("pixels", "pixel_values", "images as preprocessor_config.json says, [batch, 3, height, width]"),
        Role(
            "audio_features",
            "input_features",
            "log-mel features as preprocessor_config.json says, [batch, mel bins, frames] "
            "(or [batch, frames, mel bins] where the graph declares it so)",
        ),
        Role(
            "audio_waveform",
            "input_values",
            "the waveform as preprocessor_config.json makes it, [batch, samples]",
        ),
        Role(
            "audio_lengths",
            "audio_lengths",
            "each utterance's real length, int64 [batch]: frames of audio_features, or samples of "
            "audio_waveform",
            guessed=False,
        ),
        Role("decoder_tokens", "decoder_input_ids", "the decoder prompt's token ids (Whisper-like models)"),
    )
}
# Formats whose backends feed a graph's inputs by role (onnxruntime, OpenVINO); the others load
# checkpoints or engines whose inputs are fixed by their own code.
ROLE_FORMATS: Final = ("onnx", "openvino")


class DeclaresInputs(Protocol):
    """What a task declares about its inputs (grader.harness.tasks.base.Task)."""

    name: ClassVar[str]
    input_roles: ClassVar[tuple[str, ...]]  # the roles it can feed
    main_input_roles: ClassVar[tuple[str, ...]]  # a graph takes at least one of them
    sole_input_role: ClassVar[str | None]  # the role of a graph's only input, whatever its name


def guessed_names(task: type[DeclaresInputs]) -> dict[str, str]:
    """Graph input name → role, for the names the task feeds without a mapping."""
    return {ROLES[role].key: role for role in task.input_roles if ROLES[role].guessed}


@dataclass
class Resolution:
    """Which role each graph input takes, and what does not fit."""

    roles: dict[str, str] = field(default_factory=dict)  # graph input → role
    unfed: list[str] = field(default_factory=list)  # graph inputs with no role
    absent: list[str] = field(default_factory=list)  # mapped names the graph does not have
    twice: dict[str, list[str]] = field(default_factory=dict)  # role → the graph inputs given it
    missing_main: bool = False  # none of the task's main roles is fed

    @property
    def ok(self) -> bool:
        return not (self.unfed or self.absent or self.twice or self.missing_main)


def resolve(
    task: type[DeclaresInputs],
    graph_inputs: Sequence[str],
    mapping: Mapping[str, str],
) -> Resolution:
    """The role of each graph input: the manifest's mapping first, then the names the task guesses,
    then (a graph with one input) the task's sole-input role. Roles are not checked against the
    task's vocabulary here (grader.validate.input_roles says which ones are unknown)."""
    guesses = guessed_names(task)
    out = Resolution(absent=[name for name in mapping if name not in graph_inputs])
    for name in graph_inputs:
        role = mapping.get(name) or guesses.get(name)
        if role is None and len(graph_inputs) == 1 and task.sole_input_role:
            role = task.sole_input_role
        if role is None:
            out.unfed.append(name)
        else:
            out.roles[name] = role
    by_role: dict[str, list[str]] = {}
    for name, role in out.roles.items():
        by_role.setdefault(role, []).append(name)
    out.twice = {role: names for role, names in by_role.items() if len(names) > 1}
    if task.main_input_roles:
        out.missing_main = not set(task.main_input_roles) & set(out.roles.values())
    return out
