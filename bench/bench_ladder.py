"""Benchmark (a): tfcompare's variant ladder vs the naive method, on a 24-megapixel JPEG photo.

Naive method: for every size, open the full image, Pillow ``thumbnail()`` with its default settings,
encode each format (same encoder settings as the ladder). Both make the default ladder
(2048/1024/512/256/128 × JPEG q90 + PNG level 6). Prints the median of a few runs of each, the
ratio (target: ladder ≥ 4× faster), checks that both give the same output sizes, and reports how
far each method's pixels are from a "fair" reference (full decode, LANCZOS straight to each size),
as PSNR, so the speed is not bought with quality. It also prints the cost of the single largest
PNG encode (Pillow's, and the ladder's banded writer with 1 and with all worker threads) and the
same comparison for a JPEG-only ladder. ``--compare-png`` also times the ladder with its banded PNG
writer against the ladder with Pillow's PNG encoder, with 1 worker thread and with ``--threads``.
``--compare-jpeg`` times the default and the JPEG-only ladder with JPEGs encoded into a ``BytesIO``
(Pillow holds the GIL) against into an in-memory file (the ladder's way: GIL released), with 1
worker thread and with ``--threads``, the two ways alternating run by run.

    python bench/bench_ladder.py [--runs 5] [--image PHOTO.jpg] [--threads N] [--compare-png]
                                 [--compare-jpeg]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from tfcompare.imaging import PNG_COMPRESS_LEVEL, build_ladder, fit_size
from tfcompare.imaging import ladder as ladder_module
from tfcompare.imaging.png import encode_png
from tfcompare.settings import RunSettings

EXECUTOR: ThreadPoolExecutor | None = None  # None: build_ladder's own pool


def make_photo(folder: Path) -> Path:
    """A scikit-image photo upscaled to 6000×4000 (24 MP), saved as JPEG q95."""
    from skimage import data

    path = folder / "photo-24mp.jpg"
    img = Image.fromarray(data.astronaut()).resize((6000, 4000), Image.Resampling.LANCZOS)
    img.save(path, "JPEG", quality=95)
    return path


def naive(path: Path, settings: RunSettings) -> dict[str, tuple[int, int, bytes]]:
    """What a straightforward script does: re-open and thumbnail the full image for every size."""
    out = {}
    for box in settings.sizes:
        im = Image.open(path)
        im.thumbnail((box, box))
        if im.mode != "RGB":
            im = im.convert("RGB")
        for fmt in settings.formats:
            buf = io.BytesIO()
            if fmt == "jpeg":
                im.save(buf, "JPEG", quality=settings.jpeg_quality)
            else:
                im.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
            out[f"{box}-{fmt}"] = (im.width, im.height, buf.getvalue())
    return out


def ladder(path: Path, settings: RunSettings) -> dict[str, tuple[int, int, bytes]]:
    info = build_ladder(path, settings, executor=EXECUTOR)
    return {v.key: (v.width, v.height, v.data) for v in info.variants if v.box}


def timed(fn, *args, runs: int) -> tuple[float, list[float], dict]:
    times, result = [], {}
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("RGB"), np.float64)
    y = np.asarray(b.convert("RGB"), np.float64)
    mse = float(((x - y) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def compare(path: Path, settings: RunSettings, runs: int, ref: dict[int, Image.Image]) -> bool:
    """Time both methods on one ladder definition, print the table; True when sizes agree."""
    ladder(path, settings)  # warm caches (file, imports, thread pool) for both methods alike
    t_naive, all_naive, out_naive = timed(naive, path, settings, runs=runs)
    t_ladder, all_ladder, out_ladder = timed(ladder, path, settings, runs=runs)
    print(
        f"naive  (thumbnail per size): median {t_naive * 1000:7.0f} ms  "
        f"runs {[round(t * 1000) for t in all_naive]}"
    )
    print(
        f"ladder (build_ladder)      : median {t_ladder * 1000:7.0f} ms  "
        f"runs {[round(t * 1000) for t in all_ladder]}"
    )
    print(f"speed-up: {t_naive / t_ladder:.2f}×")
    same = out_naive.keys() == out_ladder.keys()
    print(
        "variant      naive size   ladder size  naive KB ladder KB  PSNR vs fair (naive / ladder)"
    )
    for key in sorted(out_naive, key=lambda k: (-int(k.split("-")[0]), k)):
        nw, nh, nd = out_naive[key]
        lw, lh, ld = out_ladder.get(key, (0, 0, b""))
        same &= (nw, nh) == (lw, lh)
        r = ref[int(key.split("-")[0])]
        pn = psnr(Image.open(io.BytesIO(nd)), r)
        pl = psnr(Image.open(io.BytesIO(ld)), r) if ld else float("nan")
        print(
            f"{key:10s} {nw:5d}×{nh:<5d} {lw:5d}×{lh:<5d} {len(nd) / 1024:9.0f} {len(ld) / 1024:9.0f}"
            f"   {pn:5.1f} / {pl:5.1f} dB"
        )
    print("same output sizes:", "yes" if same else "NO")
    return same


def compare_png_writers(path: Path, threads: int, runs: int) -> None:
    """The default ladder with the banded PNG writer vs with Pillow's encoder for every PNG."""
    global EXECUTOR
    banded = ladder_module.PARALLEL_PNG_MIN_PIXELS
    settings = RunSettings()
    for n in sorted({1, threads}):
        EXECUTOR = ThreadPoolExecutor(n)
        try:
            row = []
            for label, threshold in (("Pillow PNG", 10**12), ("banded PNG", banded)):
                ladder_module.PARALLEL_PNG_MIN_PIXELS = threshold
                ladder(path, settings)  # warm
                t, all_t, _ = timed(ladder, path, settings, runs=runs)
                row.append(t)
                print(
                    f"{n} worker thread(s), {label}: median {t * 1000:5.0f} ms  "
                    f"runs {[round(x * 1000) for x in all_t]}"
                )
            print(f"{n} worker thread(s): banded / Pillow = {row[1] / row[0]:.2f}")
        finally:
            ladder_module.PARALLEL_PNG_MIN_PIXELS = banded
            EXECUTOR.shutdown()
            EXECUTOR = None


