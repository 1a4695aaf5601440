"""Capacity sweeps as a hostile file would hold them: a good sweep saved in a session, then its
stored JSON changed in place (as anyone with sqlite3 can), and HdrHistogram texts encoded by hand
with counts the native library cannot hold."""

from __future__ import annotations

import base64
import json
import sqlite3
import struct
import zlib
from pathlib import Path

from tfcompare.load.capacity_results import CapacityResult, LevelResult, WindowSummary
from tfcompare.load.histogram import LatencyHistogram
from tfcompare.load.load_plan import LoadPlan


def window(backend: str, level: float, index: int, rate: float = 100.0) -> WindowSummary:
    hist = LatencyHistogram()
    n = int(rate)
    for i in range(n):
        hist.record_ms(5.0 + (i % 10))
    return WindowSummary(
        backend=backend,
        variant="original",
        level=level,
        index=index,
        start=1_700_000_000.0 + index,
        duration_s=1.0,
        sent=n,
        ok=n,
        in_flight_mean=level,
        loop_busy=0.1,
        cpu=0.1,
        cores=2,
        hist=hist,
    )


def good_sweep(backends=("gpu", "cpu"), levels=(1, 2, 4)) -> CapacityResult:
    """Three stable levels per backend, three windows each (what a short real sweep holds)."""
    out = []
    for b, backend in enumerate(backends):
        for level in levels:
            rate = 100.0 * level / (b + 1)
            windows = [window(backend, level, i, rate) for i in range(3)]
            out.append(LevelResult(backend, "original", "concurrency", level, windows, True, 3))
    return CapacityResult(
        plan=LoadPlan(levels=tuple(levels), latency_limit_ms=100.0).to_dict(),
        backends=[{"name": b, "target": "127.0.0.1:1"} for b in backends],
        variants={"original": {"label": "original", "bytes": 1000}},
        levels=out,
        started_at=1_700_000_000.0,
        finished_at=1_700_000_100.0,
    )


def sweep_session(path: Path, damage=None, sweep: CapacityResult | None = None) -> Path:
    """A session holding ``sweep`` (default: :func:`good_sweep`) whose stored JSON ``damage(doc)``
    changed in place."""
    from tfcompare.load.capacity_formats import save_capacity

    save_capacity(path, sweep or good_sweep())
    if damage is not None:
        damage_sweep(path, damage)
    return path


def damage_sweep(path: Path, damage) -> Path:
    """The sweep stored in session ``path`` changed in place by ``damage(doc)``."""
    con = sqlite3.connect(path)
    with con:
        doc = json.loads(con.execute("SELECT doc FROM capacity").fetchone()[0])
        damage(doc)
        con.execute("UPDATE capacity SET doc = ?", (json.dumps(doc),))
    con.close()
    return path


def _varint(value: int) -> bytes:
    """HdrHistogram's LEB128 form of a zig-zag-encoded 64-bit value (at most 9 bytes)."""
    out = bytearray()
    for _ in range(8):
        if value < 0x80:
            out.append(value)
            return bytes(out)
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value & 0xFF)
    return bytes(out)


def hdr_text(counts: dict[int, int], lowest=1, highest=600_000_000, digits=3) -> str:
    """An HdrHistogram V2 text with ``counts`` (counter index → count), encoded here so counts
    the native encoder cannot write (2^62 and more) can still be put in a file."""
    body = bytearray()
    previous = -1
    for index in sorted(counts):
        gap = index - previous - 1
        if gap:
            body += _varint(2 * gap - 1)  # zig-zag of -gap: a run of zero counters
        body += _varint((counts[index] << 1) & 0xFFFFFFFFFFFFFFFF)
        previous = index
    header = struct.pack(">IIIIQQd", 0x1C849303, len(body), 0, digits, lowest, highest, 1.0)
    packed = zlib.compress(header + bytes(body))
    return base64.b64encode(struct.pack(">II", 0x1C849304, len(packed)) + packed).decode()
