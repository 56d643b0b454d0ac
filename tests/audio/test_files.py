"""Decoding audio files to 16 kHz mono float32, whatever they are named."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile

from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import SAMPLE_RATE, decode_file, sniff_format
from desktop_assistant.core.errors import UserError
from tests.fakes_audio import SPEECH_DEV

CLIP = SPEECH_DEV / "cmd01_new_chat.wav"


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    samples, rate = soundfile.read(CLIP, dtype="float32")
    assert rate == SAMPLE_RATE
    return samples


def _write(path, samples, rate, **kwargs):
    soundfile.write(path, samples, rate, **kwargs)
    return path


def _close_to(decoded, reference, tolerance=0.05):
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert abs(len(decoded) - len(reference)) <= SAMPLE_RATE // 20
    n = min(len(decoded), len(reference))
    rms = np.sqrt(np.mean(reference[:n] ** 2))
    assert np.sqrt(np.mean((decoded[:n] - reference[:n]) ** 2)) < tolerance + 0.5 * rms


def test_wav_16k_mono_is_unchanged(reference):
    np.testing.assert_array_equal(decode_file(CLIP), reference)


def test_stereo_48k_is_mixed_and_resampled(tmp_path, reference):
    import soxr

    up = soxr.resample(reference, SAMPLE_RATE, 48_000)
    path = _write(tmp_path / "stereo.wav", np.stack([up, up], axis=1), 48_000, subtype="PCM_24")
    decoded = decode_file(path)
    assert abs(len(decoded) - len(reference)) <= 2
    error = decoded[100:-100] - reference[100:-100]
    assert np.sqrt(np.mean(error**2)) < 0.02 * np.sqrt(np.mean(reference**2))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("clip.flac", {"format": "FLAC"}),
        ("clip.ogg", {"format": "OGG", "subtype": "VORBIS"}),
        ("clip.opus", {"format": "OGG", "subtype": "OPUS"}),
        ("clip.mp3", {"format": "MP3"}),
    ],
)
def test_compressed_formats(tmp_path, reference, name, kwargs):
    rate = 48_000 if kwargs.get("subtype") == "OPUS" else SAMPLE_RATE
    import soxr

    samples = soxr.resample(reference, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else reference
    _close_to(decode_file(_write(tmp_path / name, samples, rate, **kwargs)), reference)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_sox_made_flac_and_ogg(tmp_path, reference):
    for name in ("sox.flac", "sox.ogg"):
        subprocess.run(["sox", str(CLIP), str(tmp_path / name)], check=True)
        _close_to(decode_file(tmp_path / name), reference)


def test_mp3_named_wav_is_read_by_content(tmp_path, reference):
    path = _write(tmp_path / "really-an-mp3.wav", reference, SAMPLE_RATE, format="MP3")
    assert sniff_format(path.read_bytes()[:16]) == "MP3"
    _close_to(decode_file(path), reference)


def test_m4a_where_a_decoder_can(tmp_path, reference):
    av = pytest.importorskip("av", reason="M4A needs PyAV (or ffmpeg through audioread)")
    path = tmp_path / "clip.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(reference[None, :], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    decoded = decode_file(path)
    assert abs(len(decoded) / SAMPLE_RATE - len(reference) / SAMPLE_RATE) < 0.2


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("empty.wav", b"", "is empty"),
        ("notes.wav", b"this is a text file, not audio\n" * 20, "not an audio file"),
        ("bad.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 8, "could not be decoded"),
        ("bad.flac", b"fLaC" + bytes(range(256)) * 4, "could not be decoded"),
        ("bad.wav", b"fLaC" + bytes(range(256)) * 4, "named .wav but holds FLAC"),
    ],
)
def test_unreadable_files(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError, match=fragment) as caught:
        decode_file(path)
    assert isinstance(caught.value, UserError)
    assert "Readable here" in str(caught.value) or "empty" in str(caught.value)


def test_mislabelled_and_damaged(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_bytes(b"fLaC" + b"\x00" * 200)
    with pytest.raises(AudioError, match="named .mp3 but holds FLAC data"):
        decode_file(path)


def test_truncated_wav_keeps_what_is_there(tmp_path, reference):
    data = CLIP.read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    decoded = decode_file(path)  # libsndfile reads the samples that are there
    assert 0 < len(decoded) <= len(reference) // 2 + 1


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        decode_file(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is a folder"):
        decode_file(tmp_path)


def test_wav_with_no_samples(tmp_path):
    path = _write(tmp_path / "empty.wav", np.zeros(0, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="no audio"):
        decode_file(path)


def test_blocks_resampled_as_they_come_match_the_whole_file_resampled(tmp_path):
    """A 25 s 44.1 kHz stereo file read in 10 s blocks through soxr's stream: the same as
    resampling it whole (nothing lost or doubled at the block edges)."""
    import soxr

    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((44_100 * 25, 2))).astype(np.float32)
    path = _write(tmp_path / "long.wav", stereo, 44_100, subtype="FLOAT")
    whole = soxr.resample(stereo.mean(axis=1), 44_100, SAMPLE_RATE, quality="HQ")
    decoded = decode_file(path)
    assert len(decoded) == len(whole)
    assert np.max(np.abs(decoded - whole)) < 1e-4


def test_a_file_longer_than_the_cap_is_refused_from_its_header(tmp_path, reference, monkeypatch):
    from desktop_assistant.audio import files

    path = _write(tmp_path / "talk.wav", np.tile(reference, 20), SAMPLE_RATE)  # > 30 s
    read = []
    monkeypatch.setattr(files, "_collect", lambda *a: read.append(a) or np.zeros(1, np.float32))
    with pytest.raises(
        AudioError, match=r"talk\.wav is 0 min \d+ s long; files of up to 0 min 10 s"
    ):
        decode_file(path, max_s=10)
    assert read == []  # refused before a sample was read


def test_a_file_whose_header_hides_its_length_stops_at_the_cap(tmp_path, reference):
    """An MP3 or stream with no length in its header is read only up to the cap."""
    from desktop_assistant.audio.files import _collect

    blocks = ((reference, float(SAMPLE_RATE)) for _ in range(1000))  # endless, in effect
    with pytest.raises(AudioError, match="too long"):
        _collect(CLIP, blocks, lambda: False, max_s=5)


def test_reading_can_be_stopped_between_blocks(tmp_path, reference):
    from desktop_assistant.audio.errors import AudioCancelled

    path = _write(tmp_path / "talk.wav", np.tile(reference, 20), SAMPLE_RATE)
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(AudioCancelled):
        decode_file(path, stop=stop)
    assert len(asked) == 3


def test_the_default_cap_is_two_hours_and_says_so_in_hours(tmp_path):
    from desktop_assistant.audio.files import MAX_FILE_S, _too_long

    assert MAX_FILE_S == 2 * 3600
    message = _too_long(tmp_path / "podcast.mp3", 3 * 3600 + 65, MAX_FILE_S)
    assert message.startswith("podcast.mp3 is 3 h 01 min long; files of up to 2 h 00 min")


@pytest.mark.timeout(20)
def test_a_device_or_a_pipe_is_not_read(tmp_path):
    import os
    from pathlib import Path

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    for source in (Path("/dev/zero"), fifo):
        with pytest.raises(AudioError, match="device or a pipe"):
            decode_file(source)
