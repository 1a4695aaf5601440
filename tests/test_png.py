"""The banded PNG writer (tfcompare.imaging.png): exact filters, one valid zlib stream, exact
pixels with Pillow and TensorFlow, sizes close to Pillow's, and its use in the ladder."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import images
import numpy as np
import pytest
from PIL import Image

from tfcompare.imaging import build_ladder
from tfcompare.imaging import ladder as ladder_module
from tfcompare.imaging.png import (
    IDAT_BYTES,
    PNG_SIGNATURE,
    PngJob,
    adler32_combine,
    encode_png,
    filter_rows,
)
from tfcompare.settings import RunSettings


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, checking each CRC on the way."""
    assert png[:8] == PNG_SIGNATURE
    out, pos = [], 8
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind, payload = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", png[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + payload), kind
        out.append((kind, payload))
        pos += 12 + n
    assert pos == len(png)
    return out


def idat_stream(png: bytes) -> bytes:
    return b"".join(p for k, p in chunks(png) if k == b"IDAT")


def pillow_png(arr: np.ndarray, **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", **params)
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(png))
    assert im.mode == "RGB"
    return np.asarray(im)


def upscaled_photo(name: str, width: int) -> np.ndarray:
    im = images.photo(name)
    return np.asarray(
        im.resize((width, round(width * im.height / im.width)), Image.Resampling.LANCZOS)
    )


def noisy_photo(width: int = 1600, sigma: float = 12.0) -> np.ndarray:
    """A photo with sensor-like Gaussian noise: hard for the filters and for deflate."""
    arr = upscaled_photo("coffee", width).astype(np.float64)
    arr += np.random.default_rng(3).normal(0.0, sigma, arr.shape)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
def test_filters_are_exactly_pillows_choice(name):
    """All five filters with the signed-sum heuristic: byte for byte what Pillow's encoder does
    with optimize=True (its only mode that tries Average too)."""
    arr = np.asarray(images.photo(name))
    h = arr.shape[0]
    theirs = zlib.decompress(idat_stream(pillow_png(arr, optimize=True)))
    ours = filter_rows(arr.reshape(h, -1), None)
    assert np.array_equal(np.frombuffer(theirs, np.uint8).reshape(h, -1), ours)
    assert len(set(ours[:, 0])) >= 3  # a real photo exercises several filter types


def test_filters_on_noise_and_bands_agree_with_whole_image():
    arr = np.random.default_rng(0).integers(0, 256, (97, 131 * 3), dtype=np.uint8)
    whole = filter_rows(arr, None)
    theirs = zlib.decompress(idat_stream(pillow_png(arr.reshape(97, 131, 3), optimize=True)))
    assert np.array_equal(np.frombuffer(theirs, np.uint8).reshape(97, -1), whole)
    # filtering a band with the row above it gives that band's rows of the whole image
    assert np.array_equal(filter_rows(arr[40:60], arr[39]), whole[40:60])
    assert not np.array_equal(filter_rows(arr[40:60], None), whole[40:60])


def test_adler32_combine_matches_zlib():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    for cut in (0, 1, 5552, 65521, 150_000, 299_999, 300_000):
        a, b = data[:cut], data[cut:]
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(data)
    assert adler32_combine(1, 1, 0) == 1


# --------------------------------------------------------------------------- the file


@pytest.mark.parametrize(
    "shape, band_bytes",
    [
        ((1, 1), 1 << 20),  # one pixel
        ((7, 5), 1),  # one row per band
        ((333, 257), 20_000),  # odd width, many bands with a dictionary each
        ((600, 900), 1 << 20),  # several default bands
    ],
)
def test_roundtrip_is_exact_and_the_stream_valid(shape, band_bytes):
    h, w = shape
    arr = upscaled_photo("astronaut", max(w, h))[:h, :w]
    if arr.shape[:2] != shape:
        arr = np.resize(arr, (h, w, 3))
    job = PngJob(arr, 6, band_bytes)
    with ThreadPoolExecutor(3) as pool:
        png = job.finish([f.result() for f in [pool.submit(t) for t in job.tasks]])
    assert png == encode_png(arr, band_bytes=band_bytes)  # threads change nothing
    assert np.array_equal(pixels(png), arr)
    kinds = [k for k, _ in chunks(png)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds[1:-1]) == {b"IDAT"}
    assert struct.unpack(">IIBBBBB", chunks(png)[0][1]) == (w, h, 8, 2, 0, 0, 0)
    stream = idat_stream(png)
    assert (stream[0] * 256 + stream[1]) % 31 == 0
    # zlib checks the Adler-32 trailer of the whole stream (Pillow's decoder does not)
    raw = zlib.decompress(stream)
    assert raw == filter_rows(arr.reshape(h, -1), None).tobytes()
    if band_bytes == 1:
        assert len(job.tasks) == h


