"""Open an image safely and turn it into upright 8-bit RGB pixels.

Everything Pillow can throw at us for bad input (unknown format, truncated data, decompression
bombs, broken headers) is turned into :class:`ImageLoadError` with a message a user understands.
Only the formats the brief names are opened: a restricted list also keeps exotic plugins (EPS
needs Ghostscript, for one) out of reach of whatever file the user drops in.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageLoadError

#: Pillow format names read, and the lower-case names tfcompare reports for them. (MPO is not
#: opened by name: Pillow's JPEG opener returns it for JPEGs with a multi-picture extension.)
FORMATS: dict[str, str] = {
    "JPEG": "jpeg",
    "MPO": "jpeg",  # phone JPEGs with a multi-picture (depth/preview) extension
    "PNG": "png",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tiff",
    "GIF": "gif",
}
MAX_FILE_BYTES = 1 << 30  # refuse to read files over 1 GiB into memory
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90°/270°
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    MemoryError,
)

# tfcompare refuses images over Pillow's MAX_IMAGE_PIXELS itself, with its own message (see
# _check_pixels); Pillow's warning for the same images would only be a confusing duplicate.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass
class Source:
    """The bytes of one input, where they came from, and the name to show."""

    data: bytes
    path: str | None
    name: str


def read_source(source: str | os.PathLike[str] | bytes, name: str | None = None) -> Source:
    """Read a file (or take pasted bytes) once; the bytes are kept untouched as the original."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ImageLoadError("empty image data (0 bytes)")
        return Source(data, None, name or "pasted image")
    path = Path(source)
    shown = name or path.name or str(path)
    with open_regular(path) as fh:
        try:
            data = _read_bounded(fh, os.fstat(fh.fileno()).st_size)
        except OSError as e:
            raise ImageLoadError(f"cannot read {path}: {e.strerror or e}") from None
    if not data:
        raise ImageLoadError("empty file (0 bytes): not an image")
    return Source(data, str(path), shown)


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (symlinks followed).

    A named pipe would block the open (and later reads) forever and a device such as /dev/zero
    never ends, so only regular files are images: the file is opened without blocking and
    checked on the open descriptor itself, so it cannot be swapped after the check.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        if path.is_dir():
            raise IsADirectoryError
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageLoadError(f"file not found: {path}") from None
    except PermissionError:
        raise ImageLoadError(f"permission denied: cannot read {path}") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{path} is a folder, not an image file") from None
    except OSError as e:
        raise ImageLoadError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ImageLoadError(f"{path} is a folder, not an image file")
        if not stat.S_ISREG(mode):
            raise ImageLoadError(
                f"{path} is {_file_kind(mode)}, not an image file: only regular files are read"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _read_bounded(fh: BinaryIO, size_hint: int) -> bytes:
    """The whole file, refusing it once more than ``MAX_FILE_BYTES`` have actually been read
    (the size the file system reports is only a hint: it can be 0 or change while reading)."""
    if size_hint > MAX_FILE_BYTES:
        raise ImageLoadError(
            f"file is too large ({size_hint / 2**20:.0f} MB; images over "
            f"{MAX_FILE_BYTES // 2**20} MB are refused)"
        )
    parts = [fh.read(size_hint + 1)]  # one read for an ordinary file
    total = len(parts[0])
    while parts[-1] and total <= MAX_FILE_BYTES:
        parts.append(fh.read(min(1 << 22, MAX_FILE_BYTES + 1 - total)))
        total += len(parts[-1])
    if total > MAX_FILE_BYTES:
        raise ImageLoadError(
            f"file is too large (over {MAX_FILE_BYTES // 2**20} MB; larger images are refused)"
        )
    return parts[0] if len(parts) <= 2 else b"".join(parts)


def _check_pixels(width: int, height: int) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageLoadError(_bomb_message(width * height, f"{width}×{height}, "))


def _bomb_message(pixels: int | None, size: str = "") -> str:
    """The one message for an image over the pixel limit, from tfcompare's own check or Pillow's
    DecompressionBombError (which Pillow raises at twice the limit, saying so in its own words)."""
    limit = Image.MAX_IMAGE_PIXELS or 0
    claimed = (
        f"the image claims {size}{pixels:,} pixels ({pixels / 1e6:,.1f} megapixels)"
        if pixels
        else "the image claims too many pixels"
    )
    return (
        f"refused: {claimed}; tfcompare opens images of at most {limit:,} pixels "
        f"({limit / 1e6:.1f} megapixels): more looks like a decompression bomb"
    )


def _bomb_error(exc: Exception) -> ImageLoadError:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return ImageLoadError(_bomb_message(int(found[1]) if found else None))


def open_image(data: bytes | BinaryIO) -> tuple[Image.Image, str]:
    """Parse the header only: returns the lazily-decoded image and its lower-case format name."""
    fp = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        im = Image.open(fp, formats=[f for f in FORMATS if f != "MPO"])
    except Image.DecompressionBombError as e:
        raise _bomb_error(e) from None
    except UnidentifiedImageError:
        raise ImageLoadError(_not_an_image(fp)) from None
    except _DECODE_ERRORS as e:
        raise ImageLoadError(f"not a readable image: the file's header is damaged ({e})") from None
    _check_pixels(*im.size)
    return im, FORMATS.get(im.format or "", (im.format or "unknown").lower())


def _not_an_image(fp: BinaryIO) -> str:
    """Say what the file is, when we can tell, rather than a bare "cannot identify"."""
    supported = "JPEG, PNG, WebP, BMP, TIFF or GIF"
    try:
        fp.seek(0)
        head = fp.read(512)
        fp.seek(0)
        probe = Image.open(fp)  # any format Pillow knows, only to name it
        fmt = probe.format
        probe.close()
    except Exception:
        fmt = None
    if fmt:
        return f"unsupported image format {fmt}: tfcompare reads {supported}"
    if not head:
        return "empty file (0 bytes): not an image"
    if head.lstrip()[:1] in (b"<", b"{", b"[") or all(
        32 <= b < 127 or b in b"\r\n\t" for b in head
    ):
        return f"not an image (this looks like a text file); expected {supported}"
    return f"not an image (unrecognised file content); expected {supported}"


def exif_orientation(im: Image.Image, *, header_only: bool = False) -> int:
    """EXIF orientation 1..8 (1 = as stored); 1 when absent or unreadable.

    Pillow decodes a whole PNG to look for an EXIF chunk after the pixels; ``header_only`` skips
    that (for cheap probes) and only uses an EXIF chunk found before the pixel data.
    """
    if header_only and im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(0x0112, 1)
        value = int(value)
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def oriented_size(im: Image.Image, orientation: int) -> tuple[int, int]:
    w, h = im.size
    return (h, w) if orientation in _SWAPS_AXES else (w, h)


def decode(im: Image.Image) -> None:
    """Decode the pixels (first frame only), turning Pillow's failures into user messages."""
    try:
        im.load()
    except Image.DecompressionBombError as e:
        raise _bomb_error(e) from None
    except _DECODE_ERRORS as e:
        text = str(e)
        if "truncated" in text or isinstance(e, EOFError) or "broken data stream" in text:
            raise ImageLoadError(
                "the file is truncated or damaged: the image data ends before the picture does"
            ) from None
        if isinstance(e, MemoryError):
            raise ImageLoadError("not enough memory to decode this image") from None
        raise ImageLoadError(f"the image data is damaged and cannot be decoded ({text})") from None


def orientation_note(orientation: int) -> str:
    return (
        f"EXIF orientation {orientation} applied: variants are upright; the original is sent as "
        "stored (TF Serving's decoders ignore EXIF orientation)"
    )


def upright(im: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation so the pixels come out the way the photo is meant to be seen."""
    if orientation == 1:
        return im
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    return im.transpose(method)


def to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """8-bit RGB: CMYK, palette, greyscale and 16-bit converted; any alpha composited on white."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        notes.append(f"{_mode_name(mode)} image reduced to 8-bit RGB")
        return Image.fromarray(_to_8bit(im), "L").convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
        return im.convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB", "1") and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        extrema = rgba.getextrema()  # (min, max) of each band: R, G, B, A
        if len(extrema) == 4 and extrema[3][0] < 255:
            notes.append("transparent areas composited on white")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except ValueError:
        raise ImageLoadError(f"unsupported colour mode {mode}") from None


def _mode_name(mode: str) -> str:
    return {"F": "32-bit float", "I": "32-bit integer"}.get(mode, "16-bit")


def _to_8bit(im: Image.Image) -> np.ndarray:
    """Grey levels of 16/32-bit or float images scaled to 0..255 (never clipped to white)."""
    a = np.asarray(im)
    if im.mode == "F":
        a = a.astype(np.float64)
        hi = float(np.nanmax(a)) if a.size else 1.0
        scale = 255.0 if hi <= 1.0 else (255.0 / 65535.0 if hi > 255.0 else 1.0)
        return np.clip(np.nan_to_num(a) * scale, 0, 255).round().astype(np.uint8)
    a = a.astype(np.int64)
    if im.mode == "I" and a.size and a.max() <= 255 and a.min() >= 0:
        return a.astype(np.uint8)
    scaled = (np.clip(a, 0, 65535) * 255 + 32767) // 65535  # 16-bit range → 8 bits, rounded
    return scaled.astype(np.uint8)


def describe(source: str | os.PathLike[str] | bytes) -> tuple[str, int, int]:
    """(format, width, height) as the image will be used (after EXIF orientation), header only.

    Cheap enough for UI lists: only the header is read, so a truncated file is only found out
    when the ladder is built. Raises ImageLoadError like build_ladder.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        im, fmt = open_image(read_source(source).data)
        with im:
            return (fmt, *oriented_size(im, exif_orientation(im, header_only=True)))
    with open_regular(Path(source)) as fp:
        if os.fstat(fp.fileno()).st_size == 0:
            raise ImageLoadError("empty file (0 bytes): not an image")
        im, fmt = open_image(fp)
        with im:
            return (fmt, *oriented_size(im, exif_orientation(im, header_only=True)))
