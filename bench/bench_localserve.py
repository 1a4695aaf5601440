"""Local backend overhead: ``tfcompare serve`` vs calling the same SavedModel in-process.

For a 224 px JPEG and EfficientNet-Lite0 (the demo's model), with the same TensorFlow thread count
on both sides, measures:

- warm latency p50 in-process (signature function called directly, outputs fetched) — the
  baseline — vs over gRPC and REST through tfcompare's own clients (wall time of the call);
  overhead % = median over rounds of (backend p50 / in-process p50 of the same round) − 1
  (target ≤ 10 % for gRPC); the client's answer ends in a top-5 reading (labels, score kind),
  which the in-process call does not do, so the overhead is also given like for like: against
  the in-process call followed by a top-5 reading of its arrays (``outputs.top5``, the same
  answer the client gives);
- grpcio's own round trip, the floor under the gRPC figure: a bare grpcio server (no tfcompare,
  no TensorFlow, the same server options) whose handler only waits as long as the round's
  in-process call took, then answers with the bytes tfcompare serve gave for the same request,
  called from a bare grpcio client with the same request bytes; what tfcompare adds of its own
  is the gRPC overhead minus this floor;
- the cold first request vs the warm p50 (ratio), for the in-process call (first call after
  loading) and for the server (first request of a new client; the server warms up before READY);
- where a gRPC call's time goes: the model run inside the server and the server's own work
  around it (from the server's Prometheus metrics, read before and after each round's gRPC
  calls), the wire beyond the server (the latency tfcompare reports minus the server's time) and
  the client's own encoding and decoding (wall time minus that latency);
- throughput under concurrency: the in-process signature called on batches of 8 images (images/s)
  vs ``tfcompare serve`` with batching on (the demo's parameters: max_batch_size 8, 5 ms timeout)
  driven by the load engine with 16 requests in flight over gRPC (answers/s); target ≥ 0.9×,
  i.e. the server's throughput is bounded by the model, not by its Python.

Rounds alternate between in-process and server calls so machine noise hits both alike; each
side's turn starts with a few untimed calls (see WARM_CALLS). The in-process side runs in a
worker subprocess (this process never imports TensorFlow).

usage: python bench/bench_localserve.py [--threads 1,4] [--rounds 20] [--per-round 10]
                                       [--throughput-rounds 3] [--throughput-s 4]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Untimed calls at the start of each side's turn in a round. The server and the in-process worker
# are separate processes with their own copy of the model; after the other side ran, calls stay
# slower for a few hundred milliseconds (about +0.6 ms on the first ten EfficientNet-Lite0 calls,
# fading over about thirty), a cost that would otherwise fall on whichever side comes first.
WARM_CALLS = 20


def _worker(base: str, threads: int, image: str) -> None:
    """In-process side: load the SavedModel, answer 'run K' with K call latencies (ms)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    data = Path(image).read_bytes()
    model = tf.saved_model.load(base)
    fn = model.signatures["serving_default"]

    import numpy as np

    from tfcompare.localserve.servable import _load_session, _Signature
    from tfcompare.serving.outputs import top5

    # the server's own engine: the same graph in a Session, fed and fetched by name
    session, meta = _load_session(Path(base))
    graph_fn = _Signature(session, meta.signature_def["serving_default"])

    def graph_call() -> float:
        start = time.perf_counter()
        graph_fn({"images": np.array([data], dtype=object)})
        return (time.perf_counter() - start) * 1000

    def call() -> tuple[float, float]:
        """(ms to the outputs as arrays, ms to the top-5 the client gives for the same answer)."""
        start = time.perf_counter()
        out = fn(images=tf.constant([data]))
        arrays = {k: v.numpy() for k, v in out.items()}
        fetched = time.perf_counter()
        top5(arrays)
        return (fetched - start) * 1000, (time.perf_counter() - start) * 1000

    print(f"READY cold={call()[0]:.3f}", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if parts[:1] == ["batch"]:  # batch N SECONDS: images/s on batches of N, by both engines
            batch = tf.constant([data] * int(parts[1]))
            feed = {"images": batch.numpy()}
            rates = []
            for run_batch in (
                lambda b=batch: {k: v.numpy() for k, v in fn(images=b).items()},
                lambda f=feed: graph_fn(f),
            ):
                run_batch()
                done, start = 0, time.perf_counter()
                while time.perf_counter() - start < float(parts[2]):
                    run_batch()
                    done += int(parts[1])
                rates.append(f"{done / (time.perf_counter() - start):.3f}")
            print("B " + " ".join(rates), flush=True)
            continue
        if parts[:1] != ["run"]:
            break
        for _ in range(int(parts[2])):  # untimed: refill the CPU caches after the other side ran
            call()
        times = [call() for _ in range(int(parts[1]))]
        for _ in range(int(parts[2])):
            graph_call()
        graph = [graph_call() for _ in range(int(parts[1]))]
        print(
            "T " + ",".join(f"{t:.3f}/{a:.3f}/{g:.3f}" for (t, a), g in zip(times, graph)),
            flush=True,
        )


FLOOR_METHOD = "/floor.Floor/Call"
FLOOR_SET = "/floor.Floor/Set"


def _floor_server() -> None:
    """A bare grpcio server: Set(8-byte wait in µs + answer bytes), then Call answers that after
    waiting that long (a busy wait: a sleep's wake-up would add its own delay)."""
    from concurrent import futures

    import grpc

    state = {"wait_s": 0.0, "answer": b""}

    def set_(request: bytes, _context) -> bytes:
        state["wait_s"] = int.from_bytes(request[:8], "little") / 1e6
        state["answer"] = request[8:]
        return b""

    def call(_request: bytes, _context) -> bytes:
        end = time.perf_counter() + state["wait_s"]
        while time.perf_counter() < end:
            pass
        return state["answer"]

    handlers = {
        name.rsplit("/", 1)[1]: grpc.unary_unary_rpc_method_handler(fn)
        for name, fn in ((FLOOR_SET, set_), (FLOOR_METHOD, call))
    }
    from tfcompare.localserve import GRPC_OPTIONS  # light: no TensorFlow

    # tfcompare serve's worker count (16) and options; GRPC_EXPERIMENTS comes in the environment
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=GRPC_OPTIONS)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("floor.Floor", handlers),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    server.stop(0)


