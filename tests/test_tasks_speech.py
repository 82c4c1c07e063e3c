"""Speech recognition on the shipped eSpeak NG sets: Whisper features against transformers' own
extractor, CTC decoding and WER with a model whose output is known, and tiny wav2vec2 / Whisper
models through the transformers backend against transformers' own pipeline pieces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_tasks_support import (
    CTC_VOCAB,
    ModuleBackend,
    make_course,
    save_config,
    save_ctc_processor,
    tiny_wav2vec2,
)

from grader.harness import data as data_module
from grader.harness.backends.base import LoadSpec
from grader.harness.data import DataError, load_eval_data
from grader.harness.metrics import normalize_transcript
from grader.harness.tasks import TASKS
from grader.harness.tasks.audio import AudioPreprocessor, resample
from grader.harness.tasks.base import EvalData, TaskError
from grader.harness.tasks.speech_recognition import SpeechRecognition

REPO = Path(__file__).resolve().parent.parent
COURSE = make_course(
    {
        "asr-en": {"task": "speech-recognition", "source": {"builtin": "asr-en"}},
        "asr-ru": {"task": "speech-recognition", "source": {"builtin": "asr-ru"}},
    }
)


@pytest.fixture(scope="module")
def speech() -> EvalData:
    return load_eval_data("asr-en", COURSE, REPO)


def ctc_folder(
    root: Path, *, attention_mask: bool, convs: tuple[list[int], list[int]] = ([160], [160])
) -> Path:
    folder = root / "ctc"
    save_ctc_processor(folder, attention_mask=attention_mask)
    save_config(folder, conv_kernel=convs[0], conv_stride=convs[1], pad_token_id=0)
    return folder


def spell(text: str, frames: int) -> list[int]:
    """CTC ids that decode to ``text``: each character, a blank after it, blanks to the end."""
    ids = []
    for char in normalize_transcript(text):
        ids += [CTC_VOCAB["|"] if char == " " else CTC_VOCAB[char], CTC_VOCAB["<pad>"]]
    assert len(ids) <= frames, "the utterance is too short to spell its transcript"
    return ids + [CTC_VOCAB["<pad>"]] * (frames - len(ids))


class Oracle(torch.nn.Module):
    """Spells a transcript chosen by the utterance's real length (from the attention mask)."""

    def __init__(self, by_length: dict[int, str]) -> None:
        super().__init__()
        self.by_length = by_length

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        frames = input_values.shape[1] // 160
        rows = []
        for mask in attention_mask:
            real = int(mask.sum())
            ids = spell(self.by_length[real], real // 160) + [CTC_VOCAB["<pad>"]] * (frames - real // 160)
            rows.append(torch.nn.functional.one_hot(torch.tensor(ids), len(CTC_VOCAB)).float())
        return torch.stack(rows)


def test_registered() -> None:
    task = TASKS.load("speech-recognition")
    assert task is SpeechRecognition and task.primary == "wer" and task.metrics["wer"].direction == "lower"


def test_shipped_speech_sets(speech: EvalData) -> None:
    ru = load_eval_data("asr-ru", COURSE, REPO)
    for data in (speech, ru):
        assert len(data.items) == 12
        assert all(item["audio"]["sampling_rate"] == 16000 for item in data.items)
        assert all(
            item["audio"]["array"].dtype == np.float32 and len(item["audio"]["array"]) > 8000
            for item in data.items
        )
    assert ru.items[0]["text"] == "Где моя книга?" and speech.items[0]["text"] == "Where is my book?"


def test_a_tampered_shipped_recording_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data_module.SHIPPED_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    wav = copy / "asr-en" / "0003.wav"
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x00\x01")
    monkeypatch.setattr(data_module, "SHIPPED_DIR", copy)
    with pytest.raises(DataError) as caught:
        load_eval_data("asr-en", COURSE, REPO)
    assert caught.value.findings[0].code == "E003" and "asr-en/0003.wav" in caught.value.findings[0].message


def test_whisper_features_match_transformers(tmp_path: Path, speech: EvalData) -> None:
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=80)
    extractor.save_pretrained(tmp_path)
    waves = [item["audio"]["array"] for item in speech.items[:3]]
    ours = AudioPreprocessor(tmp_path).features(waves)["input_features"]
    theirs = extractor(waves, sampling_rate=16000, return_tensors="np")["input_features"]
    assert ours.shape == theirs.shape == (3, 80, 3000)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_resampling_keeps_a_tone() -> None:
    t = np.arange(22050) / 22050
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(tone, 22050, 16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # one second at 16 kHz: bin = Hz


def test_ctc_decoding_and_wer_with_a_known_model(tmp_path: Path, speech: EvalData) -> None:
    folder = ctc_folder(tmp_path, attention_mask=True)
    references = [item["text"] for item in speech.items]
    said = list(references)
    said[0] = "Where is my"  # one deletion
    said[5] = said[5].replace("went", "want")  # one substitution
    lengths = [len(item["audio"]["array"]) for item in speech.items]
    assert len(set(lengths)) == len(lengths)
    module = Oracle({n: s for n, s in zip(lengths, said, strict=True)})
    task = SpeechRecognition(folder)
    with ModuleBackend(LoadSpec(folder, "module"), module, ["input_values", "attention_mask"]) as backend:
        hypotheses = task.transcribe(backend, [item["audio"] for item in speech.items], batch_size=5)
        scores = task.evaluate(backend, speech, batch_size=5)
    assert hypotheses == [normalize_transcript(s) for s in said]
    words = sum(len(normalize_transcript(r).split()) for r in references)
    assert scores["wer"] == pytest.approx(2 / words)
    jiwer = pytest.importorskip("jiwer")
    normalised = [normalize_transcript(r) for r in references]
    assert scores["cer"] == pytest.approx(jiwer.cer(normalised, hypotheses))


def test_tiny_wav2vec2_through_the_transformers_backend(tmp_path: Path, speech: EvalData) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    folder = ctc_folder(tmp_path, attention_mask=False)
    model = tiny_wav2vec2(seed=0)
    model.save_pretrained(folder)
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, do_normalize=True, return_attention_mask=False
    )
    items = speech.items[:4]
    # the input values are compared with transformers' extractor below; the model is fed ours, since
    # a random model flips near-tied frames on float32 rounding differences
    ours = AudioPreprocessor(folder)
    expected = []
    for item in items:
        reference_inputs = extractor(item["audio"]["array"], sampling_rate=16000, return_tensors="np")[
            "input_values"
        ]
        values = ours.values([item["audio"]["array"]])["input_values"]
        np.testing.assert_allclose(values, reference_inputs, atol=1e-5)
        with torch.inference_mode():
            ids = model(torch.from_numpy(values)).logits.argmax(-1)
        # CTC merges repeats first and drops blanks and other special tokens after (transformers'
        # skip_special_tokens=True would drop them first and merge "l <blank> l" into one "l")
        text = tokenizer.batch_decode(ids)[0]
        for special in ("<s>", "</s>", "<unk>"):
            text = text.replace(special, "")
        expected.append(" ".join(text.split()))
    assert any(expected)

    with backends.TransformersBackend(LoadSpec(folder, "safetensors", task="speech-recognition")) as backend:
        hypotheses = SpeechRecognition(folder).transcribe(
            backend, [item["audio"] for item in items], batch_size=1
        )
    assert hypotheses == expected


