"""Make the catalogue of bad and odd inputs in tests/data/bad/ (issue 18, the whole surface).

    python tests/data/make_bad_inputs.py      # rewrites tests/data/bad/ and its catalogue.json

Small files only (the biggest, 24-bit 96 kHz stereo audio, is 58 kB): pictures, audio, prompts,
model folders and history files a user could bring, each with what the app must do with it:
"read" (it is odd but fine) or "refuse" (a clear message). Everything is made from code, with no
network; the same bytes every time except the Opus file (libopus's encoder output varies from
run to run). tests/test_bad_inputs_cli.py puts each through the command line,
tests/ui/test_bad_inputs_window.py through the window.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "bad"
RATE = 16_000


def _tone(seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _png(width: int = 8, height: int = 6) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 30)).save(out, "PNG")
    return out.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header says width x height (a decompression bomb's header)."""
    data = bytearray(_png(1, 1))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


def _image(fmt: str, **kwargs: Any) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(out, fmt, **kwargs)
    return out.getvalue()


def _gif_frames(frames: int) -> bytes:
    from PIL import Image

    images = [Image.new("P", (8, 8), i % 255) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=20)
    return out.getvalue()


def _sound(
    fmt: str,
    subtype: str | None = None,
    rate: int = RATE,
    channels: int = 1,
    seconds: float = 0.5,
    samples: np.ndarray | None = None,
) -> bytes:
    import soundfile

    data = _tone(seconds, rate) if samples is None else samples
    if channels > 1:
        data = np.stack([data] * channels, axis=1)
    out = io.BytesIO()
    soundfile.write(out, data, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def _riff(
    fmt_tag: int, channels: int, rate: int, bits: int, payload: bytes, extra: bytes = b""
) -> bytes:
    block = max(1, channels * bits // 8)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits) + extra
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _wav_float(samples: np.ndarray) -> bytes:
    return _riff(3, 1, RATE, 32, samples.astype("<f4").tobytes())


def _wav16(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return out.getvalue()


def pictures() -> dict[str, tuple[bytes, str]]:
    png = _png()
    jpeg = _image("JPEG")
    return {
        "truncated.png": (png[: len(png) // 2], "refuse"),
        "empty.png": (b"", "refuse"),
        "text-named.png": (b"this is not a picture\n", "refuse"),
        "bomb-30000x30000.png": (_png_claiming(30_000, 30_000), "refuse"),
        "one-by-100000.png": (_png_claiming(1, 100_000), "read"),  # a strip, shown as one
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "refuse"),
        "png-named.jpg": (png, "read"),
        "webp-garbage.webp": (b"RIFF\x20\x00\x00\x00WEBPVP8 " + bytes(24), "refuse"),
        "svg.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'><rect width='9'/></svg>", "refuse"),
        "animated-300-frames.gif": (_gif_frames(300), "read"),
        "cmyk.jpg": (_cmyk_jpeg(), "read"),
        "html-named.png": (b"<html><img src=/dev/zero></html>", "refuse"),
    }


def _cmyk_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("CMYK", (10, 10), (0, 255, 0, 30)).save(out, "JPEG")
    return out.getvalue()


def audio() -> dict[str, tuple[bytes, str]]:
    tone = _tone()
    mp3 = _sound("MP3")  # MPEG-2 layer 3 frames from the first byte (no ID3 tag)
    silence = np.zeros(RATE * 600, np.float32)
    return {
        "mp3-named.wav": (mp3, "read"),
        "mp3-inside-riff.wav": (_riff(0x55, 1, RATE, 0, mp3), "read"),
        "ulaw-8k.wav": (_sound("WAV", "ULAW", rate=8000), "read"),
        "pcm24-96k-stereo.wav": (
            _sound("WAV", "PCM_24", rate=96_000, channels=2, seconds=0.1),
            "read",
        ),
        "silence-10-min.flac": (_sound("FLAC", "PCM_16", samples=silence), "read"),
        "speech.opus": (_sound("OGG", "OPUS", rate=48_000), "read"),
        "zero-samples.wav": (_riff(1, 1, RATE, 16, b""), "refuse"),
        "truncated-header.wav": (_wav16(tone)[:30], "refuse"),
        "text-named.wav": (b"hello, I am not audio\n", "refuse"),
        "nan-samples.wav": (_wav_float(np.full(800, np.nan, np.float32)), "refuse"),
        "unsigned-8bit.wav": (
            _riff(1, 1, RATE, 8, ((tone + 1) * 127).astype("u1").tobytes()),
            "read",
        ),
        "empty.mp3": (b"", "refuse"),
    }


def prompts() -> dict[str, dict[str, Any]]:
    """Each prompt as `text` repeated `times` (prompts.json stays small)."""
    return {
        "long-200000": {"text": "word ", "times": 40_000},
        "whitespace-only": {"text": " \n\t  \n "},
        "nul-and-bidi": {"text": "abc\x00def \u202egnp.exe\u202c \u200b\u200d zero-width"},
        "html-injection": {
            "text": "<img src=/dev/zero><script>alert(1)</script><a href='file:///etc/passwd'>x</a>"
        },
        "markdown-injection": {
            "text": "![x](file:///etc/passwd) [click](javascript:alert(1)) ```\n<b>\n"
        },
        "emoji-only": {"text": "😀🎉🧪👩‍👩‍👧‍👦", "times": 8},
        "one-long-word": {"text": "x", "times": 300},
        "control-chars": {"text": "".join(chr(c) for c in range(1, 32)) + "end"},
    }


def _safetensors(header: dict[str, Any], data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


QWEN_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 8,
    "intermediate_size": 16,
    "num_attention_heads": 2,
    "num_hidden_layers": 1,
    "num_key_value_heads": 1,
    "vocab_size": 32,
}


def model_folders() -> dict[str, dict[str, bytes]]:
    config = json.dumps(QWEN_CONFIG).encode()
    weight = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    return {
        "pickle-only": {"config.json": config, "pytorch_model.bin": b"\x80\x04\x95fake pickle"},
        "auto-map": {
            "config.json": json.dumps(
                {**QWEN_CONFIG, "auto_map": {"AutoModelForCausalLM": "evil.Model"}}
            ).encode(),
            "model.safetensors": _safetensors({"w": weight}, bytes(16)),
            "evil.py": b"raise SystemExit('remote code ran')\n",
        },
        "truncated-safetensors": {
            "config.json": config,
            "model.safetensors": _safetensors({"w": weight}, bytes(16))[:20],
        },
        "header-claims-2-62": {
            "config.json": config,
            "model.safetensors": struct.pack("<Q", 1 << 62) + b"{}",
        },
        "offsets-past-end": {
            "config.json": config,
            "model.safetensors": _safetensors(
                {"w": {**weight, "data_offsets": [0, 1 << 40]}}, bytes(16)
            ),
        },
        "unknown-architecture": {
            "config.json": json.dumps(
                {"model_type": "no-such-model", "architectures": ["Nope"]}
            ).encode(),
            "model.safetensors": _safetensors({"w": weight}, bytes(16)),
        },
        "config-not-json": {"config.json": b"{ not json", "model.safetensors": b""},
        "empty-folder": {},
    }


def model_files() -> dict[str, tuple[bytes, str]]:
    gguf = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)  # a header that ends right after its counts
    return {
        "truncated.gguf": (gguf, "refuse"),
        "not-a-gguf.gguf": (b"PK\x03\x04 a zip file", "refuse"),
    }


def histories() -> dict[str, tuple[bytes, str]]:
    corrupt = b"SQLite format 3\x00" + b"\x07" * 4096
    return {
        "corrupt.sqlite3": (corrupt, "set aside"),
        "newer-version.sqlite3": (_newer_database(), "refuse"),
        "not-sqlite.sqlite3": (b"plain text, not a database\n" * 10, "set aside"),
    }


def _newer_database() -> bytes:
    path = OUT / ".newer.tmp"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    data = path.read_bytes()
    path.unlink()
    return data


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for folder in ("pictures", "audio", "models", "histories"):
        (OUT / folder).mkdir(parents=True)
    catalogue: dict[str, Any] = {"pictures": {}, "audio": {}, "models": {}, "histories": {}}
    files = [
        ("pictures", pictures()),
        ("audio", audio()),
        ("models", model_files()),
        ("histories", histories()),
    ]
    for kind, made in files:
        for name, (data, expect) in made.items():
            (OUT / kind / name).write_bytes(data)
            catalogue[kind][name] = expect
    for name, contents in model_folders().items():
        folder = OUT / "models" / name
        folder.mkdir()
        for file, data in contents.items():
            (folder / file).write_bytes(data)
        catalogue["models"][name] = "refuse"
    (OUT / "prompts.json").write_text(json.dumps(prompts(), ensure_ascii=True, indent=1))
    catalogue["prompts"] = {name: "answer" for name in prompts()}
    catalogue["prompts"]["whitespace-only"] = "ignore"
    catalogue["prompts"]["long-200000"] = "refuse"
    (OUT / "catalogue.json").write_text(json.dumps(catalogue, indent=1, sort_keys=True) + "\n")
    total = sum(len(v) for v in catalogue.values())
    print(f"{total} inputs in {OUT}")


if __name__ == "__main__":
    main()
