"""Server time from TF Serving's metrics: what scraping costs, and whether the figures are right.

One local backend (``tfcompare serve``, EfficientNet-Lite0 — the demo's model — REST on for its
metrics, ``--log-request-times`` so it logs its own time for every request) is measured over gRPC
and REST (backends take turns). In one run of this script:

- **scrape cost**: wall time of a whole comparison with server metrics on vs off (``metrics=off``),
  runs alternating off/on; ratio = median over pairs of (on / off) − 1. Target ≤ 2 %. On a busy
  machine that ratio swings by more than the cost itself, so the time spent inside the scrapes
  (timed around them in the "on" runs) is also reported as a share of those runs' wall time.
- **accuracy**: for every block of measured requests marked exact, the reported server time ÷
  the mean of the server's own logged times for those requests (matched by time: requests go one
  at a time); reported as the largest |ratio − 1|. Target ≤ 10 %.
- **path vs floor**: per block, (latency − server time) ÷ the backend's path floor (p50 round trip
  of a model-status call); reported as the smallest ratio and the share of blocks ≥ 0.8.

usage: python bench/bench_server_time.py [--pairs 3] [--threads 2] [--sizes 1024,512,256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def start_server(base: Path, threads: int, log: Path) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "serve",
            str(base),
            "--port",
            "0",
            "--rest-port",
            "0",
            "--threads",
            str(threads),
            "--model-name",
            "m",
            "--exit-with-parent",
            "--log-request-times",
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY "):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return proc, fields["grpc"], fields["rest"]
    raise SystemExit("the backend did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=3, help="off/on run pairs (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="server TensorFlow threads")
    ap.add_argument("--sizes", default="1024,512,256", help="size boxes (default 1024,512,256)")
    ap.add_argument("--repeats", type=int, default=3, help="measured requests per variant")
    args = ap.parse_args()

    from tfcompare.demo import DEMO_MODEL, ensure_model, sample_images
    from tfcompare.runner import Runner, server_clock
    from tfcompare.serving.backend_spec import BackendSpec
    from tfcompare.serving.server_metrics import METRICS_PATH
    from tfcompare.settings import RunSettings

    spent = [0.0]
    original_scrape = server_clock.ServerClock.scrape

    def timed_scrape(self):
        t0 = time.perf_counter()
        try:
            return original_scrape(self)
        finally:
            spent[0] += time.perf_counter() - t0

    server_clock.ServerClock.scrape = timed_scrape  # type: ignore[method-assign]
    base = ensure_model(DEMO_MODEL)
    images = sample_images()
    settings = RunSettings(
        sizes=tuple(int(s) for s in args.sizes.split(",")),
        formats=("jpeg", "png"),
        warmup=1,
        repeats=args.repeats,
        concurrent=False,
    )
    log = Path(tempfile.mkdtemp(prefix="bench-server-time-")) / "requests.jsonl"
    proc, grpc_addr, rest_addr = start_server(base, args.threads, log)
    url = f"http://{rest_addr}{METRICS_PATH}"
    on = [
        BackendSpec("grpc", grpc_addr, model="m", metrics=url),
        BackendSpec("rest", rest_addr, protocol="rest", model="m", metrics=url),
    ]
    off = [replace(s, metrics="off") for s in on]
    try:
        Runner(off, replace(settings, sizes=(256,))).run(
            images[:1]
        )  # first-use costs out of the way
        walls: dict[str, list[float]] = {"off": [], "on": []}
        results, shares = [], []
        for i in range(args.pairs):
            order = (("off", off), ("on", on)) if i % 2 == 0 else (("on", on), ("off", off))
            for label, specs in order:
                spent[0] = 0.0
                t0 = time.perf_counter()
                result = Runner(specs, settings).run(images)
                walls[label].append(time.perf_counter() - t0)
                if label == "on":
                    results.append(result)
                    shares.append(spent[0] / walls["on"][-1])
    finally:
        proc.terminate()
        proc.wait(20)

    ratios = [on_s / off_s for on_s, off_s in zip(walls["on"], walls["off"], strict=True)]
    logged = sorted(
        (json.loads(line) for line in log.read_text().splitlines()), key=lambda x: x["t"]
    )
    times = [x["t"] for x in logged]
    import bisect

    accuracy, path_ratios, inexact, blocks = [], [], 0, 0
    for result in results:
        floors = {t.backend: t.floor_ms for t in result.timings}
        for st in result.server_times:
            blocks += 1
            if not st.exact or st.server_ms is None:
                inexact += 1
                continue
            reqs = [
                r
                for r in result.measured
                if (r.image, r.variant, r.backend) == (st.image, st.variant, st.backend) and r.ok
            ]
            own = [logged[bisect.bisect_left(times, r.started_at)]["request_us"] for r in reqs]
            accuracy.append(st.server_ms / (statistics.fmean(own) / 1000))
            mean_latency = statistics.fmean(r.latency_ms for r in reqs)
            path_ratios.append((mean_latency - st.server_ms) / floors[st.backend])

    print(
        f"backend: {DEMO_MODEL}, {args.threads} server threads, gRPC + REST in turns; "
        f"{len(images)} images × {len(settings.sizes) * 2 + 1} variants, warm-up 1 + "
        f"{args.repeats} measured; {args.pairs} off/on pairs"
    )
    print(
        f"wall time off: {', '.join(f'{w:.2f}' for w in walls['off'])} s; "
        f"on: {', '.join(f'{w:.2f}' for w in walls['on'])} s"
    )
    print(
        f"scrape cost: median(on/off) - 1 = {100 * (statistics.median(ratios) - 1):+.2f} % "
        f"(target ≤ 2 %); time inside scrapes: median {100 * statistics.median(shares):.2f} % "
        f"of an 'on' run's wall time"
    )
    print(f"blocks: {blocks}, exact: {blocks - inexact}")
    if accuracy:
        worst = max(abs(a - 1) for a in accuracy)
        print(
            f"reported server time / server's own log: median {statistics.median(accuracy):.4f}, "
            f"worst |ratio − 1| = {100 * worst:.2f} % (target ≤ 10 %)"
        )
        ok = sum(1 for p in path_ratios if p >= 0.8)
        print(
            f"(latency − server) / floor: min {min(path_ratios):.2f}, median "
            f"{statistics.median(path_ratios):.2f}; ≥ 0.8 in {ok}/{len(path_ratios)} blocks"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
