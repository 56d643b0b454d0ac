"""Decoding an audio file to what the speech model hears: 16 kHz mono float32.

The format is found from the file's content, not its name (an MP3 named .wav works).
Decoders, in order: libsndfile through `soundfile` (WAV, FLAC, OGG Vorbis and Opus, MP3 and
most other uncompressed formats), then PyAV when it is installed (M4A/AAC, WebM, ...), then
`audioread` (the system's ffmpeg, where there is one). Resampling is soxr's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from desktop_assistant.audio.errors import AudioError

log = logging.getLogger(__name__)
SAMPLE_RATE = 16_000  # what Whisper and silero-vad take
READABLE = "WAV, FLAC, OGG (Vorbis or Opus) and MP3"

# The first bytes of a file and the format they announce (for messages only).
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, "WAV"),
    (b"RIFX", 0, "WAV"),
    (b"RF64", 0, "WAV"),
    (b"BW64", 0, "WAV"),
    (b"riff", 0, "W64"),
    (b".snd", 0, "AU"),
    (b"caff", 0, "CAF"),
    (b"NIST", 0, "NIST"),
    (b"Creative Voice", 0, "VOC"),
    (b"fLaC", 0, "FLAC"),
    (b"OggS", 0, "OGG"),
    (b"ID3", 0, "MP3"),
    (b"ftyp", 4, "MP4/M4A"),
    (b"\x1a\x45\xdf\xa3", 0, "WebM/Matroska"),
    (b"FORM", 0, "AIFF"),
    (b"#!AMR", 0, "AMR"),
)


def sniff_format(head: bytes) -> str | None:
    """The audio format the first bytes of a file announce, or None."""
    for magic, offset, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MP3"  # an MPEG audio frame header
    return None


def to_mono(samples: np.ndarray) -> np.ndarray:
    """frames x channels (or frames) -> frames, float32, channels averaged."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return np.ascontiguousarray(samples, dtype=np.float32)


def resample(samples: np.ndarray, rate: float, target: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 at `rate` -> mono float32 at `target` (soxr, high quality)."""
    if int(rate) == target or samples.size == 0:
        return np.asarray(samples, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(samples, rate, target, quality="HQ"), dtype=np.float32)


def decode_file(path: str | Path) -> np.ndarray:
    """The file's audio as 16 kHz mono float32 in [-1, 1]; `AudioError` when it can't be read."""
    path = Path(path).expanduser()
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as err:
        raise AudioError(f"cannot read {path}: {err.strerror or err}") from err
    if not head:
        raise AudioError(f"{path.name} is empty (0 bytes); record or export it again")
    found = sniff_format(head)
    errors: list[str] = []
    # libsndfile is only given content it announces: on anything else its MP3 decoder
    # prints "Illegal Audio-MPEG-Header" notes on stderr.
    decoders = (_with_soundfile, _with_pyav, _with_audioread)[0 if found else 1 :]
    for decoder in decoders:
        try:
            decoded = decoder(path)
        except Exception as err:  # each library fails in its own way
            errors.append(f"{decoder.__name__[6:]}: {err}")
            continue
        if decoded is None:
            continue
        samples, rate = decoded
        mono = to_mono(samples)
        if mono.size == 0:
            raise AudioError(f"{path.name} contains no audio (0 samples)")
        if not np.isfinite(mono).all():
            raise AudioError(f"{path.name} is damaged: it decodes to invalid samples")
        return resample(mono, rate)
    log.info("could not decode %s: %s", path, "; ".join(errors))
    raise AudioError(_unreadable_message(path, found))


def _unreadable_message(path: Path, found: str | None) -> str:
    named = path.suffix.lstrip(".").upper()
    if found is None:
        what = f"{path.name} is not an audio file this app can read, or it is damaged"
    elif named and named not in found and not (named in ("OGA", "OPUS") and found == "OGG"):
        what = f"{path.name} is named .{named.lower()} but holds {found} data that can't be read"
    else:
        what = f"{path.name} ({found}) could not be decoded: it may be damaged or truncated"
    extra = "" if _have_pyav() else "; M4A/AAC needs PyAV (pip install av) or ffmpeg"
    return f"{what}. Readable here: {READABLE}{extra}"


def _with_soundfile(path: Path) -> tuple[np.ndarray, float]:
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return samples, float(rate)


def _have_pyav() -> bool:
    import importlib.util

    return importlib.util.find_spec("av") is not None


def _with_pyav(path: Path) -> tuple[np.ndarray, float] | None:
    if not _have_pyav():
        return None
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        resampler: Any = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return samples, float(SAMPLE_RATE)


def _with_audioread(path: Path) -> tuple[np.ndarray, float] | None:
    """The system's ffmpeg, through audioread (librosa's fallback), when there is one."""
    import shutil
    import warnings

    if not shutil.which("ffmpeg"):
        return None  # its other readers add nothing to libsndfile's
    with warnings.catch_warnings():  # audioread imports modules Python 3.13 removes
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioread
        from audioread.ffdec import FFmpegAudioFile

    backends = [FFmpegAudioFile]
    with audioread.audio_open(str(path), backends=backends) as f:
        rate, channels = f.samplerate, f.channels
        pcm = b"".join(f)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return samples.reshape(-1, channels), float(rate)
