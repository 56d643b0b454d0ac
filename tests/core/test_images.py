"""Opening attached pictures: every kind and colour mode, and every refusal.

Every picture is made here with Pillow (pillow-heif for HEIF), so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from desktop_assistant.core import images
from desktop_assistant.core.errors import UserError
from desktop_assistant.core.images import MAX_SIDE, ImageError, check_image, open_image

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def red_blue(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """Left half red, right half blue: shows orientation and colour at once."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[0] // 2, size[1]))
    return im


def close(actual, expected, tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR (with a correct CRC) says width x height: no big pixels."""
    data = encode(Image.new("RGB", (1, 1)), "PNG")
    ihdr = bytearray(data[16:29])  # signature (8), length (4), "IHDR" (4), then 13 bytes
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return data[:16] + bytes(ihdr) + crc + data[33:]


KINDS = [
    ("PNG", "PNG", "image/png", {}),
    ("JPEG", "JPEG", "image/jpeg", {"quality": 95}),
    ("WEBP", "WEBP", "image/webp", {"quality": 95}),
    ("AVIF", "AVIF", "image/avif", {"quality": 95}),
    ("GIF", "GIF", "image/gif", {}),
    ("BMP", "BMP", "image/bmp", {}),
    ("TIFF", "TIFF", "image/tiff", {}),
    ("HEIF", "HEIF", "image/heic", {"quality": 95}),
]


@pytest.mark.parametrize(("fmt", "found", "mime", "options"), KINDS, ids=[k[0] for k in KINDS])
def test_every_kind_opens_from_its_content(tmp_path, fmt, found, mime, options):
    data = encode(red_blue(), fmt, **options)
    path = write(tmp_path, "picture.bin", data)  # the name says nothing about the kind

    image = open_image(path)
    assert (image.mode, image.size) == ("RGB", (64, 48))
    assert close(image.getpixel((8, 24)), RED, 40), image.getpixel((8, 24))
    assert close(image.getpixel((56, 24)), BLUE, 40), image.getpixel((56, 24))

    checked = check_image(path)
    assert (checked.format, checked.mime) == (found, mime)
    assert (checked.width, checked.height, checked.frames) == (64, 48, 1)
    assert checked.byte_count == len(data)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert checked.path == path


@pytest.mark.parametrize(("name", "fmt"), [("photo.jpg", "PNG"), ("photo.png", "JPEG")])
def test_misleading_name_is_ignored(tmp_path, name, fmt):
    path = write(tmp_path, name, encode(red_blue(), fmt))
    assert check_image(path).format == fmt
    assert close(open_image(path).getpixel((8, 24)), RED)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied(tmp_path, fmt):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to show
    path = write(tmp_path, "sideways", encode(red_blue((40, 20)), fmt, exif=exif.tobytes()))

    image = open_image(path)
    assert image.size == (20, 40)
    assert close(image.getpixel((10, 5)), RED, 40)  # the left half is now on top
    assert close(image.getpixel((10, 35)), BLUE, 40)
    checked = check_image(path)
    assert (checked.width, checked.height) == (20, 40)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = write(
        tmp_path, "print.jpg", encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG")
    )
    assert Image.open(path).mode == "CMYK"
    image = open_image(path)
    assert image.mode == "RGB"
    assert close(image.getpixel((16, 16)), RED)


def sixteen_bit_grey(mode: str) -> Image.Image:
    """Three bands of 10 x 10: 65535, 32768, 0 (built from bytes: paste() mangles I;16 ink)."""
    row = struct.pack("<30H", *([65535] * 10 + [32768] * 10 + [0] * 10))
    im = Image.frombytes("I;16", (30, 10), row * 10)
    return im if mode == "I;16" else im.convert(mode)


@pytest.mark.parametrize(
    ("mode", "fmt"), [("I;16", "PNG"), ("I;16", "TIFF"), ("I", "TIFF")], ids=str
)
def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path, mode, fmt):
    path = write(tmp_path, "scan", encode(sixteen_bit_grey(mode), fmt))
    assert Image.open(path).mode == mode
    image = open_image(path)
    assert image.getpixel((5, 5)) == WHITE  # 65535: bright
    assert image.getpixel((15, 5)) == (128, 128, 128)  # half, not clipped to 255
    assert image.getpixel((25, 5)) == BLACK


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_is_laid_on_white(tmp_path, fmt):
    im = Image.new("P", (20, 10), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)  # 0: red, 1: green
    im.paste(1, (10, 0, 20, 10))
    path = write(tmp_path, "icon", encode(im, fmt, transparency=1))
    assert Image.open(path).mode == "P"

    image = open_image(path)
    assert image.getpixel((5, 5)) == RED
    assert image.getpixel((15, 5)) == WHITE  # green, but transparent: what shows is white


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGBA", (255, 0, 0, 128), (255, 127, 127)),  # half-transparent red: pink
        ("RGBA", (0, 0, 255, 0), WHITE),  # fully transparent: the colour must not leak
        ("LA", (0, 128), (127, 127, 127)),  # half-transparent black: grey
    ],
)
def test_alpha_is_laid_on_white(tmp_path, mode, colour, expected):
    path = write(tmp_path, "overlay.png", encode(Image.new(mode, (16, 16), colour), "PNG"))
    image = open_image(path)
    assert image.mode == "RGB"
    assert close(image.getpixel((8, 8)), expected, 1), image.getpixel((8, 8))


def test_alpha_edges_do_not_pick_up_hidden_colour_when_shrunk(tmp_path):
    im = Image.new("RGBA", (400, 400), (0, 255, 0, 0))  # invisible green
    im.paste((255, 0, 0, 255), (0, 0, 200, 400))
    image = open_image(write(tmp_path, "half.png", encode(im, "PNG")), max_side=40)
    assert image.size == (40, 40)
    for x in range(40):
        r, g, b = image.getpixel((x, 20))
        assert g <= b + 2, (x, (r, g, b))  # only red and white mix: no green fringe


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_one_bit(tmp_path, fmt):
    im = Image.new("1", (16, 8), 0)
    im.paste(1, (8, 0, 16, 8))
    path = write(tmp_path, "fax", encode(im, fmt))
    assert Image.open(path).mode == "1"
    image = open_image(path)
    assert image.getpixel((2, 4)) == BLACK
    assert image.getpixel((12, 4)) == WHITE


@pytest.mark.parametrize(
    "mode",
    ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV"]
    + ["I;16", "I;16B", "I", "F"],
)
def test_every_mode_becomes_rgb(mode):
    """Modes no writer above produces (PA, La, RGBa, ...) go through the same two steps."""
    image = images._flatten(images._plain_mode(Image.new(mode, (4, 4))))
    assert image.mode == "RGB"
    assert image.size == (4, 4)
    alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa")  # all zeros: fully transparent
    expected = WHITE if alpha else BLACK
    if mode == "CMYK":  # no ink: paper white
        expected = WHITE
    if mode == "YCbCr":  # Y=0, Cb=Cr=0 is a dark green in RGB, not black
        expected = Image.new("YCbCr", (1, 1)).convert("RGB").getpixel((0, 0))
    assert image.getpixel((1, 1)) == expected


@pytest.mark.parametrize(("fmt", "options"), [("GIF", {}), ("WEBP", {"lossless": True})])
@pytest.mark.parametrize("as_png", [False, True], ids=["", "APNG"])
def test_animation_gives_its_first_frame(tmp_path, fmt, options, as_png):
    fmt = "PNG" if as_png else fmt
    frames = [Image.new("RGB", (12, 12), c) for c in (RED, (0, 255, 0), BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **options)
    path = write(tmp_path, "anim", data)
    assert close(open_image(path).getpixel((6, 6)), RED)
    assert check_image(path).frames == 3


# ---- refusals ---------------------------------------------------------------------------


def refused(source, match: str, **kwargs) -> ImageError:
    with pytest.raises(ImageError, match=match) as caught:
        open_image(source, **kwargs)
    with pytest.raises(ImageError, match=match):
        check_image(source, **kwargs)
    assert isinstance(caught.value, UserError)  # shown to the user, not reported as a bug
    return caught.value


def test_text_file_named_png(tmp_path):
    path = write(tmp_path, "notes.png", b"shopping list: eggs, milk\n" * 20)
    error = refused(path, "not a picture")
    assert "notes.png" in str(error) and "PNG or JPEG" in str(error)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "HEIF"])
def test_truncated_file(tmp_path, fmt):
    noisy = Image.effect_noise((256, 256), 64).convert("RGB")  # so the data does not compress
    data = encode(noisy, fmt)
    path = write(tmp_path, f"cut.{fmt.lower()}", data[: len(data) * 2 // 3])
    error = refused(path, "damaged or incomplete")
    assert f"cut.{fmt.lower()}" in str(error)


def test_zero_bytes(tmp_path):
    refused(write(tmp_path, "empty.jpg", b""), r"empty\.jpg is empty")
    refused(b"", "pasted image is empty")


def test_missing_file(tmp_path):
    error = refused(tmp_path / "gone.png", "gone.png is gone")
    assert "moved or deleted" in str(error)


def test_folder(tmp_path):
    (tmp_path / "Holiday").mkdir()
    refused(tmp_path / "Holiday", "Holiday is a folder")


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (PermissionError(13, "Permission denied"), "secret.png cannot be read: you have no"),
        (FileNotFoundError(2, "No such file"), "secret.png is gone"),  # deleted after stat()
        (OSError(5, "Input/output error"), r"secret.png cannot be read \(Input/output error\)"),
    ],
)
def test_unreadable_file(tmp_path, monkeypatch, error, match):
    """Faked, because the tests may run as root, who can read anything."""
    path = write(tmp_path, "secret.png", encode(red_blue(), "PNG"))

    def fail(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(Path, "open", fail)
    refused(path, match)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "size",
    [(30000, 30000), (10000, 10000), (9000, 8000)],
    ids=["pillow-error", "pillow-warning", "our-cap"],
)
def test_decompression_bomb_is_refused_from_the_header(tmp_path, size):
    path = write(tmp_path, "bomb.png", png_claiming(*size))
    assert path.stat().st_size < 100
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refused(path, "too large")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 5 << 20  # nothing near width x height was allocated
    assert "bomb.png" in str(error) and "megapixels" in str(error)


def test_bytes_are_named_in_messages():
    refused(b"GIF89a but not really", "clipboard.gif is", name="clipboard.gif")


# ---- downscaling ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize(
    ("size", "fitted"), [((4000, 3000), (2048, 1536)), ((3000, 4000), (1536, 2048))]
)
def test_big_picture_is_shrunk_to_the_cap(tmp_path, fmt, size, fitted):
    path = write(
        tmp_path,
        "big",
        encode(red_blue(size), fmt, compress_level=1)
        if fmt == "PNG"
        else encode(red_blue(size), fmt),
    )
    image = open_image(path)
    assert MAX_SIDE == 2048
    assert image.size == fitted
    w, h = fitted
    assert close(image.getpixel((w // 4, h // 2)), RED)
    assert close(image.getpixel((3 * w // 4, h // 2)), BLUE)
    checked = check_image(path)
    assert (checked.width, checked.height) == size  # the full size, not the decoded one


def test_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    path = write(tmp_path, "big.jpg", encode(red_blue((4000, 3000)), "JPEG"))
    decoded: list[tuple[int, int]] = []
    real = images._plain_mode
    monkeypatch.setattr(images, "_plain_mode", lambda im: decoded.append(im.size) or real(im))
    assert open_image(path, max_side=900).size == (900, 675)
    assert decoded == [(1000, 750)]  # 1/4 scale: the smallest not below 900 x 675


def test_sideways_big_jpeg(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = write(tmp_path, "phone.jpg", encode(red_blue((4000, 3000)), "JPEG", exif=exif.tobytes()))
    image = open_image(path)
    assert image.size == (1536, 2048)
    assert close(image.getpixel((768, 100)), RED)


def test_small_picture_is_not_enlarged(tmp_path):
    path = write(tmp_path, "tiny.png", encode(red_blue((30, 10)), "PNG"))
    assert open_image(path, max_side=512).size == (30, 10)


def test_bytes_source():
    image = open_image(encode(red_blue((400, 100)), "PNG"), max_side=100)
    assert image.size == (100, 25)
    assert check_image(encode(red_blue(), "PNG")).path is None


# ---- threads and imports ----------------------------------------------------------------


def test_many_threads_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_formats", ())  # registration happens under the race
    kinds = ["PNG", "JPEG", "WEBP", "HEIF", "GIF", "TIFF", "AVIF", "BMP"]
    paths = [
        write(tmp_path, f"{i}", encode(red_blue((200 + i, 100)), k)) for i, k in enumerate(kinds)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        opened = list(pool.map(lambda p: open_image(p, max_side=100), paths * 3))
    for i, image in enumerate(opened):
        assert image.size == (100, round(100 * 100 / (200 + i % len(kinds))))
        assert close(image.getpixel((20, 25)), RED, 40)


def test_importing_is_cheap():
    code = (
        "import sys, desktop_assistant.core.images; "
        "print(sorted(m for m in ('PIL', 'pillow_heif', 'torch', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("mode", "low", "high"), [("F", 0.0, 1.0), ("I", -5, 1_000_000)], ids=["float", "32-bit"]
)
def test_wide_range_grey_is_stretched(tmp_path, mode, low, high):
    im = Image.new(mode, (20, 10), low)
    im.paste(high, (10, 0, 20, 10))
    path = write(tmp_path, "depth.tif", encode(im, "TIFF"))
    assert Image.open(path).mode == mode
    image = open_image(path)
    assert (image.getpixel((5, 5)), image.getpixel((15, 5))) == (BLACK, WHITE)


@pytest.mark.timeout(20)
def test_a_device_or_a_pipe_is_refused_without_reading_it(tmp_path):
    """Issue 18, 16: `ask --image /dev/zero` read without end; a FIFO blocked."""
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for source in (Path("/dev/zero"), fifo):
        started = time.monotonic()
        with pytest.raises(ImageError, match="not a file but a device or a pipe"):
            check_image(source)
        assert time.monotonic() - started < 2
