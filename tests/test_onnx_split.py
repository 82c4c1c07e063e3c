"""Split encoder-decoder ONNX exports (Optimum's encoder_model.onnx, decoder_model.onnx,
decoder_with_past_model.onnx or decoder_model_merged.onnx) through the real onnxruntime sessions
of grader.harness.backends.onnx_split: a tiny T5 and a tiny Whisper (random init) exported split
here (tests/split_export.py), with and without the key / value cache and merged. Their greedy
generations and metrics equal the PyTorch model's own greedy decoding computed here; the cache
gives the same logits as re-running the whole prefix; validation names the missing graph (A022);
the size counts every graph and its external data."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from split_export import export_split, merge_decoders
from task_models import shipped
from test_hostile_inputs import MANIFEST, PATH_LINE  # a text task's manifest; `path:` at PATH_LINE
from test_tasks_speech import COURSE, whisper_folder
from test_tasks_support import save_bpe_tokenizer, tiny_t5

from grader.harness.backends.base import LoadSpec
from grader.harness.backends.onnxruntime import OnnxRuntimeBackend
from grader.harness.data import load_eval_data
from grader.harness.metrics import char_error_rate, corpus_bleu, corpus_chrf, word_error_rate
from grader.harness.size_files import list_files
from grader.harness.size_onnx import read_onnx_model
from grader.harness.tasks.base import TaskNotMeasurable
from grader.harness.tasks.seq2seq import Seq2Seq
from grader.harness.tasks.speech_recognition import SpeechRecognition

REPO = Path(__file__).resolve().parent.parent
T5_PARAMS = {"max_length": 32, "max_new_tokens": 8}
WHISPER_PARAMS = {"language": "en", "max_new_tokens": 6}


def backend(folder: Path, task: str) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(LoadSpec(folder, "onnx", task=task))


@pytest.fixture(scope="module")
def t5(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny T5 checkpoint and its split exports: with the cache, without it, merged."""
    root = tmp_path_factory.mktemp("t5")
    data = shipped("translation-en-ru", "seq2seq", limit=8)
    folder = root / "model"
    vocab = save_bpe_tokenizer(
        folder,
        [item[key] for item in data.items for key in ("source", "target")],
        vocab_size=400,
        template=False,
        specials=["<pad>", "</s>", "[UNK]"],
        config={"pad_token": "<pad>", "eos_token": "</s>", "model_max_length": 512},
    )
    tiny_t5(vocab, seed=5).save_pretrained(folder)
    model = Seq2SeqReference.load(folder)
    export_split(model, folder, root / "past", audio=False, with_past=True)
    export_split(model, folder, root / "no-past", audio=False, with_past=False)
    shutil.copytree(root / "past", root / "merged")
    merge_decoders(root / "merged")
    return {"root": root, "folder": folder, "model": model, "data": data}


class Seq2SeqReference:
    """transformers' own greedy generation of the checkpoint, for the grader to match."""

    @staticmethod
    def load(folder: Path) -> Any:
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM.from_pretrained(str(folder)).eval()

    @staticmethod
    def translate(model: Any, folder: Path, sources: list[str]) -> list[str]:
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token="<pad>")
        encoded = tokenizer(
            sources,
            padding="max_length",
            truncation=True,
            max_length=T5_PARAMS["max_length"],
            return_tensors="pt",
        )
        with torch.inference_mode():
            generated = model.generate(
                **encoded, max_new_tokens=T5_PARAMS["max_new_tokens"], do_sample=False, num_beams=1
            )
        return tokenizer.batch_decode(generated, skip_special_tokens=True)


@pytest.mark.parametrize("variant", ["past", "no-past", "merged"])
def test_t5_split_export_generates_what_the_checkpoint_generates(t5: dict[str, Any], variant: str) -> None:
    folder = t5["root"] / variant
    sources = [item["source"] for item in t5["data"].items]
    targets = [item["target"] for item in t5["data"].items]
    expected = Seq2SeqReference.translate(t5["model"], t5["folder"], sources)
    assert len(set(expected)) > 1  # the tiny model says different things for different sources
    task = Seq2Seq(folder, T5_PARAMS)
    with backend(folder, "seq2seq") as runtime:
        split = runtime.encoder_decoder()
        assert split is not None and split.cached is (variant != "no-past")
        assert runtime.input_names() == ["input_ids", "attention_mask", "decoder_input_ids"]
        assert task.generate(runtime, sources, batch_size=3) == expected
        metrics = task.evaluate(runtime, t5["data"], batch_size=4)
        latency = runtime.to_numpy(
            runtime.run(runtime.prepare(task.latency_inputs(2, runtime.input_names())))
        )
    assert metrics == {"bleu": corpus_bleu(expected, targets).score, "chrf": corpus_chrf(expected, targets)}
    assert latency["logits"].shape == (2, len(task.prompt), t5["model"].config.vocab_size)


