"""Opening the pictures a user attaches: checked, upright, RGB and no bigger than needed.

- The kind is read from the content (never the name), from a short list of formats only:
  Pillow has plugins (EPS runs Ghostscript) that have no business here.
- The header's size is checked before any pixel is decoded: a small file claiming 30000 x 30000
  pixels is refused at once instead of filling the memory.
- Big JPEGs decode at 1/2, 1/4 or 1/8 scale (`Image.draft`): a fraction of the time and memory.
- Every colour mode becomes RGB: 16-bit grey scaled (not clipped), transparency laid on white.

Thread-safe (only a once-only plugin registration is shared); imports neither Qt nor torch,
and Pillow only on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import stat
import struct
import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, cast

from desktop_assistant.core.errors import UserError

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFile import ImageFile

MAX_SIDE = 2048  # longest side handed on; vision models tile or shrink to about this anyway
# Decoded pixels allowed. 64 MP, not 50: common "50 MP" phone sensors are 8192 x 6144 = 50.3 MP.
MAX_PIXELS = 1 << 26
MAX_FILE_BYTES = 256 << 20  # a bigger file is not a photo anyone means to ask about
KINDS = "PNG, JPEG, WebP, AVIF, HEIC, GIF, BMP or TIFF"
# Pillow format names we open, and the MIME type of each (MPO: a JPEG with extra frames).
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg"}
MIME_TYPES |= {f: f"image/{f.lower()}" for f in ("WEBP", "AVIF", "HEIF", "GIF", "BMP", "TIFF")}
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_SMALLER = "Save a smaller copy of it and attach that."
_AGAIN = "If it is still downloading or copying, wait and try again; otherwise save it again."
CHECK_SIDE = 256  # check_image decodes to this size: every byte is still read, less is resized
# What Pillow's plugins raise on a damaged file (beyond OSError, which covers truncation).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, struct.error)

_plugins_lock = threading.Lock()
_formats: tuple[str, ...] = ()  # set once HEIF is registered


class ImageError(UserError):
    """A picture that cannot be used; the message names the file and says what to do."""


@dataclass(frozen=True)
class CheckedImage:
    """What the attach step learned about a picture that decodes."""

    path: Path | None  # the file checked; None for bytes (pasted data)
    format: str  # Pillow's name for the kind: "PNG", "JPEG", "HEIF", ...
    mime: str  # "image/png", "image/heic", ...
    width: int  # full size, upright (EXIF orientation applied), before any downscaling
    height: int
    frames: int  # 1, or how many an animation has (only the first is used)
    byte_count: int  # size of the file
    sha256: str  # of the file's bytes: the name it gets in the attachment store


def open_image(source: Path | bytes, *, max_side: int = MAX_SIDE, name: str | None = None) -> Image:
    """The picture as a loaded RGB image whose longest side is at most `max_side`.

    `name` is what messages call it when `source` is bytes ("pasted image" by default).
    Raises ImageError for anything that is not a usable picture.
    """
    data, label = _read(source, name)
    return _decode(_open_header(data, label), label, max_side)


def check_image(source: Path | bytes, *, name: str | None = None) -> CheckedImage:
    """Check that `source` is a picture we can use, decoding it all (at reduced scale where the
    format allows) so a truncated file is caught now rather than when the message is sent."""
    data, label = _read(source, name)
    im = _open_header(data, label)
    width, height = _upright_size(im)
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    mime = MIME_TYPES[fmt]
    if fmt == "HEIF":  # pillow-heif tells HEIC (HEVC inside) from other HEIF
        mime = im.get_format_mimetype() or mime
    frames = int(getattr(im, "n_frames", 1) or 1)
    _decode(im, label, CHECK_SIDE)
    path = source if isinstance(source, Path) else None
    sha256 = hashlib.sha256(data).hexdigest()
    return CheckedImage(path, fmt, mime, width, height, frames, len(data), sha256)


def _read(source: Path | bytes, name: str | None) -> tuple[bytes, str]:
    """The whole file in memory (read once: it cannot change between check and decode)."""
    if isinstance(source, Path):
        label = name or source.name or str(source)
        try:
            if source.is_dir():
                raise ImageError(f"{label} is a folder, not a picture: choose an image file in it.")
            info = source.stat()
            if not stat.S_ISREG(info.st_mode):  # /dev/zero never ends, a pipe may never start
                raise ImageError(
                    f"{label} is not a file but a device or a pipe: save the picture to a file"
                )
            size = info.st_size  # refused before a huge file is read
            data = b"" if size > MAX_FILE_BYTES else _read_at_most(source, MAX_FILE_BYTES + 1)
            size = max(size, len(data))  # a file that grew while it was read
        except FileNotFoundError:
            raise ImageError(f"{label} is gone: it was moved or deleted ({source}).") from None
        except PermissionError:
            raise ImageError(
                f"{label} cannot be read: you have no permission to open it."
            ) from None
        except OSError as err:
            raise ImageError(f"{label} cannot be read ({err.strerror or err}).") from None
    else:
        label, data = name or "the pasted image", bytes(source)
        size = len(data)
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{label} is {_mb(size)}; the limit is {_mb(MAX_FILE_BYTES)}. {_SMALLER}")
    if not data:
        raise ImageError(f"{label} is empty (0 bytes): it may still be copying; try again.")
    return data, label


def _read_at_most(path: Path, limit: int) -> bytes:
    """The file's bytes, at most `limit` of them (a file may grow after stat())."""
    chunks, total = [], 0
    with path.open("rb") as f:
        while total < limit and (chunk := f.read(min(1 << 20, limit - total))):
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)


