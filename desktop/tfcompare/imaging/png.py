"""A PNG writer for 8-bit RGB images whose work splits across threads (pigz-style).

Why: one Pillow PNG encode of a big variant runs on one core and is the floor of the ladder's
wall time. Here the rows are cut into bands; each band is filtered (numpy) and deflated (zlib)
on its own, and zlib and numpy release the GIL, so bands run in parallel threads.

How the bands make one valid zlib stream (RFC 1950/1951):
- each band is a raw deflate stream (``wbits=-15``) primed with the last 32 KiB of the previous
  band's filtered bytes as its dictionary (as pigz does, so matches still reach across the cut),
  ended with ``Z_SYNC_FLUSH`` (byte aligned, not final) — the last band with ``Z_FINISH``;
- the bands are concatenated after a zlib header and followed by the Adler-32 of all the
  filtered bytes, combined from each band's own checksum (``adler32_combine``).

Filters: all five PNG filters are computed per row, vectorised, and each row keeps the one with
the least sum of absolute values taken as signed bytes (libpng's heuristic, which Pillow uses
too; ties are broken in Pillow's order). With all five filters this picks exactly what Pillow's
``optimize=True`` picks (Pillow's default leaves Average out). Sizes land within a few per cent of Pillow's at the same
zlib level (bench/bench_ladder.py prints both).
"""

from __future__ import annotations

import functools
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Filtered bytes per band (512 KiB, rounded to whole rows): big enough that the flushes, the
#: re-filtered dictionary rows and the task overhead don't matter (sizes change by < 0.05 %),
#: small enough that a 1024 px variant makes 4 bands and a 2048 px one 16, which balance well.
BAND_BYTES = 1 << 19
#: Largest IDAT chunk written.
IDAT_BYTES = 1 << 18
#: Pillow's deflate settings for PNG (so the same level gives the same size as Pillow's).
_MEM_LEVEL = 9
_STRATEGY = zlib.Z_FILTERED
_WINDOW = 32 * 1024  # deflate's history: the dictionary handed to the next band
_ADLER_BASE = 65521
_BPP = 3  # bytes per pixel: 8-bit RGB
_TRIAL_ORDER = np.array([0, 2, 1, 3, 4])  # filter types in the order Pillow tries them


@dataclass(frozen=True)
class Band:
    """One band's output: raw deflate bytes, the Adler-32 and length of its filtered input, and
    the CPU time its thread spent (so parallel work is not counted as wall time)."""

    deflated: bytes
    adler: int
    length: int
    cpu_ms: float


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """Adler-32 of A+B from adler32(A), adler32(B) and len(B) (zlib's adler32_combine)."""
    rem = len2 % _ADLER_BASE
    s1a, s2a = adler1 & 0xFFFF, adler1 >> 16
    s1b, s2b = adler2 & 0xFFFF, adler2 >> 16
    sum1 = (s1a + s1b - 1) % _ADLER_BASE
    sum2 = (rem * s1a + s2a + s2b - rem) % _ADLER_BASE
    return (sum2 << 16) | sum1


def filter_rows(rows: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
    """PNG-filter ``rows`` (n × stride uint8, RGB scanlines) with per-row adaptive selection.

    ``prev`` is the scanline above the first row (None at the top of the image). Returns an
    n × (stride + 1) uint8 array: each row's filter type byte, then its filtered bytes.
    """
    n, stride = rows.shape
    x = rows  # uint8 arithmetic wraps modulo 256, as PNG filters want
    b = np.empty_like(x)  # the row above
    b[0] = 0 if prev is None else prev
    b[1:] = x[:-1]
    a = np.zeros_like(x)  # the pixel to the left
    a[:, _BPP:] = x[:, :-_BPP]
    c = np.zeros_like(x)  # above-left
    c[:, _BPP:] = b[:, :-_BPP]

    # Paeth predictor: p = a + b - c; choose a, b or c closest to p (ties: a, then b).
    a16, b16, c16 = a.astype(np.int16), b.astype(np.int16), c.astype(np.int16)
    pa = np.abs(b16 - c16)
    pb = np.abs(a16 - c16)
    pc = np.abs(a16 + b16 - 2 * c16)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))

    cand = np.empty((5, n, stride), np.uint8)
    cand[0] = x
    np.subtract(x, a, out=cand[1])
    np.subtract(x, b, out=cand[2])
    np.subtract(x, (a >> 1) + (b >> 1) + (a & b & 1), out=cand[3])  # floor((a + b) / 2)
    np.subtract(x, paeth, out=cand[4])

    # cost = Σ |byte as signed| = Σ min(v, 256 - v); uint8 negation gives 256 - v (0 for 0)
    cost = np.minimum(cand, np.negative(cand)).sum(axis=2, dtype=np.uint32)
    # first minimum in Pillow's order of trial (None, Up, Sub, Average, Paeth), so ties go the
    # way Pillow's encoder sends them
    choice = _TRIAL_ORDER[cost[_TRIAL_ORDER].argmin(axis=0)]

    out = np.empty((n, stride + 1), np.uint8)
    out[:, 0] = choice
    out[:, 1:] = cand[choice, np.arange(n)]
    return out


