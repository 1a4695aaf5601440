"""Mergeable latency histograms (HdrHistogram, via the ``hdrhistogram`` package).

Latencies are recorded in microseconds from 1 µs to 10 minutes with 3 significant digits, so any
percentile is within 0.1 % of the exact sample value. Two histograms with these settings merge
exactly (bucket counts add up), which is what lets windows be combined into a level and several
load agents' windows be combined into one. The text form is HdrHistogram's standard compressed
base64 encoding, readable by every HdrHistogram implementation.

A histogram with these settings is an array of 21,504 64-bit counters (168 KiB). Only histograms
that are recorded into or merged into hold one; an empty histogram holds nothing and a decoded one
keeps its compact text (a few KiB), decoded again when a figure is asked of it. A sweep of
thousands of windows read from a file therefore costs the size of its text, not 168 KiB a window.

The native codec writes each counter as a zig-zag varint of at most 9 bytes: encoding a counter
of 2^63 or more overruns its buffer and corrupts the heap (``free(): invalid pointer``, the process
aborts), and a counter of 2^62 or more does not decode. Counts read from outside are bounded by
``MAX_COUNT`` and merges by ``MAX_MERGED``, so no counter ever comes near either.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 600_000_000
DIGITS = 3
#: The most samples a histogram read from outside (session file, agent log) may hold: 2^40, about
#: 1.1e12 — a million answers a second for 12 days. A level is at most 100 windows of at most an
#: hour (``tfcompare.load.load_plan``), 3.6e11 answers at a million a second.
MAX_COUNT = 2**40
#: The most samples a merge may produce: 2^53 (exact as a float), far below the 2^62 the native
#: codec can hold.
MAX_MERGED = 2**53

# The encoding: an 8-byte header (cookie, length), then zlib of a 40-byte header (cookie, length,
# index offset, significant digits, lowest, highest, ratio) and one varint (≤ 9 bytes) per counter.
_HEADER = struct.Struct(">IIIIQQd")
_COUNTERS = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS).counts_len  # 21,504: one per bucket
_MAX_PAYLOAD = _HEADER.size + 9 * _COUNTERS
_MAX_TEXT = 2 * _MAX_PAYLOAD  # base64 of zlib of at most _MAX_PAYLOAD bytes, with room to spare


def _check_encoding(text: str) -> bool:
    """Refuse what would make HdrHistogram's decoder allocate or work without bound: texts come
    from session files and load agents' logs, and a few kilobytes of zlib can inflate to
    gigabytes, or a header can ask for a histogram of billions of counters. True when the
    settings are exactly ours (the text can be kept as it is)."""
    if len(text) > _MAX_TEXT:
        raise ValueError(f"{len(text):,} characters, more than any latency histogram holds")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64 ({exc})") from None
    inflate = zlib.decompressobj()
    try:
        payload = inflate.decompress(raw[8:], _MAX_PAYLOAD + 1)
    except zlib.error as exc:
        raise ValueError(f"not zlib data ({exc})") from None
    if len(payload) > _MAX_PAYLOAD or inflate.unconsumed_tail:
        raise ValueError("it inflates to more than any latency histogram holds")
    if len(payload) < _HEADER.size:
        raise ValueError("too short")
    _, _, _, digits, lowest, highest, _ = _HEADER.unpack_from(payload)
    if not (1 <= digits <= DIGITS and LOWEST_US <= lowest < highest <= HIGHEST_US):
        raise ValueError(
            f"its settings (values {lowest}–{highest}, {digits} digits) are outside "
            f"a latency histogram's ({LOWEST_US}–{HIGHEST_US} µs, {DIGITS} digits)"
        )
    return (digits, lowest, highest) == (DIGITS, LOWEST_US, HIGHEST_US)


class LatencyHistogram:
    """Latency samples in µs; percentiles in ms.

    Empty (nothing allocated), live (an HdrHistogram being recorded or merged into) or stored
    (the validated text it was decoded from, its count and the figures asked of it so far).
    """

    __slots__ = ("_h", "_text", "_count", "_memo")

    def __init__(self) -> None:
        self._h: HdrHistogram | None = None
        self._text = ""
        self._count = 0
        self._memo: dict = {}

    def _live(self) -> HdrHistogram:
        """The histogram to record or merge into (allocated, or decoded from the text, now)."""
        if self._h is None:
            self._h = _decoded(self._text) if self._text else _empty()
            self._text = ""
            self._memo = {}
        return self._h

    def _view(self) -> HdrHistogram | None:
        """The counters to read: the live histogram, a transient decode of the text, or None."""
        if self._h is not None:
            return self._h
        return _decoded(self._text) if self._text else None

    def record_s(self, seconds: float) -> None:
        us = int(seconds * 1_000_000)
        self._live().record_value(min(max(us, LOWEST_US), HIGHEST_US))

    def record_ms(self, ms: float) -> None:
        self.record_s(ms / 1000.0)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s samples to this histogram (exact); returns self. ValueError when the
        sum would hold more than ``MAX_MERGED`` samples."""
        if not other.count:
            return self
        if self.count + other.count > MAX_MERGED:
            raise ValueError(
                f"merging histograms of {self.count:,} and {other.count:,} samples: more than "
                f"the {MAX_MERGED:,} a latency histogram holds"
            )
        source = other._view()
        self._live().add(source)
        return self

    def copy(self) -> LatencyHistogram:
        return LatencyHistogram().merge(self)

    def compact(self) -> LatencyHistogram:
        """Keep only the text form (a few KiB instead of 168 KiB) until recorded into again;
        returns self."""
        if self._h is not None:
            self._count = self.count
            self._text = self._h.encode().decode("ascii") if self._count else ""
            self._h = None
            self._memo = {}
        return self

    @classmethod
    def merged(cls, parts) -> LatencyHistogram:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    @property
    def count(self) -> int:
        if self._h is not None:
            return int(self._h.get_total_count())
        return self._count

    def _figure(self, key, read):
        if not self.count:
            return None
        if self._h is not None:
            return read(self._h)
        if key not in self._memo:
            self._memo[key] = read(self._view())
        return self._memo[key]

    def percentile_ms(self, pct: float) -> float | None:
        return self._figure(("p", pct), lambda h: h.get_value_at_percentile(pct) / 1000.0)

    def max_ms(self) -> float | None:
        return self._figure("max", lambda h: h.get_max_value() / 1000.0)

    def mean_ms(self) -> float | None:
        return self._figure("mean", lambda h: h.get_mean_value() / 1000.0)

    def encode(self) -> str:
        """HdrHistogram's compressed base64 form ("" when empty)."""
        if self._h is None:
            return self._text
        return self._h.encode().decode("ascii") if self.count else ""

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        """A histogram from its text form; ValueError for anything but a latency histogram of at
        most ``MAX_COUNT`` samples."""
        if not text:
            return cls()
        if not isinstance(text, str):
            raise ValueError("not an HdrHistogram encoding: not text")
        try:
            same_settings = _check_encoding(text)
            hdr = HdrHistogram.decode(text.encode("ascii"))
        except Exception as exc:  # the library raises several types for damaged input
            raise ValueError(f"not an HdrHistogram encoding: {exc}") from None
        if hdr is None:
            raise ValueError("not an HdrHistogram encoding")
        count = _checked_count(hdr)
        out = cls()
        if not count:
            return out
        if same_settings:
            out._text, out._count = text, count
            return out
        # other settings: re-home into ours so that later merges stay exact
        return out.merge(_wrapped(hdr)).compact()


def _empty() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def _decoded(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def _wrapped(hdr: HdrHistogram) -> LatencyHistogram:
    out = LatencyHistogram()
    out._h = hdr
    return out


def _checked_count(hdr: HdrHistogram) -> int:
    """The samples a decoded histogram holds, counted here (the native decoder's own total wraps
    around at 2^64); ValueError beyond ``MAX_COUNT``."""
    counts = np.frombuffer(hdr.counts, dtype=np.uint64)
    largest = int(counts.max()) if counts.size else 0
    total = int(counts.sum(dtype=np.uint64)) if largest <= MAX_COUNT else largest
    if total > MAX_COUNT:
        raise ValueError(
            f"it holds {_big(total)} samples, more than any sweep records "
            f"(tfcompare reads at most {MAX_COUNT:,} per histogram)"
        )
    if total != hdr.get_total_count():
        hdr.total_count = total
    return total


def _big(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"{n:.3g}"
