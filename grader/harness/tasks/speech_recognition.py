"""Speech recognition: word and character error rates (WER, CER).

Audio is resampled and turned into model input by grader.harness.tasks.audio (numpy, the same
for every backend). Two kinds of model, told apart by the inputs they take:

- encoder-decoder models (Whisper: ``input_features``) are decoded greedily through the forward
  pass (grader.harness.tasks.seq2seq.greedy_decode). The decoder prompt is
  ``decoder_start_token_id`` followed by generation_config.json's ``forced_decoder_ids`` where
  it has them, else by the tokens ``<|{language}|>`` (the course's ``language`` param),
  ``<|transcribe|>`` and ``<|notimestamps|>`` that the vocabulary has. Text comes from
  tokenizer.json, special tokens dropped.
- CTC models (wav2vec2, HuBERT: ``input_values``): the argmax of every frame (frames past the
  end of a shorter utterance in the batch are cut, from config.json's ``conv_kernel`` /
  ``conv_stride``), repeats merged, the blank (pad token) removed, other special tokens dropped,
  the word delimiter (tokenizer_config.json ``word_delimiter_token``, default ``|``) read as a
  space. The vocabulary is vocab.json (or tokenizer.json).

Scores: grader.harness.metrics.word_error_rate / char_error_rate over texts normalised by
`normalize_transcript` (case, punctuation, ё → е), corpus-level: edits / reference words.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, MetricInfo, Task
from grader.harness.tasks.encoder_decoder import GENERATION_PARAMS, EncoderDecoderGeneration

if TYPE_CHECKING:
    from grader.harness.tasks.audio import AudioPreprocessor
    from grader.harness.tasks.seq2seq import DecoderIds
    from grader.harness.tasks.text import TextEncoder

_SPACES = re.compile(r"\s+")


class SpeechRecognition(EncoderDecoderGeneration, Task):
    name = "speech-recognition"
    model_heads = ("AutoModelForSpeechSeq2Seq", "AutoModelForCTC")
    input_roles = ("audio_features", "audio_waveform", "audio_lengths", "attention_mask", "decoder_tokens")
    main_input_roles = ("audio_features", "audio_waveform")
    metrics = {
        "wer": MetricInfo("lower", False, "Word error rate (WER)", "Доля ошибок в словах (WER)"),
        "cer": MetricInfo("lower", False, "Character error rate (CER)", "Доля ошибок в символах (CER)"),
    }
    primary = "wer"
    fields = ("audio", "text")
    default_params = {
        "max_new_tokens": 96,
        "language": "",
        "latency_seconds": 5.0,
        "seed": 0,
        **GENERATION_PARAMS,
    }
    generates_tokens = True  # Whisper-like models, where the course sets new_tokens (tasks.encoder_decoder)

    @cached_property
    def preprocessor(self) -> AudioPreprocessor:
        from grader.harness.tasks.audio import AudioPreprocessor

        return AudioPreprocessor(self.model_dir)

    @cached_property
    def text_decoder(self) -> TextEncoder:
        from grader.harness.tasks.text import TextEncoder

        return TextEncoder(self.model_dir, None)

    @cached_property
    def special_ids(self) -> DecoderIds:
        from grader.harness.tasks.seq2seq import decoder_ids

        return decoder_ids(self.model_dir, self.text_decoder.pad_id, self.text_decoder.eos_id)

    @cached_property
    def prompt(self) -> list[int]:
        from grader.harness.tasks.common import read_model_json

        forced = read_model_json(self.model_dir, "generation_config.json").get("forced_decoder_ids")
        if isinstance(forced, list) and forced and all(isinstance(p, list) and len(p) == 2 for p in forced):
            return [self.special_ids.start] + [int(token) for _, token in sorted(forced)]
        language = str(self.params["language"])
        wanted = ([f"<|{language}|>"] if language else []) + ["<|transcribe|>", "<|notimestamps|>"]
        tokens = [self.text_decoder.tokenizer.token_to_id(t) for t in wanted]
        return [self.special_ids.start] + [t for t in tokens if t is not None]

    def _ctc(self, input_names: Sequence[str]) -> bool:
        from grader.harness.tasks.common import task_error
        from grader.harness.tasks.speech_features import takes_ctc_features

        if "encoder_hidden_states" in input_names:  # a split export's decoder alone: say that
            from grader.harness.tasks.seq2seq import require_decoder_input

            require_decoder_input(input_names, self.model_dir)
        if takes_ctc_features(input_names, self.model_dir):  # log-mel features, no decoder
            return True
        if "input_features" in input_names:
            return False
        if "input_values" in input_names:
            return True
        raise task_error(
            "Q004",
            "the model takes neither input_features (Whisper-like) nor input_values (CTC)",
            file=self.model_dir,
            expected="input_features and decoder_input_ids, or input_values",
            found=", ".join(input_names),
            hint="export the model with the standard input names",
        )

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        """``latency_seconds`` of a fixed seeded signal (tones plus noise in the speech band);
        for encoder-decoder models with the decoder prompt: one encoder pass plus one decoder step."""
        rate = self.preprocessor.sampling_rate
        seconds = float(self.params["latency_seconds"])
        rng = np.random.default_rng(int(self.params["seed"]))
        t = np.arange(int(seconds * rate)) / rate
        wave = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (220.0, 440.0, 1250.0)) + rng.normal(
            0, 0.01, t.size
        )
        wave = wave.astype(np.float32)
        if self._ctc(input_names):
            from grader.harness.tasks.speech_features import ctc_inputs

            one = ctc_inputs(self.preprocessor, [wave], input_names)
        else:
            from grader.harness.tasks.seq2seq import require_decoder_input

            require_decoder_input(input_names, self.model_dir)
            one = {
                **self.preprocessor.features([wave]),
                "decoder_input_ids": np.array([self.prompt], dtype=np.int64),
            }
        return {
            name: np.repeat(array, batch_size, axis=0) for name, array in one.items() if name in input_names
        }

    def generation_unsupported(self, backend: Backend) -> str | None:
        if self._ctc(backend.input_names()):
            return (
                "a CTC model emits every frame's token in one forward pass, so it has no time per output "
                "token; claim its latency per item"
            )
        return super().generation_unsupported(backend)

    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        from grader.harness.metrics import char_error_rate, word_error_rate

        hypotheses = self.transcribe(backend, [item["audio"] for item in data.items], batch_size)
        references = [item["text"] for item in data.items]
        return {
            "wer": word_error_rate(references, hypotheses).rate,
            "cer": char_error_rate(references, hypotheses).rate,
        }

    def transcribe(self, backend: Backend, audios: Sequence[dict[str, Any]], batch_size: int) -> list[str]:
        from grader.harness.tasks.common import batches

        input_names = backend.input_names()
        ctc = self._ctc(input_names)
        waves = [{"wave": self.preprocessor.waveform(audio)} for audio in audios]
        out: list[str] = []
        for batch, real in batches(waves, batch_size):
            signals = [item["wave"] for item in batch]
            texts = (
                self._ctc_batch(backend, signals, input_names)
                if ctc
                else self._seq2seq_batch(backend, signals)
            )
            out += texts[:real]
        return out

    def _seq2seq_batch(self, backend: Backend, signals: list[np.ndarray]) -> list[str]:
        from grader.harness.tasks.seq2seq import greedy_decode, require_decoder_input

        require_decoder_input(backend.input_names(), self.model_dir)
        tokens = greedy_decode(
            backend,
            self.preprocessor.features(signals),
            self.prompt,
            self.special_ids,
            int(self.params["max_new_tokens"]),
            self.model_dir,
        )
        return [self.text_decoder.decode(row).strip() for row in tokens]

    def _ctc_batch(self, backend: Backend, signals: list[np.ndarray], input_names: list[str]) -> list[str]:
        from grader.harness.tasks.common import pick_output, run_batch, task_error
        from grader.harness.tasks.speech_features import ctc_inputs, output_frames

        built = ctc_inputs(self.preprocessor, signals, input_names)
        outputs = run_batch(backend, {k: v for k, v in built.items() if k in input_names})
        logits = pick_output(outputs, "logits", self.model_dir)
        if logits.ndim != 3 or logits.shape[0] != len(signals):
            raise task_error(
                "Q005",
                "the model's logits are not one row of vocabulary scores per audio frame",
                file=self.model_dir,
                expected=f"[{len(signals)}, frames, vocabulary size]",
                found=str(list(logits.shape)),
                hint="use a CTC head (AutoModelForCTC)",
            )
        frames = output_frames(built, outputs, logits.shape[1]) or [
            self.ctc_vocabulary.frames(len(s), logits.shape[1]) for s in signals
        ]
        ids = np.argmax(logits, axis=-1)
        return [self.ctc_vocabulary.decode(ids[row, : frames[row]].tolist()) for row in range(len(signals))]

    @cached_property
    def ctc_vocabulary(self) -> CtcVocabulary:
        return CtcVocabulary.load(self.model_dir)


class CtcVocabulary:
    """Greedy CTC decoding: merge repeats, drop the blank and special tokens, delimiter → space."""

    def __init__(
        self, tokens: dict[int, str], blank: int, delimiter: str, specials: set[str], convs: list
    ) -> None:
        self.tokens = tokens
        self.blank = blank
        self.delimiter = delimiter
        self.specials = specials
        self.convs = convs  # (kernel, stride) of each feature-encoder convolution

    @classmethod
    def load(cls, model_dir: Any) -> CtcVocabulary:
        from grader.harness.tasks.common import read_model_json, task_error

        vocab_path = model_dir / "vocab.json"
        if vocab_path.is_file():
            vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
        elif (model_dir / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            vocab = Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab()
        else:
            raise task_error(
                "Q001",
                "the CTC model folder has no vocab.json or tokenizer.json",
                file=vocab_path,
                hint="save the processor with the model (processor.save_pretrained(folder))",
            )
        tokens = {int(i): str(t) for t, i in vocab.items()}
        config = read_model_json(model_dir, "tokenizer_config.json")
        special_map = read_model_json(model_dir, "special_tokens_map.json")
        model_config = read_model_json(model_dir, "config.json")

        def token(name: str, default: str | None) -> str | None:
            value = config.get(name, special_map.get(name, default))
            return value.get("content") if isinstance(value, dict) else value

        pad = token("pad_token", "<pad>")
        blank = vocab.get(pad) if pad is not None else None
        if blank is None:
            blank = model_config.get("pad_token_id", 0)
        specials = {t for t in (token(n, None) for n in ("bos_token", "eos_token", "unk_token")) if t}
        kernels, strides = model_config.get("conv_kernel"), model_config.get("conv_stride")
        convs = (
            list(zip(kernels, strides, strict=True))
            if isinstance(kernels, list) and isinstance(strides, list)
            else []
        )
        return cls(tokens, int(blank), token("word_delimiter_token", "|") or "|", specials, convs)

    def frames(self, samples: int, available: int) -> int:
        """Output frames for an utterance of ``samples`` samples (all of them when unknown)."""
        length = samples
        for kernel, stride in self.convs:
            length = (length - int(kernel)) // int(stride) + 1
        return min(available, length) if self.convs else available

    def decode(self, ids: list[int]) -> str:
        merged = [key for key, _ in itertools.groupby(ids)]
        pieces = []
        for index in merged:
            if index == self.blank:
                continue
            text = self.tokens.get(index, "")
            if text in self.specials:
                continue
            pieces.append(" " if text == self.delimiter else text)
        return _SPACES.sub(" ", "".join(pieces)).strip()
