"""Audio preprocessing from ``preprocessor_config.json``, in numpy (and scipy for resampling), so
every backend hears exactly the same input.

Two feature extractors are understood:

- Whisper-style log-mel features (``feature_extractor_type`` WhisperFeatureExtractor, or a config
  with ``n_fft`` and ``hop_length``): audio padded or cut to ``chunk_length`` seconds; an STFT
  with a periodic Hann window of ``n_fft`` samples every ``hop_length`` samples, centred with
  reflect padding; power spectrum through ``feature_size`` triangular mel filters (Slaney's mel
  scale and area normalisation, 0..8000 Hz); log10 with a 1e-10 floor; the last frame dropped;
  values clamped to (max − 8), then (x + 4) / 4. This is Whisper's own recipe.
- raw waveforms for CTC models (Wav2Vec2FeatureExtractor and the like): per utterance zero mean
  and unit variance when ``do_normalize`` (variance + 1e-7), padded with ``padding_value`` to
  the longest utterance of the batch; an attention mask only when ``return_attention_mask``
  (models trained without one must not get one).

Audio at another rate is resampled to ``sampling_rate`` first with a polyphase filter
(scipy.signal.resample_poly, the rates' ratio reduced by their gcd).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.tasks.common import read_model_json, task_error

MEL_FLOOR = 1e-10


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    divisor = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(samples.astype(np.float64), to_rate // divisor, from_rate // divisor).astype(
        np.float32
    )


def hz_to_mel_slaney(hz: float | np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_step = math.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, mel)


def mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(
    n_freqs: int, n_mels: int, sampling_rate: int, f_min: float = 0.0, f_max: float = 8000.0
) -> np.ndarray:
    """Triangular filters [n_freqs, n_mels] on Slaney's mel scale, each normalised to unit area."""
    fft_freqs = np.linspace(0, sampling_rate // 2, n_freqs)
    edges = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max), n_mels + 2))
    widths = np.diff(edges)
    rising = (fft_freqs[:, None] - edges[None, :-2]) / widths[None, :-1]
    falling = (edges[None, 2:] - fft_freqs[:, None]) / widths[None, 1:]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]


def log_mel(
    samples: np.ndarray, *, n_fft: int, hop_length: int, n_samples: int, filters: np.ndarray
) -> np.ndarray:
    """Whisper's log-mel spectrogram [n_mels, frames] of one utterance (see the module docstring)."""
    audio = np.zeros(n_samples, dtype=np.float64)
    length = min(len(samples), n_samples)
    audio[:length] = samples[:length]
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = 1 + (len(padded) - n_fft) // hop_length
    index = np.arange(n_fft)[None, :] + hop_length * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    spec = np.log10(np.maximum(power @ filters, MEL_FLOOR)).T[:, :-1]
    spec = np.maximum(spec, spec.max() - 8.0)
    return ((spec + 4.0) / 4.0).astype(np.float32)


class AudioPreprocessor:
    """Audio items → the model's inputs: ``input_features`` (Whisper) or ``input_values`` (CTC)."""

    def __init__(self, model_dir: Path) -> None:
        self.file = model_dir / "preprocessor_config.json"
        config = read_model_json(
            model_dir,
            "preprocessor_config.json",
            required=True,
            why="it says how to turn audio into model input",
        )
        self.config = config
        self.sampling_rate = int(config.get("sampling_rate", 16000))
        kind = str(config.get("feature_extractor_type", ""))
        self.log_mel = "Whisper" in kind or ("n_fft" in config and "hop_length" in config)
        if self.log_mel:
            self.n_fft = int(config.get("n_fft", 400))
            self.hop_length = int(config.get("hop_length", 160))
            self.n_samples = int(
                config.get("n_samples", int(config.get("chunk_length", 30)) * self.sampling_rate)
            )
            self.filters = mel_filters(
                1 + self.n_fft // 2, int(config.get("feature_size", 80)), self.sampling_rate
            )
        self.do_normalize = bool(config.get("do_normalize", not self.log_mel))
        self.padding_value = float(config.get("padding_value", 0.0))
        self.attention_mask = bool(config.get("return_attention_mask", False))

    def waveform(self, audio: dict[str, Any]) -> np.ndarray:
        rate = audio.get("sampling_rate")
        if rate is None:
            raise task_error(
                "E006",
                "an eval audio item has no sampling rate",
                file=self.file,
                expected="WAV files, or arrays with a `sampling_rate` column",
                hint="store audio as WAV, or add a sampling_rate column and map it in `columns:`",
            )
        return resample(np.asarray(audio["array"], dtype=np.float32), int(rate), self.sampling_rate)

    def features(self, waveforms: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Log-mel ``input_features`` [B, n_mels, frames]."""
        return {
            "input_features": np.stack(
                [
                    log_mel(
                        w,
                        n_fft=self.n_fft,
                        hop_length=self.hop_length,
                        n_samples=self.n_samples,
                        filters=self.filters,
                    )
                    for w in waveforms
                ]
            )
        }

    def values(self, waveforms: Sequence[np.ndarray], length: int | None = None) -> dict[str, np.ndarray]:
        """Raw ``input_values`` [B, samples] (+ ``attention_mask``), padded to ``length`` or the longest."""
        length = length or max(len(w) for w in waveforms)
        values = np.full((len(waveforms), length), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(waveforms), length), dtype=np.int64)
        for row, wave in enumerate(waveforms):
            wave = wave[:length].astype(np.float64)
            if self.do_normalize:
                wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
            values[row, : len(wave)] = wave
            mask[row, : len(wave)] = 1
        return {"input_values": values, **({"attention_mask": mask} if self.attention_mask else {})}