def whisper_folder(root: Path, speech: EvalData) -> tuple[Path, object]:
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    folder = root / "whisper"
    folder.mkdir()
    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        "<|en|>",
        "<|ru|>",
        "<|transcribe|>",
        "<|notimestamps|>",
    ]
    tokenizer = Tokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([item["text"] for item in speech.items], trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in specials])
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"})
    )
    vocab = tokenizer.get_vocab()
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=len(vocab),
        num_mel_bins=80,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        d_model=16,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=1500,
        max_target_positions=64,
        init_std=0.5,
        pad_token_id=vocab["<|endoftext|>"],
        bos_token_id=vocab["<|endoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        decoder_start_token_id=vocab["<|startoftranscript|>"],
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    model = WhisperForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    return folder, model


def test_tiny_whisper_through_the_transformers_backend(tmp_path: Path, speech: EvalData) -> None:
    backends = pytest.importorskip("grader.harness.backends.transformers")
    from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor

    folder, model = whisper_folder(tmp_path, speech)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    prompt = [
        tokenizer.convert_tokens_to_ids(t)
        for t in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
    ]
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    items = speech.items[:2]
    features = WhisperFeatureExtractor(feature_size=80)(
        [i["audio"]["array"] for i in items], sampling_rate=16000, return_tensors="pt"
    )
    expected = []
    for row in range(len(items)):
        decoded = torch.tensor([prompt])
        with torch.inference_mode():
            for _ in range(6):
                token = (
                    model(input_features=features["input_features"][row : row + 1], decoder_input_ids=decoded)
                    .logits[0, -1]
                    .argmax()
                )
                if int(token) == eos:
                    break
                decoded = torch.cat([decoded, token.view(1, 1)], dim=1)
        expected.append(tokenizer.decode(decoded[0, len(prompt) :], skip_special_tokens=True).strip())
    assert any(expected)

    task = SpeechRecognition(folder, {"language": "en", "max_new_tokens": 6})
    assert task.prompt == prompt
    with backends.TransformersBackend(LoadSpec(folder, "safetensors", task="speech-recognition")) as backend:
        hypotheses = task.transcribe(backend, [item["audio"] for item in items], batch_size=2)
        latency = task.latency_inputs(2, backend.input_names())
    assert hypotheses == expected
    assert (
        latency["input_features"].shape == (2, 80, 3000)
        and latency["decoder_input_ids"].tolist() == [prompt] * 2
    )


def test_ctc_latency_inputs_and_unknown_model_inputs(tmp_path: Path) -> None:
    folder = ctc_folder(tmp_path, attention_mask=True)
    inputs = SpeechRecognition(folder, {"latency_seconds": 2.0}).latency_inputs(
        3, ["input_values", "attention_mask"]
    )
    assert inputs["input_values"].shape == (3, 32000) and (inputs["attention_mask"] == 1).all()
    assert abs(float(inputs["input_values"].mean())) < 1e-3  # normalised like real input
    with pytest.raises(TaskError, match="neither input_features"):
        SpeechRecognition(folder).latency_inputs(1, ["pixel_values"])
