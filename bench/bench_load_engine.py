"""Load engine ceiling and open-loop accuracy against a backend that answers instantly.

1. Ceiling: the most requests/s ``tfcompare load``'s engine (closed loop, windows, HdrHistogram
   recording, in-flight sampling) drives from one process, vs a bare grpc.aio loop sending the same
   pre-serialised PredictRequest with the same concurrency over one channel — rounds alternate;
   both the achieved throughput (median over rounds of engine / bare) and the client CPU time per
   request (what bounds one process: 1 s / CPU per request) are compared (target ≥ 0.9).
2. Open loop: at a rate the server sustains, the achieved send rate vs the requested one (target
   within 2 %), and the gaps between sends against an exponential distribution (Kolmogorov-Smirnov
   test, and a coefficient of variation near 1 as a Poisson process has).

The server is ``bench/noop_server.py`` in its own process (a raw handler that returns an empty
PredictResponse at once).

usage: python bench/bench_load_engine.py [--concurrency 32] [--seconds 4] [--rounds 5]
                                         [--rate 200] [--rate-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
import grpc.aio

HERE = Path(__file__).resolve().parent
METHOD = "/tensorflow.serving.PredictionService/Predict"


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "noop_server.py")], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        raise SystemExit(f"no-op server did not start: {line!r}")
    return proc, f"127.0.0.1:{line.split()[1]}"


def payload() -> bytes:
    from tfcompare.serving._protos import predict_pb2
    from tfcompare.serving.tensor_proto import string_tensor

    req = predict_pb2.PredictRequest()
    req.model_spec.name = "noop"
    string_tensor(b"\xff\xd8" + bytes(20_000), req.inputs["images"])
    return req.SerializeToString()


async def bare(address: str, data: bytes, concurrency: int, seconds: float) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) of the bare loop."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD)
        await call(data)
        done = 0
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await call(data, timeout=30)
                done += 1

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu_us = (time.process_time() - c0) / max(done, 1) * 1e6
        return done / (time.perf_counter() - t0), cpu_us


def target(address: str, data: bytes):
    from tfcompare.load.load_plan import LoadTarget
    from tfcompare.serving.backend_spec import BackendSpec
    from tfcompare.serving.base import PreparedRequest
    from tfcompare.serving.grpc_client import PREDICT_METHOD

    return LoadTarget(
        BackendSpec("noop", address, model="noop"),
        address,
        "original",
        "original",
        payloads=(PreparedRequest(PREDICT_METHOD, data),),
    )


def engine(address: str, data: bytes, concurrency: int, seconds: float):
    from tfcompare.load.load_plan import LoadPlan
    from tfcompare.load.sweep import sweep

    plan = LoadPlan(levels=(concurrency,), window_s=seconds, fixed_windows=1, max_errors=0)
    [level] = sweep(plan, [target(address, data)]).levels
    return level


class Recording:
    """Wraps a sender to note when each request actually leaves."""

    def __init__(self, inner, times: list[float]) -> None:
        self.inner, self.times = inner, times

    async def open(self):
        await self.inner.open()

    async def close(self):
        await self.inner.close()

    async def send(self, request) -> str:
        self.times.append(time.perf_counter())
        return await self.inner.send(request)


def open_loop(address: str, data: bytes, rate: float, seconds: float):
    import tfcompare.load.sweep as sweep_module
    from tfcompare.load.load_plan import LoadPlan
    from tfcompare.serving.protocols.tf_serving import TfServingGrpc

    times: list[float] = []
    plain = TfServingGrpc.sender
    TfServingGrpc.sender = lambda self, *a: Recording(plain(self, *a), times)
    plan = LoadPlan(mode="rate", levels=(rate,), window_s=seconds, fixed_windows=1, max_errors=0)
    [level] = sweep_module.sweep(plan, [target(address, data)]).levels
    return level, times[1:]  # the first send is the warm-up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rate-seconds", type=float, default=60.0)
    args = parser.parse_args()
    from scipy import stats

    proc, address = start_server()
    try:
        data = payload()
        bare_rates, engine_rates, ratios, bare_cpu, engine_cpu = [], [], [], [], []
        for _ in range(args.rounds):
            b, b_cpu = asyncio.run(bare(address, data, args.concurrency, args.seconds))
            level = engine(address, data, args.concurrency, args.seconds)
            bare_rates.append(b)
            engine_rates.append(level.throughput)
            ratios.append(level.throughput / b)
            bare_cpu.append(b_cpu)
            engine_cpu.append(level.cpu * level.duration_s / max(level.sent, 1) * 1e6)
        print(
            f"ceiling, concurrency {args.concurrency}, {args.rounds} alternating rounds of "
            f"{args.seconds:g} s, request {len(data)} bytes:"
        )
        print(
            f"  bare grpc.aio loop  median {statistics.median(bare_rates):8.0f} req/s  "
            f"({', '.join(f'{r:.0f}' for r in bare_rates)})"
        )
        print(
            f"  tfcompare engine    median {statistics.median(engine_rates):8.0f} req/s  "
            f"({', '.join(f'{r:.0f}' for r in engine_rates)})"
        )
        ratio = statistics.median(ratios)
        print(
            f"  engine / bare: {ratio:.3f} (target ≥ 0.9): {'OK' if ratio >= 0.9 else 'BELOW'}"
            f"; engine loop busy {level.loop_busy:.0%}, "
            f"client-bound: {level.client_bound_reason or 'no'}"
        )
        cpu_ratio = statistics.median(bare_cpu) / statistics.median(engine_cpu)
        print(
            f"  client CPU per request: bare {statistics.median(bare_cpu):.0f} µs, engine "
            f"{statistics.median(engine_cpu):.0f} µs → the most one process sends (1 s / CPU "
            f"per request): bare {1e6 / statistics.median(bare_cpu):.0f}/s, engine "
            f"{1e6 / statistics.median(engine_cpu):.0f}/s, engine / bare {cpu_ratio:.3f} "
            f"(target ≥ 0.9): {'OK' if cpu_ratio >= 0.9 else 'BELOW'}"
        )
        print(
            "  (the throughput ratio above is bounded by the no-op server when it shares the "
            "client's cores; the CPU-based ceiling is not)"
        )

        level, sends = open_loop(address, data, args.rate, args.rate_seconds)
        gaps = [b - a for a, b in zip(sends, sends[1:])]
        span = sends[-1] - sends[0]
        achieved = (len(sends) - 1) / span
        err = achieved / args.rate - 1
        mean = statistics.fmean(gaps)
        cv = statistics.pstdev(gaps) / mean
        ks = stats.kstest(gaps, "expon", args=(0, 1 / args.rate))
        tails = [
            (m, sum(g > m * mean for g in gaps) / len(gaps), math.exp(-m)) for m in (0.5, 1, 2, 3)
        ]
        tails_ok = all(abs(got - want) <= 0.02 for _, got, want in tails) and 0.9 <= cv <= 1.1
        print(
            f"open loop at {args.rate:g} req/s for {args.rate_seconds:g} s: {len(sends)} sends, "
            f"achieved {achieved:.1f} req/s ({err:+.2%}, target within ±2 %: "
            f"{'OK' if abs(err) <= 0.02 else 'OUTSIDE'}); late sends (> 5 ms) {level.late}, "
            f"dropped {level.dropped}, throughput {level.throughput:.1f} req/s"
        )
        print(
            f"  inter-arrival gaps: mean {mean * 1000:.3f} ms (expected {1000 / args.rate:.3f}), "
            f"coefficient of variation {cv:.3f} (exponential: 1), KS statistic "
            f"{ks.statistic:.4f}, p = {ks.pvalue:.3f} "
            f"(event-loop timers wake on whole milliseconds, so gaps below ~1 ms are bunched)"
        )
        print(
            "  exponential check, share of gaps longer than m × mean vs e^-m: "
            + ", ".join(f"m={m:g} {got:.3f}/{want:.3f}" for m, got, want in tails)
            + f" → {'PASS' if tails_ok else 'FAIL'} (each within ±0.02, CV within 0.9–1.1)"
        )
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
