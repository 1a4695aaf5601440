"""Bench (d): a round to 3 backends vs the slowest backend alone.

The runner measures every backend in parallel (one worker per backend), so a round to several backends
should take about as long as the slowest one alone (target ≤ 1.15×). Three local `tfcompare serve`
backends of the tiny test model are started; each is first run alone, then all three together,
alternating, and the medians are compared.

On a machine with fewer cores than backends, the backends' own TensorFlow work competes for the CPU
(unlike separate pods), so the script also reports the backends' summed CPU time per round: it tells
apart runner overhead from CPU contention between servers.

Usage: python bench/bench_round.py [--rounds 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from backends import export_model, start_backends  # noqa: E402
from images import photo, save  # noqa: E402

from tfcompare.runner import Runner  # noqa: E402
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,1,2", help="TF threads of the three backends")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-round-"))
    model = export_model("tiny", tmp / "tiny")
    threads = [int(t) for t in args.threads.split(",")]
    backends = start_backends([dict(threads=t, log_dir=tmp) for t in threads], model)
    try:
        images = [save(photo(n), tmp / f"{n}.jpg") for n in ("chelsea", "coffee", "rocket")]
        settings = RunSettings(
            sizes=(512, 256, 128), formats=("jpeg", "png"), warmup=1, repeats=args.repeats
        )
        specs = [
            BackendSpec(name=f"b{i}", target=b.grpc, model="tiny") for i, b in enumerate(backends)
        ]

        client_cpu: list[float] = []

        def timed(selected: list[int]) -> float:
            t0, c0 = time.perf_counter(), time.process_time()
            result = Runner([specs[i] for i in selected], settings).run(images)
            elapsed = time.perf_counter() - t0
            if len(selected) == 3:
                client_cpu.append(time.process_time() - c0)
            assert all(r.ok for r in result.requests), "a request failed"
            return elapsed

        timed([0, 1, 2])  # warm everything up once
        alone: dict[int, list[float]] = {i: [] for i in range(3)}
        together: list[float] = []
        cpu_alone: dict[int, list[float]] = {i: [] for i in range(3)}
        cpu_together: list[float] = []
        for _ in range(args.rounds):
            for i in range(3):
                before = cpu_seconds(backends[i].pid)
                alone[i].append(timed([i]))
                cpu_alone[i].append(cpu_seconds(backends[i].pid) - before)
            before = sum(cpu_seconds(b.pid) for b in backends)
            together.append(timed([0, 1, 2]))
            cpu_together.append(sum(cpu_seconds(b.pid) for b in backends) - before)

        med = {i: statistics.median(v) for i, v in alone.items()}
        slowest = max(med, key=med.get)
        round_time = statistics.median(together)
        n_req = len(images) * 7 * (settings.warmup + settings.repeats)
        print(f"requests per backend per round: {n_req}  (cores: {os.cpu_count()})")
        for i in range(3):
            print(
                f"  backend b{i} (threads={threads[i]}) alone: {med[i]:.2f} s, "
                f"server CPU {statistics.median(cpu_alone[i]):.2f} s"
            )
        print(
            f"  3 backends together:      {round_time:.2f} s, "
            f"servers' CPU {statistics.median(cpu_together):.2f} s"
        )
        print(f"round / slowest alone = {round_time / med[slowest]:.2f}x  (target <= 1.15x)")
        cores = os.cpu_count() or 1
        cpu_needed = statistics.median(cpu_together) + statistics.median(client_cpu[1:])
        floor = max(med[slowest], cpu_needed / cores)
        print(
            f"CPU needed per round (servers + client): {cpu_needed:.2f} s on {cores} core(s): "
            f"no schedule can beat {floor:.2f} s here"
        )
        print(f"round / best possible on this machine = {round_time / floor:.2f}x")
        print(
            f"round / sum of all alone = {round_time / sum(med.values()):.2f}x  (1.00x would be sequential)"
        )
    finally:
        for b in backends:
            b.stop()


if __name__ == "__main__":
    main()
