"""CTC speech models over log-mel features (GigaAM, NeMo-style exports: `features` +
`feature_lengths` mapped to audio_features + audio_lengths), and lengths for waveform models.

A graph that takes `input_features` and no decoder input, from a folder whose config.json does not
say `is_encoder_decoder`, is a CTC model over features. Its features are the log-mel recipe of
grader.harness.tasks.audio (preprocessor_config.json's n_fft, hop_length, feature_size) computed
per utterance over its own length (ceil(samples / hop_length) frames, not Whisper's 30-second
chunk) and padded to the longest utterance of the batch with each row's lowest value; its
audio_lengths are those frame counts. Of the output frames, utterance i keeps the ones its length
covers: an integer [batch] output of the graph where it returns one (output lengths), else
ceil(frames_i × output frames / input frames), the graph's own subsampling read off the batch.
A waveform model's audio_lengths are its samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from grader.harness.tasks.common import read_model_json, task_error

if TYPE_CHECKING:
    from pathlib import Path

    from grader.harness.tasks.audio import AudioPreprocessor

LENGTHS = "audio_lengths"  # grader.input_roles.ROLES["audio_lengths"].key
FEATURES = "input_features"


def takes_ctc_features(input_names: Sequence[str], model_dir: Path) -> bool:
    """A CTC model over log-mel features (see the module docstring), not a Whisper-like one."""
    if FEATURES not in input_names or "decoder_input_ids" in input_names:
        return False
    return not read_model_json(model_dir, "config.json").get("is_encoder_decoder", False)


def ctc_inputs(
    preprocessor: AudioPreprocessor, signals: Sequence[np.ndarray], input_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """A CTC model's inputs for a batch, features or waveforms, with their lengths (the caller feeds
    the ones the model takes; `output_frames` reads the lengths)."""
    if FEATURES in input_names:
        return frame_features(preprocessor, signals)
    return {**preprocessor.values(signals), LENGTHS: np.array([len(s) for s in signals], dtype=np.int64)}


def frame_features(preprocessor: AudioPreprocessor, signals: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Log-mel features [batch, mel bins, frames] of each utterance over its own length, and the
    frame counts (audio_lengths)."""
    from grader.harness.tasks.audio import log_mel

    if not preprocessor.log_mel:
        raise task_error(
            "Q003",
            "the model takes audio features, and preprocessor_config.json does not describe log-mel features",
            file=preprocessor.file,
            expected="n_fft, hop_length and feature_size (the mel bins) in preprocessor_config.json",
            found=", ".join(sorted(preprocessor.config)),
            hint="save the feature extractor's settings with the model (n_fft, hop_length, feature_size, "
            "sampling_rate)",
        )
    hop = preprocessor.hop_length
    frames = [max(1, math.ceil(len(s) / hop)) for s in signals]
    rows = [
        log_mel(s, n_fft=preprocessor.n_fft, hop_length=hop, n_samples=n * hop, filters=preprocessor.filters)
        for s, n in zip(signals, frames, strict=True)
    ]
    longest = max(frames)
    features = np.stack(
        [np.pad(row, ((0, 0), (0, longest - row.shape[1])), constant_values=row.min()) for row in rows]
    )
    return {FEATURES: features.astype(np.float32), LENGTHS: np.array(frames, dtype=np.int64)}


def output_frames(
    inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], available: int
) -> list[int] | None:
    """The output frames each utterance of a features batch keeps; None for a waveform batch."""
    lengths = inputs.get(LENGTHS)
    features = inputs.get(FEATURES)
    if lengths is None or features is None:
        return None
    rows = len(lengths)
    for array in outputs.values():  # the graph's own output lengths, where it returns them
        array = np.asarray(array)
        if array.dtype.kind in "iu" and array.size == rows and array.ndim in (1, 2):
            return [min(available, max(0, int(n))) for n in array.reshape(-1)]
    total = features.shape[-1]
    return [min(available, math.ceil(int(n) * available / total)) for n in lengths]
