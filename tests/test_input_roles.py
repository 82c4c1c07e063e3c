"""Declared input roles (`inputs:`): a tiny CTC model over log-mel features, exported to ONNX with
GigaAM's input names `features` + `feature_lengths`.

Without a mapping `grader validate` refuses it (A019, located at the artifact's line), instead of a
FAILED measurement; a mapping with a misspelt role or a name the graph lacks is refused at those
lines (M019, A019); with the right mapping the real harness grades it and its WER equals the one
computed here from the PyTorch module's own greedy CTC decoding (jiwer). The feed's layout fitting
(transposed features, padding to a static frame count, a graph that fits no layout) is checked on
the real InputFeed."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from harness_support import FAST_LATENCY
from test_tasks_support import CTC_VOCAB

from grader.course import load_course
from grader.course.model import Course
from grader.harness.data import load_eval_data
from grader.harness.input_roles import GraphInput, InputFeed
from grader.harness.measure import measure_submission
from grader.harness.metrics import normalize_transcript
from grader.harness.tasks.audio import AudioPreprocessor, log_mel
from grader.validate.manifest import validate_manifest

N_MELS = 16
HOP = 160
ITEMS = 4
BLANK = CTC_VOCAB["<pad>"]


class FeatureCtc(torch.nn.Module):
    """Log-mel features [batch, mels, frames] + lengths → CTC log-probs [batch, frames // 2, vocab]:
    one convolution of kernel = stride = 2 (each output frame sees its own two input frames only),
    and frames past an utterance's length forced to the blank, so it needs its lengths."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(N_MELS, len(CTC_VOCAB), kernel_size=2, stride=2)
        torch.nn.init.normal_(self.conv.weight, std=1.5)

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor) -> torch.Tensor:
        logits = self.conv(features).transpose(1, 2)
        frames = torch.arange(logits.shape[1]).unsqueeze(0)
        past_end = (frames >= (feature_lengths // 2).unsqueeze(1)).float()
        blank = torch.nn.functional.one_hot(torch.tensor(BLANK), len(CTC_VOCAB)).float()
        return torch.log_softmax(logits + 100.0 * past_end.unsqueeze(-1) * blank, dim=-1)


def course_data() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": {"ru": "Роли входов", "en": "Input roles"},
        "language": "en",
        "runner": {
            "devices": ["cpu"],
            "batch_size": 2,
            "threads": {"intra_op": 1, "inter_op": 1},
            "speed": {"min_rounds": 2, "max_rounds": 2},
            "latency": FAST_LATENCY | {"max_time_s": 0.3},
            "limits": {"phase_timeout_s": 120, "memory_mib": 4096, "artifact_max_mib": 50},
        },
        "tasks": {"speech-recognition": {"dataset": "asr"}},
        "datasets": {"asr": {"task": "speech-recognition", "source": {"builtin": "asr-en"}, "limit": ITEMS}},
        "homeworks": [
            {
                "id": 2,
                "title": {"ru": "ДЗ", "en": "HW"},
                "methods": ["baseline", "export"],
                "required": ["quality"],
                "needs_baseline": False,
                "scoring": {"rule": "none"},
            }
        ],
        "teams": {"speech": {"members": ["speech-student"]}},
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("roles-repo")
    (root / "course.yaml").write_text(yaml.safe_dump(course_data()), encoding="utf-8")
    export(FeatureCtc().eval(), root / "submissions" / "speech" / "hw-2" / "gigaam")
    return root


@pytest.fixture(scope="module")
def course(repo: Path) -> Course:
    return load_course(repo / "course.yaml")


def export(module: torch.nn.Module, folder: Path) -> None:
    folder.mkdir(parents=True)
    features, lengths = torch.randn(2, N_MELS, 40), torch.tensor([40, 31])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (features, lengths),
            str(folder / "model.onnx"),
            input_names=["features", "feature_lengths"],
            output_names=["log_probs"],
            dynamic_axes={"features": {0: "batch", 2: "frames"}, "feature_lengths": {0: "batch"}},
            dynamo=False,
        )
    (folder / "vocab.json").write_text(json.dumps(CTC_VOCAB), encoding="utf-8")
    tokenizer = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer | {"word_delimiter_token": "|"}))
    preprocessor = {"sampling_rate": 16000, "n_fft": 400, "hop_length": HOP, "feature_size": N_MELS}
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")


