"""Synthetic speech for the speech-recognition eval sets `asr-en` and `asr-ru`.

Each utterance is a short everyday sentence (the digit-free ones of `grader.data.translation`,
English sources for `asr-en`, their Russian translations for `asr-ru`) spoken by eSpeak NG
(Debian package `espeak-ng`, 1.51: voices `en-us` and `ru`, 160 words per minute), resampled from
its 22,050 Hz to 16,000 Hz with a polyphase filter (scipy.signal.resample_poly, 320/441) and
stored as 16-bit mono PCM WAV, with ``metadata.jsonl`` naming each file and its transcript.

CI has no eSpeak NG, so these files are pinned in SHA256SUMS rather than regenerated; to rebuild
them after a deliberate change (then update SHA256SUMS and the pinned digests in the tests)::

    apt-get install espeak-ng && python -m grader.data.speech --write
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from grader.data import translation

DATA_DIR = Path(__file__).resolve().parent
RATE = 16_000
UTTERANCES = 12
VOICES = {"en": "en-us", "ru": "ru"}


def transcripts() -> dict[str, list[str]]:
    """The sentences to speak: digit-free translation pairs, a varied, fixed selection."""
    chosen = [
        p for p in translation.pairs(120, seed=7) if not any(c.isdigit() for c in p["source"] + p["target"])
    ]
    chosen = chosen[:UTTERANCES]
    return {"en": [p["source"] for p in chosen], "ru": [p["target"] for p in chosen]}


def speak(text: str, voice: str) -> np.ndarray:
    """eSpeak NG's rendering of ``text`` as int16 samples at 16 kHz."""
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True)
        with wave.open(str(path), "rb") as handle:
            rate = handle.getframerate()
            samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float64)
    if rate != 22_050:
        raise RuntimeError(f"expected eSpeak NG's 22050 Hz output, got {rate} Hz")
    resampled = resample_poly(samples, 320, 441)
    return np.clip(np.rint(resampled), -32768, 32767).astype("<i2")


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())


def write(language: str) -> Path:
    folder = DATA_DIR / f"asr-{language}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    lines = []
    for index, text in enumerate(transcripts()[language], start=1):
        name = f"{index:04d}.wav"
        write_wav(folder / name, speak(text, VOICES[language]))
        lines.append(json.dumps({"audio": name, "text": text}, ensure_ascii=False) + "\n")
    (folder / "metadata.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.data.speech", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--write", action="store_true", required=True, help="speak and write asr-en/, asr-ru/"
    )
    parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed (apt-get install espeak-ng)", file=sys.stderr)
        return 2
    for language in VOICES:
        print(f"wrote {write(language)}")
    print("now run `python -m grader.data.synth --write` to update SHA256SUMS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
