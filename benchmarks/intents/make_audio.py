"""Speak the paraphrase set (sayings.json) into WAV clips for `desktop-assistant eval speech`.

    python benchmarks/intents/make_audio.py OUT_DIR [SAYINGS]

Writes OUT_DIR/manifest-tune.jsonl and OUT_DIR/manifest-held-out.jsonl (same split as
`eval intents`: even positions tune, odd ones held out) and one clip per saying. Needs
espeak-ng (apt-get install espeak-ng); numpy, soundfile and librosa come with the app.

The two halves use different voices, so nothing about the held-out voices can be tuned on:
tune clips speak with en-us / en-gb and the variants speech-dev uses; held-out clips with
accents and variants used nowhere else (Scottish, Caribbean, New York, West Midlands, klatt,
named variants). Conditions cycle per clip: speed 130-210 words per minute; no noise or
white, pink or babble noise (other espeak speech) at 20, 15 or 10 dB SNR; 16, 44.1 or 48 kHz;
mono or stereo (the right channel 0.4 ms late and 2 dB quieter, like two microphones).
Deterministic: the same file gives the same clips.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

HERE = Path(__file__).parent
VOICES = {
    "tune": ["en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m1", "en-gb+f2"],
    "held-out": [
        "en-gb-scotland+m4",
        "en-029+f5",
        "en-us-nyc+m6",
        "en-gb-x-gbcwmd+f1",
        "en-gb-x-rp+klatt",
        "en-us+belinda",
        "en-gb-x-gbclan+m8",
        "en-us+grandpa",
    ],
}
SPEEDS = [150, 130, 190, 170, 210]
NOISES = [(None, None), ("pink", 20), ("white", 15), ("babble", 10), ("pink", 10),
          (None, None), ("babble", 15)]  # fmt: skip
RATES = [16_000, 44_100, 48_000]
BABBLE_TEXT = (
    "and then we went down to the market on saturday morning where the stalls were already "
    "busy and someone was selling fresh bread and cheese and the children wanted ice cream"
)


def espeak(text: str, voice: str, speed: int) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        audio, rate = sf.read(path, dtype="float32")
    return audio, rate


def noise(kind: str, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "pink":  # 1/f: white noise shaped in the frequency domain
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n)
        spectrum[1:] /= np.sqrt(freqs[1:])
        return np.fft.irfft(spectrum, n).astype(np.float32)
    # babble: three other voices talking at once, from random points of a long sentence
    out = np.zeros(n, dtype=np.float32)
    for voice in ("en-us+m2", "en-gb+f4", "en-us+f1"):
        talk, talk_rate = espeak(BABBLE_TEXT, voice, 170)
        talk = librosa.resample(talk, orig_sr=talk_rate, target_sr=rate)
        start = int(rng.integers(0, max(1, len(talk) - n)))
        piece = np.resize(talk[start:], n)
        out += piece
    return out


def make_clip(text: str, index: int, split: str, rng: np.random.Generator) -> tuple:
    voices = VOICES[split]
    voice = voices[index % len(voices)]
    speed = SPEEDS[index % len(SPEEDS)]
    kind, snr = NOISES[index % len(NOISES)]
    rate = RATES[index % len(RATES)]
    channels = 2 if index % 2 else 1
    speech, speech_rate = espeak(text, voice, speed)
    speech = librosa.resample(speech, orig_sr=speech_rate, target_sr=rate)
    speech = speech / max(1e-6, float(np.abs(speech).max())) * 0.5
    pad = np.zeros(int(0.4 * rate), dtype=np.float32)
    clip = np.concatenate([pad, speech, pad]).astype(np.float32)
    if kind is not None:
        hum = noise(kind, len(clip), rate, rng)
        speech_power = float(np.mean(speech**2))
        hum *= np.sqrt(speech_power / (10 ** (snr / 10)) / max(1e-12, float(np.mean(hum**2))))
        clip = clip + hum
    clip = clip / max(1.0, float(np.abs(clip).max()) / 0.95)
    if channels == 2:
        late = int(0.0004 * rate)
        right = np.concatenate([np.zeros(late, np.float32), clip[: len(clip) - late]]) * 0.8
        clip = np.stack([clip, right], axis=1)
    conditions = {
        "voice": voice,
        "speed": speed,
        "noise": kind,
        "snr_db": snr,
        "rate": rate,
        "channels": channels,
    }
    return clip, rate, conditions


def main(out_dir: str, sayings_path: str | Path = HERE / "sayings.json") -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sayings = json.loads(Path(sayings_path).read_text(encoding="utf-8"))
    rng = np.random.default_rng(16)
    items: list[tuple[str, str | None, dict, int]] = []
    for intent, says in sayings["commands"].items():
        for index, saying in enumerate(says):
            text = saying if isinstance(saying, str) else saying["text"]
            slots = {} if isinstance(saying, str) else saying.get("slots", {})
            items.append((text, intent, slots, index))
    items += [(text, None, {}, index) for index, text in enumerate(sayings["dictation"])]
    manifests: dict[str, list[str]] = {"tune": [], "held-out": []}
    counters = {"tune": 0, "held-out": 0}
    for text, intent, slots, index in items:
        split = "held-out" if index % 2 else "tune"
        n = counters[split]
        counters[split] += 1
        clip, rate, conditions = make_clip(text, n, split, rng)
        name = f"{split}-{n:03d}.wav"
        sf.write(out / name, clip, rate, subtype="PCM_16")
        entry = {
            "file": name,
            "text": text,
            "kind": "command" if intent else "dictation",
            "intent": intent,
            "slots": slots,
            "seconds": round(len(clip) / rate, 3),
            **conditions,
        }
        manifests[split].append(json.dumps(entry))
    for split, lines in manifests.items():
        (out / f"manifest-{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{sum(counters.values())} clips in {out}: {counters}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(sys.argv[1:] or ["paraphrase-audio"])))
