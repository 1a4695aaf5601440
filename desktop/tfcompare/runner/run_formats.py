"""The JSON and CSV shapes of a run (shared by ``tfcompare run``, ``export`` and the demo) and the
summary table printed on the terminal.

JSON object (``"format": "tfcompare-run/1"``):

- ``settings``: the run settings; ``backends``: name, target, protocol, model, signature (never
  credentials); ``images``: name, format, size and the variants (key, label, box, format, quality,
  width, height, bytes, encode_ms) plus notes such as skipped boxes;
- ``requests``: one entry per *measured* request: ``image``, ``variant``, ``backend``, ``protocol``,
  ``repeat``, ``ok``, ``latency_ms`` (wall time of the call as the client sees it), ``client_ms`` (client-side
  serialise + parse), ``bytes`` (request size), ``model_version``, ``error``, ``top5`` as
  ``[[label, score], ...]``, ``score_kind`` (probability / logit / unknown), ``pod`` (Kubernetes
  pod that answered), ``pod_before`` and ``spans_restart`` (the forward moved from ``pod_before``
  to ``pod`` while the request was in flight: kept, but not in the statistics), ``started_at``
  (Unix time the request was sent);
- ``cold``: the very first request to each backend (same keys; never part of the statistics);
- ``summary``: per (image, variant, backend): n, n_errors, bytes, p50/p90/p99/mean/stdev in ms,
  few_samples, top1, top1_agree, top5_overlap, score_ratio (against the same backend's original),
  n_spanning (successful requests that spanned a pod restart, left out of n and the latencies),
  and from the server's metrics ``server_ms`` (mean request time on the server), ``runtime_ms``
  (mean model run), ``server_exact`` (false: other traffic, a restart or rounding; see
  ``server_times``) and ``path_ms`` (mean latency − server time: network, tunnel, client);
- ``server_times``: per block of measured requests: sent, counted, server_ms, runtime_ms, exact,
  note; ``backends`` entries carry ``floor_ms`` (p50 round trip of a model-status call, which runs
  no model), ``floor_samples`` and ``metrics`` (the URL read, or null with ``metrics_message``);
- ``errors``: images that could not be used: ``image``, ``message``.

CSV rows carry the block's ``server_ms``, ``runtime_ms``, ``server_exact`` and the backend's
``floor_ms`` on each request of the block; server and model time are means over the block (the
server's counters give means), so each row also has ``block_mean_ms``, the block's mean latency,
to set them against (never one request's ``latency_ms``). Booleans are ``true``/``false``.
"""

from __future__ import annotations

import io
import statistics
from pathlib import Path

from tfcompare import __version__
from tfcompare.imaging.values import ImageInfo, ImageProblem, Variant, variant_sort_key
from tfcompare.results import Aggregate, BackendTiming, RequestResult, RunResult, ServerTime
from tfcompare.runner.aggregates import FEW_SAMPLES, backend_agreement, failed, pooled
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings
from tfcompare.tabular import SafeWriter, json_text
from tfcompare.terminal import one_line

FORMAT = "tfcompare-run/1"
SCALAR_KEYS = (
    "image",
    "variant",
    "backend",
    "protocol",
    "repeat",
    "ok",
    "latency_ms",
    "client_ms",
    "bytes",
    "model_version",
    "error",
)
POD_KEYS = ("pod", "pod_before", "spans_restart")
REQUEST_KEYS = (*SCALAR_KEYS, "top5", "score_kind", *POD_KEYS, "started_at", "preprocess_ms")
CSV_KEYS = (
    *SCALAR_KEYS,
    "top1",
    "top1_score",
    "top5",
    "score_kind",
    *POD_KEYS,
    "started_at",
    "block_mean_ms",
    "server_ms",
    "runtime_ms",
    "server_exact",
    "floor_ms",
    "preprocess_ms",
    "queue_ms",
)


def _variant_dict(v: Variant) -> dict:
    return {
        "key": v.key,
        "label": v.label,
        "box": v.box,
        "format": v.format,
        "quality": v.quality,
        "width": v.width,
        "height": v.height,
        "bytes": v.nbytes,
        "encode_ms": round(v.encode_ms, 3),
    }


