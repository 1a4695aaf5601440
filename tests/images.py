"""Test images made on the fly with Pillow (and scikit-image photos): nothing is downloaded.

Shared by the imaging tests and by end-to-end/fault tests elsewhere (``noisy_png`` gives the
~9 MB PNG variant, ``bad_inputs`` the per-image error cases).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def photo(name: str = "chelsea") -> Image.Image:
    """A real photo from scikit-image (chelsea 451×300, coffee 600×400, rocket 640×427,
    "portrait": the astronaut cropped to 300×512, upright)."""
    from skimage import data

    arr = data.astronaut()[:, 100:400] if name == "portrait" else getattr(data, name)()
    img = Image.fromarray(arr)
    return img.convert("RGB")


def save(img: Image.Image, path: Path, fmt: str | None = None, **params) -> Path:
    img.save(path, fmt, **params)
    return path


def jpeg_bytes(img: Image.Image, quality: int = 92, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **params)
    return buf.getvalue()


def exif_rotated_jpeg(
    path: Path, upright: Image.Image, orientation: int, fmt: str = "JPEG"
) -> Path:
    """Store ``upright`` so that applying EXIF ``orientation`` gives it back (like a phone does)."""
    inverse = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,  # displayed after a 90° clockwise turn
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    params = {"quality": 95} if fmt == "JPEG" else {}
    stored.save(path, fmt, exif=exif.tobytes(), **params)
    return path


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height (a decompression bomb's header): only the header is
    real, so it costs nothing to make; the pixel data is a few bytes."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def real_bomb_png(side: int = 10_000) -> bytes:
    """A genuine decompression bomb: a side×side black PNG, ~100 KB for 100 megapixels."""
    raw = b"\x00" * (side + 1)  # one scanline: filter byte + side black pixels
    comp = zlib.compressobj(1)
    body = b"".join(comp.compress(raw) for _ in range(side)) + comp.flush()

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def noisy_png(path: Path, width: int = 2048, height: int = 1536, seed: int = 0) -> Path:
    """Uniform RGB noise: its PNG variant at the 2048 box is ~9 MB (noise does not compress)."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
        path, "PNG", compress_level=1
    )
    return path


def animated_gif(
    path: Path, colours=((255, 0, 0), (0, 255, 0), (0, 0, 255)), size=(64, 48)
) -> Path:
    frames = [Image.new("RGB", size, c) for c in colours]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def bad_inputs(folder: Path) -> dict[str, Path]:
    """One file per unusable input: name → path (each must give a clear per-image error)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(photo())
    files = {
        "not-an-image.jpg": b"this is a text file, not a picture\n" * 20,
        "empty.png": b"",
        "truncated.jpg": good[: len(good) // 2],
        "bomb.png": png_with_size(30_000, 30_000),
    }
    out = {}
    for name, data in files.items():
        p = folder / name
        p.write_bytes(data)
        out[name] = p
    return out