def _ensure_plugins() -> tuple[str, ...]:
    """Register HEIF (pillow-heif) once; the formats we let Pillow try."""
    global _formats
    with _plugins_lock:
        if not _formats:
            from PIL import Image as PILImage

            try:
                import pillow_heif

                # thumbnails=False: we never use the small previews HEIC files carry.
                pillow_heif.register_heif_opener(thumbnails=False)
            except ImportError:  # HEIC files are then "not a picture we read"
                pass
            PILImage.init()
            _formats = tuple(f for f in MIME_TYPES if f in PILImage.OPEN)
        return _formats


def _open_header(data: bytes, label: str) -> ImageFile:
    """Identify the picture and read its header only; refuse it if it is too big to decode."""
    formats = _ensure_plugins()
    from PIL import Image as PILImage

    try:
        im = PILImage.open(BytesIO(data), formats=formats)
    except PILImage.DecompressionBombError:
        raise ImageError(_too_big(label, None)) from None
    except PILImage.UnidentifiedImageError:
        if _looks_like(data, formats):  # the right magic bytes, but no valid header after it
            raise ImageError(_broken(label, ValueError("its header cannot be read"))) from None
        raise ImageError(
            f"{label} is not a picture this app can read (it reads {KINDS}). "
            "Open it in an image viewer and save it as PNG or JPEG."
        ) from None
    except _DECODE_ERRORS as err:
        raise ImageError(_broken(label, err)) from None
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise ImageError(_too_big(label, (width, height)))
    return im


def _looks_like(data: bytes, formats: tuple[str, ...]) -> bool:
    """Whether the start of `data` is that of one of `formats` (Pillow's own magic checks)."""
    from PIL import Image as PILImage

    for fmt in formats:
        accept = PILImage.OPEN[fmt][1]
        with contextlib.suppress(Exception):  # a check that chokes on the prefix: not that kind
            if accept is not None and accept(data[:16]):
                return True
    return False


def _decode(file: ImageFile, label: str, max_side: int) -> Image:
    """Decode the first frame, upright, in RGB, downscaled to fit `max_side`."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    if max_side < 1:
        raise ValueError(f"max_side must be positive, not {max_side}")
    size = file.size
    try:
        if file.format in ("JPEG", "MPO"):
            # Decode at 1/2, 1/4 or 1/8 scale, never below the target size: libjpeg's scaling
            # averages in the DCT domain (no aliasing), and Lanczos does the rest.
            file.draft(None, _fit(size, max_side))
        file.load()
        try:
            im: Image = ImageOps.exif_transpose(file)
        except Exception:  # EXIF parsers raise all sorts; a broken block is ignored, not fatal
            im = file
        im = _plain_mode(im)
        fitted = _fit(im.size, max_side)
        if fitted != im.size:
            im = im.resize(fitted, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        return _flatten(im)
    except (PILImage.DecompressionBombError, MemoryError):
        raise ImageError(_too_big(label, size)) from None
    except _DECODE_ERRORS as err:
        raise ImageError(_broken(label, err)) from None


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` shrunk (never grown) so its longest side is `max_side`, keeping the aspect."""
    width, height = size
    scale = max_side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upright_size(im: Image) -> tuple[int, int]:
    """The size once EXIF orientation is applied, read from the header only."""
    width, height = im.size
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF: shown as stored, as _decode does
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _plain_mode(im: Image) -> Image:
    """One of L, LA, RGB, RGBA: modes that resize well (alpha is kept until after resizing,
    which Pillow does premultiplied, so edges do not pick up the colour of hidden pixels)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT:
        # 0..65535 onto 0..255 with rounding; Pillow's own convert("L") would clip at 255.
        return im.convert("I").point(lambda v: v * (1 / 257) + 0.5).convert("L")
    if mode in ("I", "F"):
        return _stretch(im)
    if mode in ("1", "La", "RGBa"):
        return im.convert({"1": "L", "La": "LA", "RGBa": "RGBA"}[mode])
    if mode not in ("LA", "RGBA") and im.has_transparency_data:  # P with tRNS, PA, L or RGB
        return im.convert("RGBA")  # with a transparent colour
    # P, CMYK, YCbCr, LAB, HSV, RGBX; a mode with no way to RGB raises ValueError: "damaged"
    return im if mode in ("L", "LA", "RGB", "RGBA") else im.convert("RGB")


def _stretch(im: Image) -> Image:
    """32-bit grey (I, F) to 8 bit: kept if integers in 0..255, scaled as 16-bit if integers in
    0..65535, else the range found stretched to fill 0..255."""
    low, high = cast("tuple[float, float]", im.getextrema())
    integer = im.mode == "I"
    if integer and low >= 0 and high <= 255:
        return im.convert("L")
    if integer and low >= 0 and high <= 65535:
        low, high = 0, 65535
    span = float(high - low) or 1.0
    scaled = im.point(lambda v: v * (255 / span) + (0.5 - low * 255 / span))
    return scaled.convert("L")


def _flatten(im: Image) -> Image:
    """RGB at last: anything transparent laid on white, as a viewer would show it."""
    from PIL import Image as PILImage

    if im.mode in ("LA", "RGBA"):
        rgba = im.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def _too_big(label: str, size: tuple[int, int] | None) -> str:
    what = f" ({size[0]} x {size[1]} pixels)" if size else ""
    limit = f"{MAX_PIXELS // 1_000_000} megapixels"
    return f"{label} is too large to open{what}; the limit is {limit}. {_SMALLER}"


def _broken(label: str, err: BaseException) -> str:
    return f"{label} is damaged or incomplete and cannot be opened ({err}). {_AGAIN}"


def _mb(count: int) -> str:
    return f"{count / (1 << 20):.0f} MB"