def gil_probe(image: Image.Image, runs: int) -> None:
    """CPU time a pure-Python thread gets while another thread encodes the same JPEGs: it can
    only run while the encoder does not hold the GIL. Both ways alternate, so load affects both."""
    import threading

    saved = ladder_module.ENCODE_JPEG_TO_FILE
    got: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(runs):
            for to_file in (False, True):
                ladder_module.ENCODE_JPEG_TO_FILE = to_file
                done = threading.Event()

                def encode(done: threading.Event = done) -> None:
                    for _ in range(3):
                        ladder_module._encode(image, "jpeg", 90)
                    done.set()

                worker = threading.Thread(target=encode)
                cpu0 = time.thread_time()
                worker.start()
                while not done.is_set():
                    pass
                got[to_file].append(time.thread_time() - cpu0)
                worker.join()
    finally:
        ladder_module.ENCODE_JPEG_TO_FILE = saved
    old, new = statistics.median(got[False]), statistics.median(got[True])
    print(
        f"GIL probe (3 encodes of the 2048 px JPEG in a worker): a Python thread beside it got "
        f"{old * 1000:.0f} ms CPU with BytesIO, {new * 1000:.0f} ms with the file ({new / old:.2f}×)"
    )


def compare_jpeg_paths(path: Path, threads: int, runs: int) -> None:
    """JPEG into BytesIO vs into an in-memory file, on the default and the JPEG-only ladder."""
    global EXECUTOR
    saved = ladder_module.ENCODE_JPEG_TO_FILE
    for label, settings in (
        ("default ladder", RunSettings()),
        ("JPEG-only ladder", RunSettings(formats=("jpeg",))),
    ):
        for n in sorted({1, threads}):
            EXECUTOR = ThreadPoolExecutor(n)
            times: dict[bool, list[float]] = {False: [], True: []}
            try:
                for to_file in (False, True):  # warm both
                    ladder_module.ENCODE_JPEG_TO_FILE = to_file
                    ladder(path, settings)
                for _ in range(runs):
                    for to_file in (False, True):
                        ladder_module.ENCODE_JPEG_TO_FILE = to_file
                        times[to_file].append(timed(ladder, path, settings, runs=1)[0])
            finally:
                ladder_module.ENCODE_JPEG_TO_FILE = saved
                EXECUTOR.shutdown()
                EXECUTOR = None
            old, new = statistics.median(times[False]), statistics.median(times[True])
            print(
                f"{label}, {n} worker thread(s): JPEG into BytesIO median {old * 1000:5.0f} ms "
                f"runs {[round(x * 1000) for x in times[False]]}; into a file median "
                f"{new * 1000:5.0f} ms runs {[round(x * 1000) for x in times[True]]}; "
                f"speed-up {old / new:.2f}×"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image", type=Path, help="use this JPEG instead of the generated photo")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="worker threads for the ladder (default: build_ladder's own pool)",
    )
    ap.add_argument(
        "--compare-png",
        action="store_true",
        help="also time the ladder's banded PNG writer against Pillow's encoder",
    )
    ap.add_argument(
        "--compare-jpeg",
        action="store_true",
        help="also time JPEG encodes into BytesIO against into an in-memory file",
    )
    args = ap.parse_args(argv)
    global EXECUTOR
    if args.threads:
        EXECUTOR = ThreadPoolExecutor(args.threads)
    default = RunSettings()  # the default ladder: 2048..128 × JPEG q90 + PNG level 6
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.image or make_photo(Path(tmp))
        full = Image.open(path).convert("RGB")
        print(
            f"source: {path.name} {full.width}×{full.height} "
            f"({full.width * full.height / 1e6:.1f} MP, {path.stat().st_size / 2**20:.1f} MB)"
        )
        ref = {
            b: full.resize(fit_size(*full.size, b), Image.Resampling.LANCZOS) for b in default.sizes
        }

        print("\n== default ladder (JPEG q90 + PNG), target ≥ 4× ==")
        ok = compare(path, default, args.runs, ref)
        # The one encode no pipeline can split: Pillow's PNG of the largest variant.
        floor = statistics.median(
            timed(
                lambda: ref[2048].save(io.BytesIO(), "PNG", compress_level=PNG_COMPRESS_LEVEL),
                runs=args.runs,
            )[1]
        )
        print(
            f"floor: one PNG level-{PNG_COMPRESS_LEVEL} encode of the 2048 px variant alone "
            f"takes {floor * 1000:.0f} ms with Pillow"
        )
        arr = np.asarray(ref[2048])
        workers = args.threads or ladder_module._default_pool()._max_workers
        with ThreadPoolExecutor(workers) as pool:
            for n, ex in ((1, None), (workers, pool)):
                t = statistics.median(
                    timed(lambda ex=ex: encode_png(arr, PNG_COMPRESS_LEVEL, ex), runs=args.runs)[1]
                )
                print(
                    f"       banded writer (png.encode_png), {n} thread(s): {t * 1000:.0f} ms "
                    f"({floor / t:.2f}× Pillow)"
                )

        print("\n== JPEG-only ladder (decode + resize + JPEG: the part the pipeline changes) ==")
        ok &= compare(path, RunSettings(formats=("jpeg",)), args.runs, ref)

        if args.compare_jpeg:
            print("\n== JPEG encodes: into BytesIO (GIL held) vs into a file (GIL released) ==")
            gil_probe(ref[2048], args.runs)
            compare_jpeg_paths(path, args.threads or workers, args.runs)

        if args.compare_png:
            print("\n== default ladder: banded PNG writer vs Pillow's PNG encoder ==")
            compare_png_writers(path, args.threads or workers, args.runs)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