def write_manifest(repo: Path, inputs: str | None) -> Path:
    """The manifest as a student writes it; ``inputs`` is the entry's `inputs:` line, if any."""
    lines = [
        "team: speech",
        "homework: 2",
        "task: speech-recognition",
        "models:",
        "  - name: gigaam-onnx",
        "    method: export",
        "    format: onnx",
        "    artifact:",
        "      path: gigaam/",
    ]
    if inputs is not None:
        lines.append(f"    inputs: {inputs}")
    path = repo / "submissions" / "speech" / "hw-2" / "submission.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def errors(validated: Any) -> list[Any]:
    return [f for f in validated.findings if f.is_error]


def test_without_a_mapping_validate_refuses_the_graph_at_its_artifact(repo: Path, course: Course) -> None:
    path = write_manifest(repo, None)
    validated = validate_manifest(path, course, repo)
    assert not validated.ok
    (finding,) = errors(validated)
    assert finding.code == "A019"
    assert finding.location.line == line_of(path, "path: gigaam/")
    assert "features, feature_lengths" in finding.message
    assert "audio_features" in finding.expected and "audio_lengths" in finding.expected
    assert "inputs: {features: <role>, feature_lengths: <role>}" in finding.hint


def test_a_misspelt_role_and_a_name_the_graph_lacks_are_located(repo: Path, course: Course) -> None:
    path = write_manifest(repo, "{features: audio_feature, lengths: audio_lengths}")
    validated = validate_manifest(path, course, repo)
    found = {(f.code, f.location.field): f for f in errors(validated)}
    line = line_of(path, "inputs:")
    role = found["M019", "models[0].inputs.features"]
    assert role.location.line == line
    assert "did you mean 'audio_features'?" in role.hint
    assert "audio_waveform" in role.expected  # the task's roles are listed
    absent = found["A019", "models[0].inputs.lengths"]
    assert absent.location.line == line and "feature_lengths" in absent.expected
    assert "did you mean 'feature_lengths'?" in absent.hint
    # the graph input no role reaches is named too
    assert any(f.code == "A019" and "feature_lengths" in f.message for f in errors(validated))


def test_a_mapping_on_a_checkpoint_is_refused_for_its_format(repo: Path, course: Course) -> None:
    path = write_manifest(repo, "{features: audio_features}")
    text = path.read_text().replace("format: onnx", "format: safetensors")
    path.write_text(text)
    validated = validate_manifest(path, course, repo)
    role = next(f for f in validated.findings if f.code == "M019")
    assert "onnx and openvino models only" in role.message
    assert role.location.line == line_of(path, "inputs:")


def reference_wer(repo: Path, course: Course) -> tuple[float, list[str]]:
    """Each utterance alone through the PyTorch module: its log-mel features (the recipe of
    grader.harness.tasks.audio, over the utterance's own frames), argmax, repeats merged, blanks
    and special tokens dropped, `|` a space; jiwer over the normalised texts."""
    import jiwer

    folder = repo / "submissions" / "speech" / "hw-2" / "gigaam"
    data = load_eval_data("asr", course, repo)
    filters = AudioPreprocessor(folder).filters
    module = FeatureCtc().eval()
    tokens = {i: t for t, i in CTC_VOCAB.items()}
    hypotheses = []
    for item in data.items:
        assert item["audio"]["sampling_rate"] == 16000
        wave = np.asarray(item["audio"]["array"], dtype=np.float32)
        frames = math.ceil(len(wave) / HOP)
        features = log_mel(wave, n_fft=400, hop_length=HOP, n_samples=frames * HOP, filters=filters)
        with torch.inference_mode():
            ids = module(torch.from_numpy(features)[None], torch.tensor([frames]))[0].argmax(-1).tolist()
        text = "".join(
            " " if tokens[i] == "|" else tokens[i]
            for i, _ in itertools.groupby(ids)
            if i != BLANK and tokens[i] not in ("<s>", "</s>", "<unk>")
        )
        hypotheses.append(normalize_transcript(" ".join(text.split())))
    references = [normalize_transcript(item["text"]) for item in data.items]
    return jiwer.wer(references, hypotheses), hypotheses


def test_with_the_mapping_it_grades_and_its_wer_is_the_modules_own(repo: Path, course: Course) -> None:
    path = write_manifest(repo, "{features: audio_features, feature_lengths: audio_lengths}")
    validated = validate_manifest(path, course, repo)
    assert validated.ok, [f"{f.location}: {f.code} {f.message}" for f in errors(validated)]
    wer, hypotheses = reference_wer(repo, course)
    assert any(hypotheses)  # the random module says something, so the comparison means something
    run = measure_submission(validated, course, repo, cache_dir=repo / ".cache")
    (model,) = run.models
    assert model.quality is not None, model.phases
    assert model.quality.metrics["wer"] == pytest.approx(wer, abs=1e-9)
    assert all(phase.status.value == "ok" for phase in model.phases), model.phases


