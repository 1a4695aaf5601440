"""Build the variant ladder: the untouched original plus every size box × format, fast.

How it is fast (bench/bench_ladder.py measures it against the naive per-size thumbnail):
- the source is decoded once; a JPEG is decoded with libjpeg's DCT scaling (``draft``) straight
  to the smallest scale that still leaves ``DRAFT_GAP``× the largest box's pixels;
- each smaller box is resized from the nearest larger resized image that is at least
  ``CHAIN_MIN_RATIO`` times bigger (measured: see ``CHAIN_MIN_RATIO``), otherwise from the decoded
  image;
- resizes run in the calling thread while encodes run in worker threads. Pillow releases the GIL
  while it resamples, and while it encodes a JPEG into a real file descriptor (one C call for the
  whole image) — but *not* while it encodes into a ``BytesIO`` (each 64 KB chunk is a C call that
  holds the GIL), which made the JPEG encodes run one at a time. So JPEGs are encoded into an
  anonymous in-memory file (``memfd``; a temporary file where there is none) and read back
  (``ENCODE_JPEG_TO_FILE``; bench/bench_ladder.py --compare-jpeg measures both). WebP's encoder
  releases the GIL by itself; a small PNG is one short task (Pillow's PNG writer cannot use a file);
- a big PNG variant (``PARALLEL_PNG_MIN_PIXELS``) is not one Pillow encode on one core but bands
  that the workers filter and deflate in parallel (``png.PngJob``, same size as Pillow's).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np
from PIL import Image

from tfcompare.imaging.values import ORIGINAL, ImageInfo, Variant, variant_key
from tfcompare.settings import RunSettings

from .loading import (
    decode,
    exif_orientation,
    open_image,
    orientation_note,
    oriented_size,
    read_source,
    to_rgb,
    upright,
)
from .png import Band, PngJob

RESAMPLE = Image.Resampling.LANCZOS
#: PNG variants use zlib level 6, Pillow's default (no ``optimize`` pass).
PNG_COMPRESS_LEVEL = 6
#: A JPEG is DCT-scaled no further than this many times the largest box (then LANCZOS).
#: Measured on a 6000×4000 mosaic of native-resolution photos (PSNR of the 2048 px result against
#: a full decode + LANCZOS): 1.0 gives 44.6 dB and saves ~25 % of the ladder's time; Pillow's own
#: thumbnail() lands at 46.1 dB. Both are far beyond visible differences.
DRAFT_GAP = 1.0
#: Resample a non-JPEG source by integer ``reduce()`` first down to this many times the box.
REDUCING_GAP = 3.0
#: A box is resized from an earlier (larger) result only if that is at least this many times
#: larger (long sides); otherwise from the decoded image. Measured on the mosaic (PSNR against
#: LANCZOS straight from the full image, 1024/512/256/128 px): ratio 2 → 50.9/50.4/47.7/44.5 dB;
#: ratio 4 → 52.3/54.3/53.6/50.9 dB but its resizes cost ~2.5× as much; Pillow's thumbnail() per
#: size from the full image → 43.1/41.0/38.8/37.0 dB. Ratio 2 stays far above visible loss.
CHAIN_MIN_RATIO = 2.0
#: RGB PNG variants of at least this many pixels (the default ladder's 1024 and 2048 px) are
#: encoded by png.PngJob in bands that the workers share; smaller ones (one band anyway) by Pillow
#: in one task. PngJob costs ~5 % more CPU than Pillow's encoder (numpy filtering), so it pays
#: only with 2+ cores: measured with bench/bench_ladder.py --compare-png (see its docstring).
PARALLEL_PNG_MIN_PIXELS = 250_000
#: JPEGs are encoded into an in-memory file so the encoders run in parallel (see the docstring).
ENCODE_JPEG_TO_FILE = True

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _default_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(2, min(8, os.cpu_count() or 2)),
                thread_name_prefix="tfcompare-encode",
            )
        return _pool


def fit_size(width: int, height: int, box: int) -> tuple[int, int]:
    """Size of a width×height image fitted inside box×box, aspect kept, rounded the way Pillow's
    ``thumbnail`` rounds (so our sizes equal the naive method's). Never larger than the image."""
    if box >= width and box >= height:
        return width, height
    aspect = width / height

    def closest(number: float, key) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if 1 >= aspect:  # portrait or square: height is the limit
        return closest(box * aspect, lambda n: abs(aspect - n / box)), box
    return box, closest(box / aspect, lambda n: 0 if n == 0 else abs(aspect - box / n))


def _encode(im: Image.Image, fmt: str, quality: int | None) -> tuple[bytes, float]:
    """Encode one variant; the time is this thread's CPU time, so parallel work doesn't inflate it."""
    t0 = time.thread_time()
    if fmt == "jpeg" and ENCODE_JPEG_TO_FILE:
        with _memory_file() as fh:
            im.save(fh, "JPEG", quality=quality)  # Pillow encodes to its fileno: GIL released
            fh.seek(0)
            data = fh.read()
        return data, (time.thread_time() - t0) * 1000.0
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality)
    else:
        im.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue(), (time.thread_time() - t0) * 1000.0


def _memory_file() -> BinaryIO:
    """A read/write file with a real descriptor that lives in memory (Linux ``memfd``), or an
    unnamed temporary file elsewhere."""
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("tfcompare-encode", os.MFD_CLOEXEC), "w+b")  # noqa: SIM115
    return tempfile.TemporaryFile()  # noqa: SIM115