def test_the_cache_gives_the_logits_of_the_whole_prefix(t5: dict[str, Any]) -> None:
    """Five steps from past key values against PyTorch's forward pass over the whole prefix:
    the same logits at every position (not only the same argmax)."""
    ids = np.array([[5, 9, 14, 3, 7, 21], [8, 8, 2, 30, 1, 0]], dtype=np.int64)
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], dtype=np.int64)
    prefix = np.array([[0, 17, 4, 33, 12], [0, 6, 6, 40, 2]], dtype=np.int64)
    with torch.inference_mode():
        reference = t5["model"](
            input_ids=torch.from_numpy(ids),
            attention_mask=torch.from_numpy(mask),
            decoder_input_ids=torch.from_numpy(prefix),
            use_cache=False,
        ).logits.numpy()
    for variant in ("past", "merged"):
        with backend(t5["root"] / variant, "seq2seq") as runtime:
            split = runtime.encoder_decoder()
            assert split is not None
            state = split.encode({"input_ids": ids, "attention_mask": mask})
            logits, past = split.decode(state, prefix[:, :1], None)
            steps = [logits[:, -1]]
            for end in range(2, prefix.shape[1] + 1):
                logits, past = split.decode(state, prefix[:, :end], past)
                assert logits.shape[1] == 1  # only the newest token was fed
                steps.append(logits[:, -1])
        np.testing.assert_allclose(np.stack(steps, axis=1), reference, atol=1e-4)


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("whisper")
    speech = load_eval_data("asr-en", COURSE, REPO)
    folder, model = whisper_folder(root, speech)
    export_split(model, folder, root / "past", audio=True, with_past=True)
    export_split(model, folder, root / "no-past", audio=True, with_past=False)
    items = speech.items[:2]
    expected = whisper_greedy(model, folder, [item["audio"] for item in items])
    assert any(expected)
    return {"root": root, "folder": folder, "items": items, "expected": expected}


def whisper_greedy(model: Any, folder: Path, audios: list[dict[str, Any]]) -> list[str]:
    """transformers' feature extractor and forward pass, greedy, token by token."""
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    prompt = [
        tokenizer.convert_tokens_to_ids(t)
        for t in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
    ]
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    features = WhisperFeatureExtractor(feature_size=80)(
        [a["array"] for a in audios], sampling_rate=16000, return_tensors="pt"
    )["input_features"]
    texts = []
    for row in range(len(audios)):
        decoded = torch.tensor([prompt])
        with torch.inference_mode():
            for _ in range(WHISPER_PARAMS["max_new_tokens"]):
                logits = model(input_features=features[row : row + 1], decoder_input_ids=decoded).logits
                token = logits[0, -1].argmax()
                if int(token) == eos:
                    break
                decoded = torch.cat([decoded, token.view(1, 1)], dim=1)
        texts.append(tokenizer.decode(decoded[0, len(prompt) :], skip_special_tokens=True).strip())
    return texts


@pytest.mark.parametrize("variant", ["past", "no-past"])
def test_whisper_split_export_transcribes_what_the_checkpoint_transcribes(
    whisper: dict[str, Any], variant: str
) -> None:
    from grader.harness.tasks.base import EvalData

    folder = whisper["root"] / variant
    task = SpeechRecognition(folder, WHISPER_PARAMS)
    data = EvalData("asr-en", "sha256:test", list(whisper["items"]))
    references, expected = [item["text"] for item in whisper["items"]], whisper["expected"]
    with backend(folder, "speech-recognition") as runtime:
        assert runtime.input_names() == ["input_features", "decoder_input_ids"]
        metrics = task.evaluate(runtime, data, batch_size=2)  # one batch: the greedy loop's padding too
        info = runtime.info
    assert metrics == {  # WER and CER of the reference's transcripts: the same transcripts
        "wer": word_error_rate(references, expected).rate,
        "cer": char_error_rate(references, expected).rate,
    }
    ran = "later tokens decoded from past key values" if variant == "past" else "re-runs the decoder"
    assert any(ran in note for note in info.notes)