def _image_dict(img: ImageInfo) -> dict:
    return {
        "name": img.name,
        "path": img.path,
        "format": img.format,
        "width": img.width,
        "height": img.height,
        "bytes": img.nbytes,
        "variants": [_variant_dict(v) for v in img.variants],
        "notes": list(img.notes),
    }


def _request_dict(r: RequestResult) -> dict:
    d = r.to_dict()
    return {k: d[k] for k in REQUEST_KEYS}


def _backend_dict(spec: BackendSpec, result: RunResult) -> dict:
    """The spec (``metrics``: the setting, null = discover) plus what the run found: the path
    floor and the metrics URL read (``metrics_url``)."""
    t = result.timing(spec.name) or BackendTiming(spec.name)
    return {
        **spec.to_dict(),
        "floor_ms": t.floor_ms,
        "floor_samples": t.floor_samples,
        "metrics_url": t.metrics,
        "metrics_message": t.metrics_message,
        "input": t.input,
    }


def to_json_obj(result: RunResult) -> dict:
    return {
        "format": FORMAT,
        "tfcompare": __version__,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "settings": result.settings.to_dict(),
        "backends": [_backend_dict(b, result) for b in result.backends],
        "images": [_image_dict(i) for i in result.images],
        "requests": [_request_dict(r) for r in result.measured],
        "cold": [_request_dict(r) for r in result.cold],
        "summary": [a.to_dict() for a in result.summary],
        "server_times": [t.to_dict() for t in result.server_times],
        "errors": [{"image": p.image, "message": p.message} for p in result.problems],
    }


def from_json_obj(obj: dict) -> RunResult:
    """Rebuild a RunResult (without image bytes) from ``to_json_obj``'s output."""
    if obj.get("format") != FORMAT:
        raise ValueError(f"not a tfcompare run file (format {obj.get('format')!r})")
    images = tuple(
        ImageInfo(
            name=i["name"],
            path=i.get("path"),
            format=i["format"],
            width=i["width"],
            height=i["height"],
            nbytes=i["bytes"],
            notes=tuple(i.get("notes", ())),
            variants=tuple(
                Variant(
                    key=v["key"],
                    box=v["box"],
                    format=v["format"],
                    quality=v["quality"],
                    width=v["width"],
                    height=v["height"],
                    nbytes=v["bytes"],
                    encode_ms=v["encode_ms"],
                )
                for v in i["variants"]
            ),
        )
        for i in obj["images"]
    )
    requests = tuple(
        RequestResult.from_dict({**r, "phase": phase})
        for phase, key in (("cold", "cold"), ("measured", "requests"))
        for r in obj.get(key, [])
    )
    return RunResult(
        settings=RunSettings.from_dict(obj["settings"]),
        backends=tuple(BackendSpec.from_dict(b) for b in obj["backends"]),
        images=images,
        requests=requests,
        problems=tuple(ImageProblem(e["image"], e["message"]) for e in obj.get("errors", [])),
        summary=tuple(Aggregate.from_dict(a) for a in obj["summary"]),
        started_at=obj.get("started_at", 0.0),
        finished_at=obj.get("finished_at", 0.0),
        server_times=tuple(ServerTime.from_dict(t) for t in obj.get("server_times", [])),
        timings=tuple(
            BackendTiming.from_dict({**b, "backend": b["name"], "metrics": b.get("metrics_url")})
            for b in obj["backends"]
            if "floor_ms" in b
        ),
    )


def run_json(result: RunResult) -> str:
    return json_text(to_json_obj(result), indent=1) + "\n"