# --- fitting the features to the graph's declared shape ---------------------------------------------


def feed_of(dims: tuple[int | None, ...]) -> InputFeed:
    graph = [GraphInput("x", dims), GraphInput("n", (None,))]
    return InputFeed.for_task("speech-recognition", graph, {"x": "audio_features", "n": "audio_lengths"})


def test_features_follow_the_layout_and_frame_count_the_graph_declares() -> None:
    features = np.arange(2 * N_MELS * 5, dtype=np.float32).reshape(2, N_MELS, 5)
    lengths = np.array([5, 3])
    inputs = {"input_features": features, "audio_lengths": lengths}
    assert feed_of((None, None, None)).names() == ["input_features", "audio_lengths"]
    as_is = feed_of((None, N_MELS, None)).feed(inputs)
    np.testing.assert_array_equal(as_is["x"], features)
    assert as_is["n"].dtype == np.int64 and as_is["n"].tolist() == [5, 3]
    transposed = feed_of((None, None, N_MELS)).feed(inputs)["x"]
    np.testing.assert_array_equal(transposed, features.transpose(0, 2, 1))
    padded = feed_of((None, N_MELS, 8)).feed(inputs)["x"]
    assert padded.shape == (2, N_MELS, 8)
    np.testing.assert_array_equal(padded[:, :, :5], features)
    assert (padded[1, :, 5:] == features[1].min()).all()  # each row's floor, not zeros
    with pytest.raises(ValueError, match=r"declared \[\?, 80, \?\].*16 mel bins × 5 frames.*neither"):
        feed_of((None, 80, None)).feed(inputs)
    with pytest.raises(ValueError, match="at most 4 frames"):
        feed_of((None, N_MELS, 4)).feed(inputs)


def test_openvino_feeds_the_same_graph_by_role(repo: Path, course: Course) -> None:
    """The OpenVINO backend (reading the ONNX file through its frontend) transcribes as PyTorch does."""
    backends = pytest.importorskip("grader.harness.backends.openvino")
    if backends.OpenVinoBackend.unavailable_reason("cpu"):
        pytest.skip("OpenVINO is not installed")
    from grader.harness.backends.base import LoadSpec
    from grader.harness.tasks.speech_recognition import SpeechRecognition

    folder = repo / "submissions" / "speech" / "hw-2" / "gigaam"
    roles = {"features": "audio_features", "feature_lengths": "audio_lengths"}
    spec = LoadSpec(folder, "openvino", task="speech-recognition", input_roles=roles)
    data = load_eval_data("asr", course, repo)
    with backends.OpenVinoBackend(spec) as backend:
        assert backend.input_names() == ["input_features", "audio_lengths"]
        hypotheses = SpeechRecognition(folder).transcribe(backend, [i["audio"] for i in data.items], 2)
    assert hypotheses == reference_wer(repo, course)[1]


def test_position_ids_are_counted_for_a_text_graph_that_takes_them(tmp_path: Path) -> None:
    """A real onnxruntime session over a graph that returns its position_ids: the grader builds them."""
    import onnx
    from onnx import TensorProto, helper

    from grader.harness.backends.base import LoadSpec
    from grader.harness.backends.onnxruntime import OnnxRuntimeBackend

    names = ["input_ids", "attention_mask", "position_ids"]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["input_ids", "position_ids"], ["summed"]),
            helper.make_node("Identity", ["position_ids"], ["logits"]),
        ],
        "g",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"]) for name in names],
        [
            helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
            for n in ("logits", "summed")
        ],
    )
    onnx.save_model(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "model.onnx")
    )
    ids = np.array([[5, 6, 7, 8], [1, 2, 3, 0]], dtype=np.int64)
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    with OnnxRuntimeBackend(LoadSpec(tmp_path, "onnx", task="text-classification")) as backend:
        assert backend.input_names() == names
        outputs = backend.to_numpy(backend.run(backend.prepare(inputs)))
    np.testing.assert_array_equal(outputs["logits"], [[0, 1, 2, 3], [0, 1, 2, 3]])
    np.testing.assert_array_equal(outputs["summed"], ids + np.arange(4))