def test_a_lone_decoder_says_it_is_the_decoder_half(whisper: dict[str, Any], tmp_path: Path) -> None:
    """A decoder graph alone (the measurement path of an `hf:` artifact, which validation never
    lists): NOT_MEASURABLE, naming the missing encoder, not "takes neither input_features ..."."""
    lone = tmp_path / "lone"
    lone.mkdir()
    for path in (whisper["root"] / "no-past").iterdir():
        if path.name != "encoder_model.onnx":
            shutil.copy2(path, lone / path.name)
    task = SpeechRecognition(lone, WHISPER_PARAMS)
    half = "decoder half of a split encoder-decoder export, without its encoder"
    with backend(lone, "speech-recognition") as runtime, pytest.raises(TaskNotMeasurable, match=half):
        task.transcribe(runtime, [whisper["items"][0]["audio"]], batch_size=1)


# --- size and external data ----------------------------------------------------------------------


def test_size_counts_every_graph_and_external_data(t5: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "external"
    shutil.copytree(t5["root"] / "past", folder)
    graph = onnx.load(str(folder / "decoder_with_past_model.onnx"))
    onnx.save(
        graph,
        str(folder / "decoder_with_past_model.onnx"),
        save_as_external_data=True,
        location="decoder_with_past_model.onnx_data",
        size_threshold=0,
    )
    base, files = list_files(folder)
    contents = read_onnx_model(base, files)
    graphs = {"encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"}
    assert contents.weight_files == graphs | {"decoder_with_past_model.onnx_data"}
    stored = {(name, t.name) for name in graphs for t in onnx.load(str(folder / name)).graph.initializer}
    external = {(r.file, r.name) for r in contents.records if r.file.endswith("_data")}
    read = {(r.file, r.name) for r in contents.records} - external
    assert len(external) == len(graph.graph.initializer) and stored <= read | {
        ("decoder_with_past_model.onnx", name) for _, name in external
    }
    with backend(folder, "seq2seq") as runtime:  # the external data is read by its session
        task = Seq2Seq(folder, T5_PARAMS)
        sources = [item["source"] for item in t5["data"].items[:3]]
        assert task.generate(runtime, sources, 3) == Seq2SeqReference.translate(
            t5["model"], t5["folder"], sources
        )


# --- validation: which graph is missing -------------------------------------------------------------


def validate_split(tmp_path: Path, source: Path, keep: set[str], path: str = "split/") -> list[Any]:
    """Validate a manifest whose artifact is ``source``'s folder with only the .onnx files ``keep``."""
    from grader.course import load_course
    from grader.validate import validate_manifest

    shutil.copy(REPO / "tests" / "fixtures" / "manifests" / "course.yaml", tmp_path / "course.yaml")
    team = tmp_path / "submissions" / "ml_masters" / "hw-2"
    shutil.copytree(
        source,
        team / "split",
        ignore=lambda _, names: [n for n in names if n.endswith(".onnx") and n not in keep],
    )
    (team / "submission.yaml").write_text(MANIFEST.format(fmt="onnx", path=path), encoding="utf-8")
    result = validate_manifest(team / "submission.yaml", load_course(tmp_path / "course.yaml"), tmp_path)
    return [f for f in result.findings if f.code in ("A005", "A022")]


@pytest.mark.parametrize(
    ("keep", "path", "missing"),
    [
        ({"decoder_model.onnx", "decoder_with_past_model.onnx"}, "split/", "there is no encoder_model.onnx"),
        (
            {"encoder_model.onnx", "decoder_with_past_model.onnx"},
            "split/",
            "decodes only from past key values",
        ),
        ({"decoder_model.onnx"}, "split/decoder_model.onnx", "there is no encoder_model.onnx"),
        ({"encoder_model.onnx", "decoder_model.onnx"}, "split/decoder_model.onnx", "`path: split/`"),
    ],
)
def test_validation_names_the_missing_graph(
    t5: dict[str, Any], tmp_path: Path, keep: set[str], path: str, missing: str
) -> None:
    (finding,) = validate_split(tmp_path, t5["root"] / "past", keep, path)
    assert finding.code == "A022" and missing in finding.message, finding
    assert finding.location.file.endswith("submission.yaml") and finding.location.line == PATH_LINE
    assert "optimum-cli export onnx" in finding.hint and finding.expected and finding.found


@pytest.mark.parametrize("variant", ["past", "no-past", "merged"])
def test_a_complete_split_export_validates(t5: dict[str, Any], tmp_path: Path, variant: str) -> None:
    folder = t5["root"] / variant
    assert validate_split(tmp_path, folder, {p.name for p in folder.glob("*.onnx")}) == []


# --- generation latency: time per output token from the cache --------------------------------------


def greedy_without_eos(model: Any, inputs: dict[str, np.ndarray], prompt: list[int], count: int) -> list[int]:
    """PyTorch's forward pass over the whole prefix, ``count`` tokens, never stopping at EOS."""
    encoder = {k: torch.from_numpy(v) for k, v in inputs.items() if k != "decoder_input_ids"}
    decoded = torch.tensor([prompt])
    with torch.inference_mode():
        for _ in range(count):
            token = model(**encoder, decoder_input_ids=decoded, use_cache=False).logits[0, -1].argmax()
            decoded = torch.cat([decoded, token.view(1, 1)], dim=1)
    return decoded[0, len(prompt) :].tolist()


def test_generation_latency_of_a_split_export_and_its_checkpoint(t5: dict[str, Any]) -> None:
    from grader.harness.backends.transformers import TransformersBackend

    params = {**T5_PARAMS, "new_tokens": 5, "generation_repeats": 2}
    task = Seq2Seq(t5["root"] / "past", params)
    inputs = task.latency_inputs(1, ["input_ids", "attention_mask", "decoder_input_ids"])
    expected = greedy_without_eos(t5["model"], inputs, task.prompt, 5)
    spec = LoadSpec(t5["folder"], "safetensors", task="seq2seq")
    for runtime in (backend(t5["root"] / "past", "seq2seq"), TransformersBackend(spec)):
        with runtime:
            assert task.generation_unsupported(runtime) is None
            timing = task.generation_latency(runtime, repeats=2, warmup=0)
        assert timing.generated == expected and timing.kv_cache
        assert timing.time_to_first_token.stats.n == 2 and timing.time_per_output_token.stats.n == 8
    with backend(t5["root"] / "no-past", "seq2seq") as runtime:
        assert "without a key / value cache" in (task.generation_unsupported(runtime) or "")
        assert "new_tokens" in (Seq2Seq(t5["root"] / "past", T5_PARAMS).generation_unsupported(runtime) or "")


def test_generation_latency_of_a_split_whisper_export(whisper: dict[str, Any]) -> None:
    from transformers import WhisperForConditionalGeneration

    task = SpeechRecognition(whisper["root"] / "past", {**WHISPER_PARAMS, "new_tokens": 4})
    inputs = task.latency_inputs(1, ["input_features", "decoder_input_ids"])
    model = WhisperForConditionalGeneration.from_pretrained(str(whisper["folder"])).eval()
    with backend(whisper["root"] / "past", "speech-recognition") as runtime:
        assert task.generation_unsupported(runtime) is None
        timing = task.generation_latency(runtime, repeats=1, warmup=0)
    assert timing.generated == greedy_without_eos(model, inputs, task.prompt, 4)
    assert timing.prompt_tokens == len(task.prompt) and timing.time_per_output_token.stats.n == 3


def test_the_latency_child_times_a_split_export_s_generation_where_the_course_asks(
    t5: dict[str, Any],
) -> None:
    """What the harness does with it: generation is timed only where the course sets new_tokens,
    and the latency child's generation step reports the split export's figures (or, without a
    cache, why not) instead of raising."""
    from grader.harness.child import _generation
    from grader.harness.jobs import ChildReport
    from grader.harness.measure import _times_generation

    assert not _times_generation("seq2seq", {}) and not _times_generation("speech-recognition", {})
    assert _times_generation("seq2seq", {"new_tokens": 4}) and _times_generation(
        "speech-recognition", {"new_tokens": 4}
    )
    task = Seq2Seq(t5["root"] / "past", {**T5_PARAMS, "new_tokens": 4, "generation_repeats": 2})
    timed, refused = ChildReport(ok=True, pid=1), ChildReport(ok=True, pid=1)
    with backend(t5["root"] / "past", "seq2seq") as runtime:
        _generation(task, runtime, timed)
    with backend(t5["root"] / "no-past", "seq2seq") as runtime:
        _generation(task, runtime, refused)
    assert timed.generation is not None and timed.generation.kv_cache and timed.generation.new_tokens == 4
    assert len(timed.generation.ttft_ms) == 2 and len(timed.generation.tpot_ms) == 6
    assert refused.generation is None and refused.generation_error_kind == "not_measurable"
    assert "decoder_with_past_model.onnx" in (refused.generation_error or "")