class _Floor:
    """The bare grpcio server in a subprocess, and a bare grpcio client calling it."""

    def __init__(self, env: dict) -> None:
        import grpc

        from tfcompare.serving.grpc_client import CHANNEL_OPTIONS

        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--floor-server"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout
        port = int(self.proc.stdout.readline().split()[1])
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", CHANNEL_OPTIONS)
        self._set = self.channel.unary_unary(FLOOR_SET)
        self._call = self.channel.unary_unary(FLOOR_METHOD)

    def set(self, wait_ms: float, answer: bytes) -> None:
        self._set(round(wait_ms * 1000).to_bytes(8, "little") + answer, timeout=10)

    def call(self, request: bytes) -> float:
        start = time.perf_counter()
        self._call(request, timeout=10)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self.channel.close()
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(30)


def _served_answer(spec, request: bytes) -> bytes:
    """The serialised answer tfcompare serve gives to ``request``."""
    import grpc

    from tfcompare.serving.grpc_client import PREDICT_METHOD

    with grpc.insecure_channel(spec.target) as channel:
        return channel.unary_unary(PREDICT_METHOD)(request, timeout=30)


def _jpeg_224() -> Path:
    from PIL import Image

    src = ROOT / "resources" / "samples" / "chelsea.jpg"
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((224, 224), Image.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-localserve-{os.getpid()}.jpg"
    out.write_bytes(buf.getvalue())
    return out


def _served_throughput(spec, image: Path, seconds: float) -> float:
    """Answers/s from the batching server with 16 requests in flight (the load engine)."""
    from tfcompare.load.load_plan import LoadPlan
    from tfcompare.load.prepare import build_targets, variant_payloads
    from tfcompare.load.sweep import sweep

    payloads, info, _ = variant_payloads([image], ["original"])
    targets, problems = build_targets([spec], payloads, info)
    if problems:
        raise SystemExit("; ".join(problems))
    plan = LoadPlan(levels=(16,), window_s=seconds, fixed_windows=1, max_errors=0)
    [level] = sweep(plan, targets).levels
    return level.throughput


def _measure(
    threads: int,
    base: Path,
    version_dir: Path,
    image: Path,
    rounds: int,
    per_round: int,
    throughput_rounds: int = 3,
    throughput_s: float = 4.0,
    warm: int = WARM_CALLS,
) -> dict:
    from tfcompare.demo import LocalBackends, ServerPlan
    from tfcompare.serving import make_client
    from tfcompare.serving.server_metrics import REQUEST_LATENCY, RUNTIME_LATENCY, MetricsScraper

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    worker = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            str(version_dir),
            "--threads",
            str(threads),
            "--image",
            str(image),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert worker.stdout and worker.stdin
    ready = worker.stdout.readline()
    if not ready.startswith("READY"):
        raise SystemExit(f"in-process worker failed to start: {ready!r}")
    inproc_cold = float(ready.split("=")[1])
    data = image.read_bytes()
    plan = [
        ServerPlan(f"bench-{threads}", threads, rest=True),
        ServerPlan(f"bench-{threads}-batching", threads, batching=True),
    ]
    with LocalBackends(base, "efficientnet-lite0", plan, log=lambda _m: None) as backends:
        specs = backends.start()
        batching = next(s for s in specs if s.name.endswith("-batching") and s.protocol == "grpc")
        specs = [s for s in specs if s is not batching]
        clients = {s.protocol: make_client(s) for s in specs}
        sigs = {p: c.metadata() for p, c in clients.items()}
        scraper = MetricsScraper(specs[0].metrics)
        floor = _Floor(env)
        request = clients["grpc"].prepare(sigs["grpc"].input.make(data), sigs["grpc"]).body
        answer_bytes = _served_answer(next(s for s in specs if s.protocol == "grpc"), request)
        floor_times: list[float] = []
        wire: list[float] = []  # the gRPC calls' latency as tfcompare reports it (request → answer)

        def call(protocol: str) -> float:
            start = time.perf_counter()
            outcome = clients[protocol].predict_image(data, sigs[protocol])
            took = (time.perf_counter() - start) * 1000
            if protocol == "grpc":
                wire.append(outcome.latency_ms)
            return took

        def server_totals() -> tuple[float, float, float]:
            """(gRPC requests, their summed server time, summed model run time), in ms."""
            snap = scraper.scrape(totals_only=True)
            count, request_us = snap.total(REQUEST_LATENCY, entrypoint="GRPC")
            _, runtime_us = snap.total(RUNTIME_LATENCY)
            return count, request_us / 1000, runtime_us / 1000

        server_cold = call("grpc")
        inproc: list[float] = []
        inproc_top5: list[float] = []  # the in-process call and the client's top-5 reading
        inproc_graph: list[float] = []  # the same graph in a Session, the server's engine
        served: dict[str, list[float]] = {"grpc": [], "rest": []}
        ratios: dict[str, list[float]] = {"grpc": [], "rest": [], "floor": [], "engine": []}
        like: list[float] = []  # gRPC vs in-process, both ending in the same top-5
        split: list[tuple[float, float, float, float]] = []  # per round, mean ms per gRPC call
        for _ in range(rounds):
            worker.stdin.write(f"run {per_round} {warm}\n")
            worker.stdin.flush()
            triples = [t.split("/") for t in worker.stdout.readline()[2:].split(",")]
            chunk = [float(t) for t, _, _ in triples]
            answer = [float(a) for _, a, _ in triples]
            graph = [float(g) for _, _, g in triples]
            inproc += chunk
            inproc_top5 += answer
            inproc_graph += graph
            # the floor waits as long as the server's engine ran the model in-process
            floor.set(statistics.median(graph), answer_bytes)
            for _ in range(warm):
                floor.call(request)
            times = [floor.call(request) for _ in range(per_round)]
            floor_times += times
            ratios["floor"].append(statistics.median(times) / statistics.median(graph))
            for protocol in ("grpc", "rest"):
                for _ in range(warm):
                    call(protocol)
                if protocol == "grpc":  # read outside the timed calls
                    before, wire[:] = server_totals(), []
                times = [call(protocol) for _ in range(per_round)]
                if protocol == "grpc":
                    after = server_totals()
                    n, request_ms, runtime_ms = (a - b for a, b in zip(after, before, strict=True))
                    # model run · server's own work around it · wire beyond the server · client
                    split.append(
                        (
                            runtime_ms / n,
                            (request_ms - runtime_ms) / n,
                            statistics.fmean(wire) - request_ms / n,
                            statistics.fmean(times) - statistics.fmean(wire),
                        )
                    )
                served[protocol] += times
                ratios[protocol].append(statistics.median(times) / statistics.median(chunk))
                if protocol == "grpc":
                    like.append(statistics.median(times) / statistics.median(answer))
                    ratios["engine"].append(statistics.median(times) / statistics.median(graph))
        for client in clients.values():
            client.close()
        scraper.close()
        floor.close()
        inproc_rates, graph_rates, served_rates, rate_ratios, graph_ratios = [], [], [], [], []
        for _ in range(throughput_rounds):
            worker.stdin.write(f"batch 8 {throughput_s}\n")
            worker.stdin.flush()
            eager_rate, graph_rate = map(float, worker.stdout.readline().split()[1:])
            inproc_rates.append(eager_rate)
            graph_rates.append(graph_rate)
            served_rates.append(_served_throughput(batching, image, throughput_s))
            rate_ratios.append(served_rates[-1] / eager_rate)
            graph_ratios.append(served_rates[-1] / graph_rate)
    worker.stdin.close()
    worker.wait(30)
    p50 = {k: statistics.median(v) for k, v in served.items()}
    base_p50 = statistics.median(inproc)
    return {
        "threads": threads,
        "n": len(inproc),
        "inproc_p50": base_p50,
        "grpc_p50": p50["grpc"],
        "rest_p50": p50["rest"],
        # paired per round (neighbouring in time), then the median: robust to machine load drift
        "grpc_overhead": (statistics.median(ratios["grpc"]) - 1) * 100,
        "rest_overhead": (statistics.median(ratios["rest"]) - 1) * 100,
        "inproc_top5_p50": statistics.median(inproc_top5),
        "floor_p50": statistics.median(floor_times),
        "floor_overhead": (statistics.median(ratios["floor"]) - 1) * 100,
        "grpc_like_overhead": (statistics.median(like) - 1) * 100,
        # the spread of the per-round ratios: how far one round's figure can be from another's
        "grpc_iqr": [(q - 1) * 100 for q in _quartiles(ratios["grpc"])],
        "inproc_cold": inproc_cold,
        "inproc_cold_ratio": inproc_cold / base_p50,
        "server_cold": server_cold,
        "server_cold_ratio": server_cold / p50["grpc"],
        "inproc_rate": statistics.median(inproc_rates),
        "served_rate": statistics.median(served_rates),
        "rate_ratio": statistics.median(rate_ratios),
        "graph_rate": statistics.median(graph_rates),
        "graph_rate_ratio": statistics.median(graph_ratios),
        "graph_p50": statistics.median(inproc_graph),
        "engine_overhead": (statistics.median(ratios["engine"]) - 1) * 100,
        "engine_iqr": [(q - 1) * 100 for q in _quartiles(ratios["engine"])],
        "split": [statistics.median(part) for part in zip(*split, strict=True)],
        "inproc_mean": statistics.fmean(inproc),
        "graph_mean": statistics.fmean(inproc_graph),
    }


def _quartiles(values: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cores = os.cpu_count() or 1
    parser.add_argument("--threads", default=",".join(dict.fromkeys(["1", str(cores)])))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument(
        "--model", default="efficientnet-lite0", help="registered name or base path"
    )
    parser.add_argument(
        "--warm-calls",
        type=int,
        default=WARM_CALLS,
        help="untimed calls at the start of each side's turn in a round",
    )
    parser.add_argument("--throughput-rounds", type=int, default=3)
    parser.add_argument("--throughput-s", type=float, default=4.0)
    parser.add_argument("--worker", metavar="BASE", help=argparse.SUPPRESS)
    parser.add_argument("--image", help=argparse.SUPPRESS)
    parser.add_argument("--floor-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        _floor_server()
        return 0
    if args.worker:
        _worker(args.worker, int(args.threads), args.image)
        return 0

    from tfcompare.demo import ensure_model

    base = ensure_model(args.model, log=lambda m: print(m, file=sys.stderr))
    base_dir = max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    image = _jpeg_224()
    size = image.stat().st_size
    try:
        rows = [
            _measure(
                int(t),
                base,
                base_dir,
                image,
                args.rounds,
                args.per_round,
                args.throughput_rounds,
                args.throughput_s,
                args.warm_calls,
            )
            for t in args.threads.split(",")
        ]
    finally:
        image.unlink(missing_ok=True)
    print(
        f"EfficientNet-Lite0, 224 px JPEG ({size} bytes), "
        f"{args.rounds} alternating rounds × {args.per_round} calls per side "
        f"(after {args.warm_calls} untimed)"
    )
    print(
        "threads  in-process p50  gRPC p50  overhead  REST p50  overhead   cold/warm in-process  "
        "cold/warm server"
    )
    for r in rows:
        print(
            f"{r['threads']:>7}  {r['inproc_p50']:>11.2f} ms  {r['grpc_p50']:>5.2f} ms  "
            f"{r['grpc_overhead']:>+7.1f}%  {r['rest_p50']:>5.2f} ms  {r['rest_overhead']:>+7.1f}%  "
            f"{r['inproc_cold']:>8.1f} ms = {r['inproc_cold_ratio']:>5.1f}×  "
            f"{r['server_cold']:>6.1f} ms = {r['server_cold_ratio']:>4.1f}×"
        )
    print(
        f"\nthroughput under concurrency ({args.throughput_rounds} alternating rounds × "
        f"{args.throughput_s:g} s): in-process batches of 8 vs tfcompare serve with batching, "
        "16 in flight"
    )
    print(
        "threads  in-process images/s  served answers/s  served / in-process (target ≥ 0.9)  "
        "in-process Session images/s  served / it"
    )
    for r in rows:
        print(
            f"{r['threads']:>7}  {r['inproc_rate']:>19.1f}  {r['served_rate']:>16.1f}  "
            f"{r['rate_ratio']:>6.2f}×  {'OK' if r['rate_ratio'] >= 0.9 else 'BELOW TARGET':<28}"
            f"{r['graph_rate']:>27.1f}  {r['graph_rate_ratio']:>9.2f}×"
        )
    print(
        "\nwhere a gRPC call's time goes (ms, mean per call, median over rounds; the server's "
        "part from its own metrics):"
    )
    print(
        "threads  model run in server  (in-process  Session)  server's own work  wire beyond server  "
        "client encode/decode"
    )
    for r in rows:
        run, own, beyond, client = r["split"]
        print(
            f"{r['threads']:>7}  {run:>19.2f}  {r['inproc_mean']:>12.2f}  {r['graph_mean']:>7.2f}  "
            f"{own:>17.2f}  {beyond:>18.2f}  {client:>20.2f}"
        )
    for r in rows:
        low, high = r["grpc_iqr"]
        print(
            f"gRPC overhead, {r['threads']} thread(s): per-round ratios' middle half "
            f"{low:+.1f}% … {high:+.1f}%"
        )
    print(
        "\nthe serving path alone: vs the same graph run in-process through a Session, the way "
        "the server runs it"
    )
    print("threads  in-process Session p50  gRPC p50  overhead  per-round middle half")
    for r in rows:
        low, high = r["engine_iqr"]
        print(
            f"{r['threads']:>7}  {r['graph_p50']:>19.2f} ms  {r['grpc_p50']:>5.2f} ms  "
            f"{r['engine_overhead']:>+7.1f}%  {low:+.1f}% … {high:+.1f}%"
        )
    print(
        "\ngrpcio's own round trip: a bare grpcio server and client (no tfcompare, no TensorFlow), "
        "the same request and answer bytes,\nthe handler only waiting as long as the round's "
        "in-process Session call took"
    )
    print("threads  bare grpcio p50  its overhead  tfcompare serve's own part (serving path − it)")
    for r in rows:
        print(
            f"{r['threads']:>7}  {r['floor_p50']:>12.2f} ms  {r['floor_overhead']:>+11.1f}%  "
            f"{r['engine_overhead'] - r['floor_overhead']:>+10.1f} pp"
        )
    print(
        "\nlike for like: the in-process call followed by a top-5 reading of its arrays "
        "(tfcompare.serving.outputs.top5), the answer the client gives"
    )
    print("threads  in-process + top-5 p50  gRPC p50  overhead")
    for r in rows:
        print(
            f"{r['threads']:>7}  {r['inproc_top5_p50']:>19.2f} ms  {r['grpc_p50']:>5.2f} ms  "
            f"{r['grpc_like_overhead']:>+7.1f}%"
        )
    for key, what in (
        ("grpc_overhead", "the in-process call (outputs fetched)"),
        ("grpc_like_overhead", "the in-process call + a top-5 reading"),
        ("engine_overhead", "the same graph in an in-process Session"),
    ):
        worst = max(r[key] for r in rows)
        print(
            f"gRPC overhead vs {what}: worst {worst:+.1f}% (target ≤ 10%): "
            f"{'OK' if worst <= 10 else 'ABOVE TARGET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
