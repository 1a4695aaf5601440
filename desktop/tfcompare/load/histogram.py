"""Mergeable latency histograms (HdrHistogram, via the ``hdrhistogram`` package).

Latencies are recorded in microseconds from 1 µs to 10 minutes with 3 significant digits, so any
percentile is within 0.1 % of the exact sample value. Two histograms with these settings merge
exactly (bucket counts add up), which is what lets windows be combined into a level and several
load agents' windows be combined into one. The text form is HdrHistogram's standard compressed
base64 encoding, readable by every HdrHistogram implementation.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 600_000_000
DIGITS = 3

# The encoding: an 8-byte header (cookie, length), then zlib of a 40-byte header (cookie, length,
# index offset, significant digits, lowest, highest, ratio) and one varint (≤ 9 bytes) per counter.
_HEADER = struct.Struct(">IIIIQQd")
_MAX_PAYLOAD = _HEADER.size + 9 * HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS).counts_len
_MAX_TEXT = 2 * _MAX_PAYLOAD  # base64 of zlib of at most _MAX_PAYLOAD bytes, with room to spare


def _check_encoding(text: str) -> None:
    """Refuse what would make HdrHistogram's decoder allocate or work without bound: texts come
    from session files and load agents' logs, and a few kilobytes of zlib can inflate to
    gigabytes, or a header can ask for a histogram of billions of counters."""
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


class LatencyHistogram:
    """Latency samples in µs; percentiles in ms."""

    __slots__ = ("_h",)

    def __init__(self, hdr: HdrHistogram | None = None) -> None:
        self._h = hdr if hdr is not None else HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record_s(self, seconds: float) -> None:
        us = int(seconds * 1_000_000)
        self._h.record_value(min(max(us, LOWEST_US), HIGHEST_US))

    def record_ms(self, ms: float) -> None:
        self.record_s(ms / 1000.0)

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        """Add ``other``'s samples to this histogram (exact); returns self."""
        self._h.add(other._h)
        return self

    def copy(self) -> LatencyHistogram:
        return LatencyHistogram().merge(self)

    @classmethod
    def merged(cls, parts) -> LatencyHistogram:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_ms(self, pct: float) -> float | None:
        if self.count == 0:
            return None
        return self._h.get_value_at_percentile(pct) / 1000.0

    def max_ms(self) -> float | None:
        return self._h.get_max_value() / 1000.0 if self.count else None

    def mean_ms(self) -> float | None:
        return self._h.get_mean_value() / 1000.0 if self.count else None

    def encode(self) -> str:
        """HdrHistogram's compressed base64 form ("" when empty)."""
        return self._h.encode().decode("ascii") if self.count else ""

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        if not text:
            return cls()
        if not isinstance(text, str):
            raise ValueError("not an HdrHistogram encoding: not text")
        try:
            _check_encoding(text)
            hdr = HdrHistogram.decode(text.encode("ascii"))
        except Exception as exc:  # the library raises several types for damaged input
            raise ValueError(f"not an HdrHistogram encoding: {exc}") from None
        if hdr is None:
            raise ValueError("not an HdrHistogram encoding")
        # re-home into our settings so that later merges stay exact
        return cls().merge(cls(hdr))
