"""Mergeable latency histograms (HdrHistogram, via the ``hdrhistogram`` package).

Latencies are recorded in microseconds from 1 µs to 10 minutes with 3 significant digits, so any
percentile is within 0.1 % of the exact sample value. Two histograms with these settings merge
exactly (bucket counts add up), which is what lets windows be combined into a level and several
load agents' windows be combined into one. The text form is HdrHistogram's standard compressed
base64 encoding, readable by every HdrHistogram implementation.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 600_000_000
DIGITS = 3


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
        try:
            hdr = HdrHistogram.decode(text.encode("ascii"))
        except Exception as exc:  # the library raises several types for damaged input
            raise ValueError(f"not an HdrHistogram encoding: {exc}") from None
        if hdr is None:
            raise ValueError("not an HdrHistogram encoding")
        # re-home into our settings so that later merges stay exact
        return cls().merge(cls(hdr))