class PngJob:
    """One image's encode, split into independent band tasks.

    Run every callable in ``tasks`` (in any threads, in any order), then pass their results, in
    task order, to ``finish`` for the PNG file. ``encode_png`` does both.
    """

    def __init__(self, pixels: np.ndarray, level: int = 6, band_bytes: int = BAND_BYTES):
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != _BPP:
            raise ValueError(
                f"PngJob needs an H×W×3 uint8 array, not {pixels.dtype} {pixels.shape}"
            )
        height, width = pixels.shape[:2]
        if width < 1 or height < 1:
            raise ValueError(f"PngJob needs a non-empty image, not {width}×{height}")
        if not -1 <= level <= 9:
            raise ValueError(f"zlib level must be between -1 and 9, not {level}")
        self.width, self.height, self.level = width, height, level
        self._rows = np.ascontiguousarray(pixels).reshape(height, width * _BPP)
        per_band = max(1, band_bytes // (width * _BPP + 1))
        starts = list(range(0, height, per_band))
        self._bands = [(s, min(s + per_band, height)) for s in starts]
        self.tasks: list[Callable[[], Band]] = [
            functools.partial(self._band, i) for i in range(len(self._bands))
        ]

    def _band(self, i: int) -> Band:
        t0 = time.thread_time()
        start, stop = self._bands[i]
        # Re-filter enough rows of the band above to prime the dictionary (filtering a row
        # depends only on it and the row above, so these bytes equal that band's own).
        lead = 0 if i == 0 else min(start, -(-_WINDOW // (self._rows.shape[1] + 1)))
        first = start - lead
        prev = self._rows[first - 1] if first > 0 else None
        data = filter_rows(self._rows[first:stop], prev).reshape(-1)
        head = lead * (self._rows.shape[1] + 1)
        body = data.data[head:]
        dictionary = {"zdict": data[max(0, head - _WINDOW) : head].tobytes()} if lead else {}
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15, _MEM_LEVEL, _STRATEGY, **dictionary)
        last = i == len(self._bands) - 1
        deflated = comp.compress(body) + comp.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
        return Band(deflated, zlib.adler32(body), len(body), (time.thread_time() - t0) * 1000)

    def finish(self, bands: Sequence[Band]) -> bytes:
        """Assemble the PNG file from the band results (in task order)."""
        if len(bands) != len(self._bands):
            raise ValueError(f"expected {len(self._bands)} bands, got {len(bands)}")
        adler = 1
        for band in bands:
            adler = adler32_combine(adler, band.adler, band.length)
        # CMF 0x78 (deflate, 32 KiB window); FLG: level class, check bits make it a multiple of 31
        flevel = (
            0
            if self.level in (0, 1)
            else 1
            if self.level in (2, 3, 4, 5)
            else (2 if self.level in (6, -1) else 3)
        )
        flg = flevel << 6
        flg += 31 - ((0x78 << 8) + flg) % 31
        stream = b"".join(
            [bytes((0x78, flg)), *(b.deflated for b in bands), struct.pack(">I", adler)]
        )
        ihdr = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        parts = [PNG_SIGNATURE, _chunk(b"IHDR", ihdr)]
        view = memoryview(stream)
        parts += [
            _chunk(b"IDAT", view[i : i + IDAT_BYTES]) for i in range(0, len(view), IDAT_BYTES)
        ]
        parts.append(_chunk(b"IEND", b""))
        return b"".join(parts)


def _chunk(kind: bytes, payload: bytes | memoryview) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return b"".join([struct.pack(">I", len(payload)), kind, payload, struct.pack(">I", crc)])


def encode_png(
    pixels: np.ndarray,
    level: int = 6,
    executor: Executor | None = None,
    band_bytes: int = BAND_BYTES,
) -> bytes:
    """PNG file for an H×W×3 uint8 array; bands run in ``executor`` (None: this thread).

    Don't pass an executor this call itself runs in: it waits for the bands it submits.
    """
    job = PngJob(pixels, level, band_bytes)
    if executor is None:
        return job.finish([task() for task in job.tasks])
    futures = [executor.submit(task) for task in job.tasks]
    return job.finish([f.result() for f in futures])