def write_json(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(run_json(result), encoding="utf-8")


def csv_text(result: RunResult) -> str:
    buf = io.StringIO()
    writer = SafeWriter(buf, lineterminator="\n")
    writer.writerow(CSV_KEYS)
    blocks = {(t.image, t.variant, t.backend): t for t in result.server_times}
    means = {(a.image, a.variant, a.backend): a.mean_ms for a in result.summary}
    floors = {t.backend: t.floor_ms for t in result.timings}
    for r in result.measured:
        st = blocks.get((r.image, r.variant, r.backend))
        d = _request_dict(r)
        top1 = r.top5[0] if r.top5 else None
        row = [d[k] for k in SCALAR_KEYS]
        row += [
            top1.label if top1 else "",
            f"{top1.score:.6g}" if top1 else "",
            "; ".join(f"{p.label}={p.score:.6g}" for p in r.top5),
            r.score_kind,
            r.pod or "",
            r.pod_before or "",
            r.spans_restart,
            f"{r.started_at:.6f}",
            _num(means.get((r.image, r.variant, r.backend))),
            _num(st.server_ms if st else None),
            _num(st.runtime_ms if st else None),
            "" if st is None or st.server_ms is None else st.exact,
            _num(floors.get(r.backend)),
            _num(r.preprocess_ms),
            _num(st.queue_ms if st else None),
        ]
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def write_csv(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(csv_text(result), encoding="utf-8")


# ---------------------------------------------------------------------------- terminal summary


def _fmt_ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def summary_rows(result: RunResult) -> list[dict]:
    """Per (variant, backend), pooled over all images (``stats.pooled``): latency of every measured
    request, mean bytes, and mean quality against each image's original on the same backend."""
    order = {b.name: i for i, b in enumerate(result.backends)}
    cells = pooled(result.requests, result.summary)
    rows = []
    for key in sorted(cells, key=lambda k: (variant_sort_key(k[0]), order.get(k[1], 99))):
        p = cells[key]
        rows.append(
            {
                "variant": p.variant,
                "backend": p.backend,
                "n": p.n,
                "errors": p.n_errors,
                "bytes": p.mean_bytes or 0.0,
                "p50_ms": p.p50_ms,
                "p90_ms": p.p90_ms,
                "p99_ms": p.p99_ms,
                "mean_ms": p.mean_ms,
                "top1_agree": p.top1_agree,
                "top5_overlap": p.top5_overlap,
                "score_ratio": p.score_ratio,
                "server_ms": p.server_ms,
                "runtime_ms": p.runtime_ms,
                "path_ms": p.path_ms,
                "server_exact": p.server_exact,
                "queue_ms": p.queue_ms,
            }
        )
    return rows


def _approx(value: float | None, exact: bool | None) -> str:
    """Server-side means; ``~`` when the server also counted other requests (or restarted)."""
    return "-" if value is None else ("" if exact else "~") + _fmt_ms(value)


def _server_notes(result: RunResult, rows: list[dict]) -> list[str]:
    notes = []
    if any(r["server_ms"] is not None for r in rows):
        notes.append(
            "mean ms, server ms, model ms and path ms are means per request (the server's counters "
            "give means, not percentiles): compare server ms with mean ms, not with p50. server "
            "ms: time the server spent on these requests (its metrics: TF Serving's "
            "request_latency, MLServer's model_infer_request_duration, KServe's pre/predict/post "
            "steps), model ms: the model run alone (TF Serving's runtime_latency, KServe's "
            "predict step), path ms: mean ms − server ms (network, tunnel, client). ~: the server "
            "also counted other requests or restarted: not exact."
        )
    if any(r["queue_ms"] is not None for r in rows):
        notes.append(
            "queue ms: mean time requests waited in the server's queue before the model ran "
            "(Triton's queue duration; part of server ms)."
        )
    for t in result.timings:
        floor = (
            f"path floor {_fmt_ms(t.floor_ms)} ms (p50 of {t.floor_samples} model-status calls)"
            if t.floor_ms is not None
            else "no path floor"
        )
        takes = f"{t.input}; " if t.input else ""
        notes.append(f"{t.backend}: {takes}{floor}; {t.metrics_message or 'no server metrics'}")
    prep: dict[str, list[float]] = {}
    for a in result.summary:
        if a.preprocess_ms is not None:
            prep.setdefault(a.backend, []).append(a.preprocess_ms)
    for backend, values in prep.items():
        notes.append(
            f"{backend}: client preprocessing (decode, resize, scale into the model's tensor) "
            f"{_fmt_ms(statistics.fmean(values))} ms per variant on average, not in the latency"
        )
    return notes


def summary_table(result: RunResult) -> str:
    rows = summary_rows(result)
    # the queue column only when a server reported its queue (Triton; TF Serving does not)
    queued = any(r["queue_ms"] is not None for r in rows)
    server_keys: tuple[str, ...] = ("server_ms", "queue_ms", "runtime_ms", "path_ms")
    if not queued:
        server_keys = ("server_ms", "runtime_ms", "path_ms")
    header = (
        "variant",
        "backend",
        "n",
        "err",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "mean ms",
        "server ms",
        *(("queue ms",) if queued else ()),
        "model ms",
        "path ms",
        "sent",
        "top-1 same",
        "top-5 overlap",
        "score ratio",
    )
    table = [header]
    for r in rows:
        star = "*" if r["n"] < FEW_SAMPLES else ""
        table.append(
            (
                one_line(r["variant"]),
                one_line(r["backend"]),
                str(r["n"]),
                str(r["errors"]),
                _fmt_ms(r["p50_ms"]) + star,
                _fmt_ms(r["p90_ms"]) + star,
                _fmt_ms(r["p99_ms"]) + star,
                _fmt_ms(r["mean_ms"]),
                *(_approx(r[k], r["server_exact"]) for k in server_keys),
                _fmt_bytes(r["bytes"]),
                "-" if r["top1_agree"] is None else f"{100 * r['top1_agree']:.0f}%",
                "-" if r["top5_overlap"] is None else f"{100 * r['top5_overlap']:.0f}%",
                "-" if r["score_ratio"] is None else f"{100 * r['score_ratio']:.0f}%",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = set(range(2, len(header)))
    lines = []
    for j, row in enumerate(table):
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    out = ["\n".join(lines)] if rows else ["no measurements"]

    n_images = len(result.images)
    n_req = len(result.measured)
    few = any(r["n"] < FEW_SAMPLES for r in rows)
    notes = [
        f"{n_images} image(s), {n_req} measured requests (warm-up {result.settings.warmup} and "
        f"{result.settings.repeats} measured per variant and backend). Latency: wall time of the "
        "call as the client sees it. Quality: against the same backend's answer on the original "
        "(top-1 same: images whose top class is unchanged; top-5 overlap: share of the original's "
        "top 5 still in it; score ratio: the original top-1 class's score now ÷ then, can exceed "
        "100 %)."
    ]
    if few:
        notes.append(f"* percentiles from fewer than {FEW_SAMPLES} samples: indicative only.")
    notes += _server_notes(result, rows)
    order = [b.name for b in result.backends]
    for agreement in backend_agreement(result.requests, order):
        notes.append(f"answers: {agreement.text}")
    for cold in result.cold:
        warm = [
            a.p50_ms for a in result.summary if a.backend == cold.backend and a.p50_ms is not None
        ]
        warm_txt = f" (warm p50 {_fmt_ms(statistics.median(warm))} ms)" if warm else ""
        if cold.ok:
            notes.append(
                f"cold first request to {cold.backend}: {_fmt_ms(cold.latency_ms)} ms{warm_txt}"
            )
        else:
            notes.append(f"cold first request to {cold.backend} failed: {cold.error}")
    errors: dict[str, tuple[int, str]] = {}
    for m in result.measured:
        if failed(m):
            count, _ = errors.get(m.backend, (0, ""))
            errors[m.backend] = (count + 1, m.error or "error")
    for backend, (count, last) in errors.items():
        notes.append(f"{backend}: {count} request(s) failed — last error: {last}")
    notes += restart_notes(result.measured)
    for p in result.problems:
        notes.append(f"image {p.image}: {p.message}")
    for img in result.images:
        for note in img.notes:
            notes.append(f"image {img.name}: {note}")
    return "\n".join(out + [""] + notes)


def restart_notes(requests) -> list[str]:
    """One line per backend whose forward moved to another pod during requests: how many were
    left out of the statistics, and why."""
    moves: dict[str, list[RequestResult]] = {}
    for r in requests:
        if r.spans_restart:
            moves.setdefault(r.backend, []).append(r)
    lines = []
    for backend, rs in moves.items():
        pods = ", ".join(dict.fromkeys(f"{r.pod_before or '?'} → {r.pod or '?'}" for r in rs))
        ok = sum(1 for r in rs if r.ok)
        lines.append(
            f"{backend}: {len(rs)} request(s) spanned a pod restart ({pods}); kept in the data but "
            f"not in percentiles and means ({ok} answered, {len(rs) - ok} failed)"
        )
    return lines
