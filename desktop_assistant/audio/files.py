"""Decoding an audio file to what the speech model hears: 16 kHz mono float32.

The format is found from the file's content, not its name (an MP3 named .wav works).
Decoders, in order: libsndfile through `soundfile` (WAV, FLAC, OGG Vorbis and Opus, MP3 and
most other uncompressed formats), then PyAV when it is installed (M4A/AAC, WebM, ...), then
`audioread` (the system's ffmpeg, where there is one). Resampling is soxr's.

Files are read in blocks (`BLOCK_S`), each made mono and resampled as it comes (soxr's
streaming resampler), so memory holds only the 16 kHz result (230 MB an hour), never the file's
own samples (a 48 kHz stereo hour is 1.4 GB as float32). A file longer than `MAX_FILE_S` is
refused from its header before it is read, or as soon as its audio passes that length when the
header does not say; `stop` is asked between blocks (Esc in the window).
"""

from __future__ import annotations

import io
import logging
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from desktop_assistant.audio.errors import AudioCancelled, AudioError

log = logging.getLogger(__name__)
SAMPLE_RATE = 16_000  # what Whisper and silero-vad take
MAX_FILE_S = 2 * 3600  # longest file transcribed at once (the microphone stops at 600 s)
BLOCK_S = 10  # seconds read at a time
Stop = Callable[[], bool]
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


def decode_file(
    path: str | Path, stop: Stop | None = None, max_s: float | None = None
) -> np.ndarray:
    """The file's audio as 16 kHz mono float32 in [-1, 1]; `AudioError` when it can't be read
    or is longer than `max_s` (default `MAX_FILE_S`), `AudioCancelled` when `stop()` turned
    true while reading."""
    max_s = MAX_FILE_S if max_s is None else max_s
    path = Path(path).expanduser()
    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"{path} is a folder, not an audio file")
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # /dev/zero never ends, a pipe may not start
            raise AudioError(f"{path.name} is not a file but a device or a pipe")
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
    decoders = (_with_soundfile, _with_riff_mp3, _with_pyav, _with_audioread)[0 if found else 2 :]
    for decoder in decoders:
        try:
            opened = decoder(path)
            if opened is None:
                continue
            seconds, blocks = opened
            if seconds is not None and seconds > max_s:
                raise AudioError(_too_long(path, seconds, max_s))
            mono = _collect(path, blocks, stop or (lambda: False), max_s)
        except AudioError:
            raise
        except Exception as err:  # each library fails in its own way
            errors.append(f"{decoder.__name__[6:]}: {err}")
            continue
        if mono.size == 0:
            raise AudioError(f"{path.name} contains no audio (0 samples)")
        if not np.isfinite(mono).all():
            raise AudioError(f"{path.name} is damaged: it decodes to invalid samples")
        return mono
    log.info("could not decode %s: %s", path, "; ".join(errors))
    raise AudioError(_unreadable_message(path, found))


Blocks = Iterable[tuple[np.ndarray, float]]  # (frames x channels or frames, sample rate)


def _collect(path: Path, blocks: Blocks, stop: Stop, max_s: float) -> np.ndarray:
    """Blocks -> one 16 kHz mono array, resampled as they come; stops at `max_s`."""
    import soxr

    out: list[np.ndarray] = []
    done = 0
    stream: Any = None
    for samples, rate in blocks:
        if stop():
            raise AudioCancelled(f"reading {path.name} was stopped")
        mono = to_mono(samples)
        if stream is None and int(rate) != SAMPLE_RATE:
            stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        if stream is not None:
            mono = stream.resample_chunk(mono, last=False)
        out.append(np.asarray(mono, dtype=np.float32))
        done += len(out[-1])
        if done > max_s * SAMPLE_RATE:
            raise AudioError(_too_long(path, None, max_s))
    if stream is not None:
        out.append(np.asarray(stream.resample_chunk(np.zeros(0, np.float32), last=True)))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _too_long(path: Path, seconds: float | None, max_s: float) -> str:
    length = f" is {_clock(seconds)} long;" if seconds is not None else " is too long:"
    return (
        f"{path.name}{length} files of up to {_clock(max_s)} are transcribed at once. "
        "Cut it into parts (for example with Audacity) and drop them one by one"
    )


def _clock(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {int(seconds % 60)} s"


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


Opened = tuple[float | None, Iterator[tuple[np.ndarray, float]]]  # seconds (if known), blocks


def _with_soundfile(path: Path) -> Opened:
    import soundfile

    return _sound_blocks(soundfile.SoundFile(str(path)))


def _sound_blocks(sound: Any) -> Opened:
    """An open `soundfile.SoundFile`: its length and its blocks (closed when read out)."""
    rate = float(sound.samplerate)

    def blocks() -> Iterator[tuple[np.ndarray, float]]:
        with sound:
            size = int(rate * BLOCK_S)
            for block in sound.blocks(blocksize=size, dtype="float32", always_2d=True):
                yield block, rate

    return (sound.frames / rate if sound.frames > 0 else None), blocks()


def _with_riff_mp3(path: Path) -> Opened | None:
    """A WAV whose data is MP3 (format tag 0x55, what some voice recorders write): libsndfile
    refuses the container but decodes the MP3 frames inside it."""
    import soundfile

    data = path.read_bytes() if path.stat().st_size <= 64 << 20 else b""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    at, tag, payload = 12, -1, b""
    while at + 8 <= len(data):
        kind, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        body = data[at + 8 : at + 8 + size]
        if kind == b"fmt " and len(body) >= 2:
            tag = int.from_bytes(body[:2], "little")
        elif kind == b"data":
            payload = body
        at += 8 + size + (size & 1)
    if tag != 0x55 or not payload:
        return None
    return _sound_blocks(soundfile.SoundFile(io.BytesIO(payload)))


def _have_pyav() -> bool:
    import importlib.util

    return importlib.util.find_spec("av") is not None


def _with_pyav(path: Path) -> Opened | None:
    if not _have_pyav():
        return None
    import av

    container = av.open(str(path))
    if not container.streams.audio:
        container.close()
        raise ValueError("no audio stream")
    seconds = container.duration / 1_000_000 if container.duration else None

    def blocks() -> Iterator[tuple[np.ndarray, float]]:
        with container:
            stream = container.streams.audio[0]
            resampler: Any = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1), float(SAMPLE_RATE)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1), float(SAMPLE_RATE)

    return seconds, blocks()


def _with_audioread(path: Path) -> Opened | None:
    """The system's ffmpeg, through audioread (librosa's fallback), when there is one."""
    import shutil
    import warnings

    if not shutil.which("ffmpeg"):
        return None  # its other readers add nothing to libsndfile's
    with warnings.catch_warnings():  # audioread imports modules Python 3.13 removes
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioread
        from audioread.ffdec import FFmpegAudioFile

    f = audioread.audio_open(str(path), backends=[FFmpegAudioFile])
    rate, channels = float(f.samplerate), f.channels

    def blocks() -> Iterator[tuple[np.ndarray, float]]:
        with f:
            for pcm in f:
                samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
                yield samples.reshape(-1, channels), rate

    return (f.duration or None), blocks()