def test_big_image_splits_idat_and_decodes():
    arr = upscaled_photo("coffee", 1500)
    png = encode_png(arr)
    sizes = [len(p) for k, p in chunks(png) if k == b"IDAT"]
    assert len(sizes) > 1 and max(sizes) <= IDAT_BYTES
    assert np.array_equal(pixels(png), arr)


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        PngJob(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        PngJob(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        PngJob(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="zlib level"):
        PngJob(np.zeros((4, 4, 3), np.uint8), level=10)
    job = PngJob(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="expected 1 bands"):
        job.finish([])


@pytest.mark.parametrize("kind", ["astronaut", "coffee", "rocket", "noisy", "uniform-noise"])
def test_size_matches_pillow(kind):
    """Pillow's deflate settings: never more than 0.2 % larger than Pillow's level-6 file;
    smaller where the Average filter (Pillow's default skips it) pays, as on a noisy photo."""
    if kind == "noisy":
        arr = noisy_photo()
    elif kind == "uniform-noise":
        arr = np.random.default_rng(2).integers(0, 256, (700, 900, 3), dtype=np.uint8)
    else:  # the ladder's largest box for one photo; 1024 px (still several bands) for the rest
        arr = upscaled_photo(kind, 2048 if kind == "rocket" else 1024)
    ours = len(encode_png(arr, 6))
    theirs = len(pillow_png(arr, compress_level=6))
    assert 0.95 < ours / theirs < 1.002, (ours, theirs)


@pytest.mark.slow
def test_tensorflow_decodes_the_same_pixels(tmp_path):
    """TF Serving decodes PNG variants with tf.io.decode_png: it must see exactly our pixels."""
    arr = upscaled_photo("astronaut", 1100)[:517]
    (tmp_path / "ours.png").write_bytes(encode_png(arr, band_bytes=200_000))  # several bands
    np.save(tmp_path / "want.npy", arr)
    code = (
        "import sys, pathlib, numpy as np, tensorflow as tf\n"
        "d = pathlib.Path(sys.argv[1]); want = np.load(d / 'want.npy')\n"
        "got = tf.io.decode_png((d / 'ours.png').read_bytes(), channels=3).numpy()\n"
        "assert got.shape == want.shape, got.shape\n"
        "print('same' if np.array_equal(got, want) else 'DIFFERENT')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "same"


# --------------------------------------------------------------------------- in the ladder


def test_ladder_png_variants_equal_pillows_pixels(monkeypatch):
    """The banded writer replaces Pillow's encode for big variants: same pixels, other bytes."""
    monkeypatch.setattr(ladder_module.os, "cpu_count", lambda: 2)  # it is used with 2+ cores
    data = images.jpeg_bytes(Image.fromarray(upscaled_photo("rocket", 1400)))
    settings = RunSettings(sizes=(1024, 512, 128), formats=("png", "jpeg"))
    assert 512 * 341 < ladder_module.PARALLEL_PNG_MIN_PIXELS <= 1024 * 683
    ours = {v.key: v for v in build_ladder(data, settings).variants}
    monkeypatch.setattr(ladder_module, "PARALLEL_PNG_MIN_PIXELS", 10**12)
    pillow = {v.key: v for v in build_ladder(data, settings).variants}
    for key in ("1024-png", "512-png", "128-png"):
        assert np.array_equal(pixels(ours[key].data), pixels(pillow[key].data)), key
        assert ours[key].encode_ms > 0
    # 1024×683 is above PARALLEL_PNG_MIN_PIXELS: the banded writer, about Pillow's size
    assert ours["1024-png"].data != pillow["1024-png"].data
    assert abs(ours["1024-png"].nbytes / pillow["1024-png"].nbytes - 1) < 0.01
    for key in ("512-png", "128-png", "1024-jpeg"):  # small PNGs and JPEGs: Pillow as before
        assert ours[key].data == pillow[key].data, key
