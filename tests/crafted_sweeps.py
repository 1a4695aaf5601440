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


_GOOD_SESSION: list[bytes] = []  # the default sweep's session file, saved once per test run


def sweep_session(path: Path, damage=None, sweep: CapacityResult | None = None) -> Path:
    """A session holding ``sweep`` (default: :func:`good_sweep`) whose stored JSON ``damage(doc)``
    changed in place. The default sweep is saved once and its file copied (saving computes each
    level's figures from its histograms, the costly part)."""
    from tfcompare.load.capacity_formats import save_capacity

    if sweep is not None:
        save_capacity(path, sweep)
    elif _GOOD_SESSION:
        path.write_bytes(_GOOD_SESSION[0])
    else:
        save_capacity(path, good_sweep())
        _GOOD_SESSION.append(path.read_bytes())
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


# --------------------------------------------------------------------------- sweeps built by hand


def hist_of(samples_ms):
    """A latency histogram of these samples (ms)."""
    h = LatencyHistogram()
    for ms in samples_ms:
        h.record_ms(ms)
    return h


def level_window(
    index,
    rate,
    p99_ms,
    *,
    level=4.0,
    backend="a",
    variant="original",
    dur=1.0,
    in_flight=None,
    busy=0.1,
    errors=None,
):
    """A window of ``rate`` answers per second for ``dur`` s whose p99 is ``p99_ms`` (the rest
    take half as long)."""
    n = int(rate * dur)
    samples = [p99_ms * 0.5] * (n - max(1, n // 50)) + [p99_ms] * max(1, n // 50)
    return WindowSummary(
        backend=backend,
        variant=variant,
        level=level,
        index=index,
        start=1000.0 + index,
        duration_s=dur,
        sent=n,
        ok=n,
        errors=errors or {},
        in_flight_mean=level if in_flight is None else in_flight,
        loop_busy=busy,
        cpu=busy,
        hist=hist_of(samples),
    )


def stable_levels(backend, rates):
    """Stable levels 1, 2 and 4 of one backend on the original, at the given rates (req/s)."""
    return [
        LevelResult(
            backend,
            "original",
            "concurrency",
            c,
            [level_window(i, r, 10.0, level=c, backend=backend) for i in range(3)],
            stable=True,
            counted=3,
        )
        for c, r in zip((1, 2, 4), rates)
    ]


def sweep_result(rates_by_backend, limit=100.0):
    """A finished sweep: for each backend, stable levels 1, 2 and 4 at the given rates (req/s)."""
    levels = []
    for backend, rates in rates_by_backend.items():
        levels += stable_levels(backend, rates)
    return CapacityResult(
        plan=LoadPlan(latency_limit_ms=limit).to_dict(),
        backends=[{"name": b, "target": "127.0.0.1:1"} for b in rates_by_backend],
        variants={"original": {"label": "original", "bytes": 1000}},
        levels=levels,
    )


def damaged_sweep_session(path, damage, rates=None):
    """A session holding a sweep whose stored form ``damage(doc)`` changed in place, as a hostile
    or broken file would have it."""
    import sqlite3

    from tfcompare.load.capacity_formats import save_capacity

    save_capacity(path, sweep_result(rates or {"gpu": (100, 200, 400)}))
    with sqlite3.connect(path) as con:
        doc = json.loads(con.execute("SELECT doc FROM capacity").fetchone()[0])
        damage(doc)
        con.execute("UPDATE capacity SET doc = ?", (json.dumps(doc),))
    return path


def bomb_in_a_window(doc, size_mb=200):
    """Damage for :func:`damaged_sweep_session`: the first window's histogram inflates to
    ``size_mb`` MB."""
    doc["levels"][0]["windows"][0]["hist"] = inflating(size_mb, hdr_header())


def inflating(size_mb: int, header: bytes) -> str:
    """An HdrHistogram-shaped text whose zlib part inflates to ``size_mb`` MB: ``header`` and
    then zeros, a valid zlib stream (checksum included). Each megabyte of zeros is compressed
    with a full flush, which resets the compressor, so every one compresses to the same bytes:
    one is compressed and repeated, instead of compressing a gigabyte."""
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: header and checksum below
    parts = [raw.compress(header), raw.flush(zlib.Z_FULL_FLUSH)]
    megabyte = raw.compress(bytes(1 << 20)) + raw.flush(zlib.Z_FULL_FLUSH)
    parts += [megabyte] * size_mb
    parts.append(raw.flush())  # the final (empty) block
    # Adler-32 of the header, then of n zero bytes: a stays, b grows by n·a (RFC 1950)
    adler = zlib.adler32(header)
    a, b = adler & 0xFFFF, adler >> 16
    b = (b + (size_mb << 20) * a) % 65521
    body = b"\x78\xda" + b"".join(parts) + struct.pack(">I", (b << 16) | a)
    return base64.b64encode(struct.pack(">II", 0x1C849304, len(body)) + body).decode()


def hdr_header(digits=3, lowest=1, highest=600_000_000) -> bytes:
    import struct

    return struct.pack(">IIIIQQd", 0x1C849303, 0, 0, digits, lowest, highest, 1.0)