def build_ladder(
    source: str | os.PathLike[str] | bytes,
    settings: RunSettings | None = None,
    *,
    name: str | None = None,
    executor: Executor | None = None,
) -> ImageInfo:
    """Load one image and build its variants (see the module docstring for how).

    ``source`` is a path or the image's bytes (a pasted image). ``executor`` runs the encodes
    (default: a shared pool); it must not be the executor this call itself runs in if that one
    can be full. Raises ImageLoadError (user-facing message) for unusable input; settings were
    checked when they were made (``RunSettings`` raises SettingsError, a ValueError).
    """
    settings = settings or RunSettings()  # checked and normalised when it was made
    formats, boxes = settings.formats, settings.sizes
    quality = {"jpeg": settings.jpeg_quality, "webp": settings.webp_quality, "png": None}

    src = read_source(source, name)
    im, fmt = open_image(src.data)
    notes: list[str] = []
    if getattr(im, "is_animated", False):
        notes.append(f"animated {fmt.upper()}: the first frame is used")
    if fmt != "jpeg":
        decode(im)  # no draft for these; decoding first surfaces damage as a clear error
    orientation = exif_orientation(im)
    width, height = oriented_size(im, orientation)
    made = [b for b in boxes if b <= max(width, height)]
    skipped = [b for b in boxes if b > max(width, height)]
    if skipped:
        notes.append(
            f"{', '.join(f'{b} px' for b in skipped)} skipped: image is only "
            f"{width}×{height} (never upscaled)"
        )

    original = Variant(ORIGINAL, None, fmt, None, width, height, len(src.data), 0.0, src.data)
    variants: list[Variant] = [original]
    if made and formats:
        variants += _resized_variants(
            im,
            fmt,
            orientation,
            (width, height),
            made,
            formats,
            quality,
            executor or _default_pool(),
            notes,
        )
    else:
        decode(im)  # every image is decoded once, so a damaged one fails here, not on the servers
    return ImageInfo(
        name=src.name,
        path=src.path,
        format=fmt,
        width=width,
        height=height,
        nbytes=len(src.data),
        variants=tuple(variants),
        notes=tuple(notes),
        original=src.data,
    )


def _resized_variants(im, fmt, orientation, size, boxes, formats, quality, executor, notes):
    """Decode once, resize largest→smallest, hand each result to the encoders as soon as ready."""
    width, height = size
    swapped = oriented_size(im, orientation) != im.size
    targets = {b: fit_size(width, height, b) for b in boxes}

    crop = None  # region of the decoded image that maps to the full picture (after draft)
    if fmt == "jpeg":
        tw, th = targets[boxes[0]]
        if swapped:
            tw, th = th, tw
        want = (min(im.width, math.ceil(tw * DRAFT_GAP)), min(im.height, math.ceil(th * DRAFT_GAP)))
        res = im.draft(None, want)
        if res is not None:
            crop = res[1]
    decode(im)
    rgb = to_rgb(im, notes)

    def from_decoded(target: tuple[int, int]) -> Image.Image:
        stored = (target[1], target[0]) if swapped else target
        if stored == rgb.size and crop is None:
            out = rgb
        else:
            out = rgb.resize(stored, RESAMPLE, box=crop, reducing_gap=REDUCING_GAP)
        return upright(out, orientation)

    if orientation != 1:
        notes.append(orientation_note(orientation))
    done: list[tuple[int, Image.Image]] = []
    futures: list[tuple[int, str, Image.Image, Future | _PngBands]] = []
    for box in boxes:
        target = targets[box]
        # same aspect, so compare long sides (the short sides differ by rounding)
        source = next(
            (img for _, img in reversed(done) if max(img.size) >= CHAIN_MIN_RATIO * max(target)),
            None,
        )
        if source is not None:
            resized = source.resize(target, RESAMPLE)
        else:
            resized = from_decoded(target)
        done.append((box, resized))
        for i, f in enumerate(formats):
            if f == "png" and _parallel_png(resized):
                job = PngJob(np.asarray(resized), PNG_COMPRESS_LEVEL)
                pending = [executor.submit(task) for task in job.tasks]
                futures.append((box, f, resized, _PngBands(job, pending)))
                continue
            # Image.save writes to the image object (encoderinfo): one object per encoder thread.
            img = resized if i == 0 else resized.copy()
            futures.append((box, f, img, executor.submit(_encode, img, f, quality[f])))

    out: list[Variant] = []
    for box, f, img, fut in futures:
        try:
            data, ms = fut.result()
        except (OSError, ValueError, MemoryError) as e:
            notes.append(f"{box} px {f.upper()} not produced: {e}")
            continue
        out.append(
            Variant(
                variant_key(box, f), box, f, quality[f], img.width, img.height, len(data), ms, data
            )
        )
    return out


def _parallel_png(im: Image.Image) -> bool:
    return (
        (os.cpu_count() or 1) > 1
        and im.mode == "RGB"
        and im.width * im.height >= PARALLEL_PNG_MIN_PIXELS
    )


class _PngBands:
    """A PNG variant whose bands run as separate tasks; ``result()`` like a Future's gives the
    file and the CPU time of all its bands plus the assembly."""

    def __init__(self, job: PngJob, pending: list[Future]):
        self.job, self.pending = job, pending

    def result(self) -> tuple[bytes, float]:
        try:
            bands: list[Band] = [f.result() for f in self.pending]
        except BaseException:
            for f in self.pending:
                f.cancel()
            raise
        t0 = time.thread_time()
        data = self.job.finish(bands)
        return data, sum(b.cpu_ms for b in bands) + (time.thread_time() - t0) * 1000.0
