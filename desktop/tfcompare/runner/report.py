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
  pod that answered), ``started_at`` (Unix time the request was sent);
- ``cold``: the very first request to each backend (same keys; never part of the statistics);
- ``summary``: per (image, variant, backend): n, n_errors, bytes, p50/p90/p99/mean/stdev in ms,
  few_samples, top1, top1_agree, top5_overlap, score_ratio (against the same backend's original);
- ``errors``: images that could not be used: ``image``, ``message``.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

from tfcompare import __version__
from tfcompare.datatypes import (
    Aggregate,
    BackendSpec,
    ImageInfo,
    ImageProblem,
    RequestResult,
    RunResult,
    RunSettings,
    Variant,
    variant_sort_key,
)
from tfcompare.runner.stats import FEW_SAMPLES, pooled

FORMAT = "tfcompare-run/1"
SCALAR_KEYS = (
    "image", "variant", "backend", "protocol", "repeat", "ok", "latency_ms", "client_ms", "bytes",
    "model_version", "error",
)  # fmt: skip
REQUEST_KEYS = (*SCALAR_KEYS, "top5", "score_kind", "pod", "started_at")
CSV_KEYS = (*SCALAR_KEYS, "top1", "top1_score", "top5", "score_kind", "pod", "started_at")


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


def to_json_obj(result: RunResult) -> dict:
    return {
        "format": FORMAT,
        "tfcompare": __version__,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "settings": result.settings.to_dict(),
        "backends": [b.to_dict() for b in result.backends],
        "images": [_image_dict(i) for i in result.images],
        "requests": [_request_dict(r) for r in result.measured],
        "cold": [_request_dict(r) for r in result.cold],
        "summary": [a.to_dict() for a in result.summary],
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
        )  # fmt: skip
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
    )


def write_json(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json_obj(result), indent=1) + "\n", encoding="utf-8")


def csv_text(result: RunResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_KEYS)
    for r in result.measured:
        d = _request_dict(r)
        top1 = r.top5[0] if r.top5 else None
        row = [d[k] for k in SCALAR_KEYS]
        row += [
            top1.label if top1 else "",
            f"{top1.score:.6g}" if top1 else "",
            "; ".join(f"{p.label}={p.score:.6g}" for p in r.top5),
            r.score_kind,
            r.pod or "",
            f"{r.started_at:.6f}",
        ]
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


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
                "top1_agree": p.top1_agree,
                "top5_overlap": p.top5_overlap,
                "score_ratio": p.score_ratio,
            }
        )
    return rows


def summary_table(result: RunResult) -> str:
    rows = summary_rows(result)
    header = ("variant", "backend", "n", "err", "p50 ms", "p90 ms", "p99 ms", "sent", "top-1 same",
              "top-5 overlap", "score ratio")  # fmt: skip
    table = [header]
    for r in rows:
        star = "*" if r["n"] < FEW_SAMPLES else ""
        table.append(
            (
                r["variant"], r["backend"], str(r["n"]), str(r["errors"]), _fmt_ms(r["p50_ms"]) + star,
                _fmt_ms(r["p90_ms"]) + star, _fmt_ms(r["p99_ms"]) + star, _fmt_bytes(r["bytes"]),
                "-" if r["top1_agree"] is None else f"{100 * r['top1_agree']:.0f}%",
                "-" if r["top5_overlap"] is None else f"{100 * r['top5_overlap']:.0f}%",
                "-" if r["score_ratio"] is None else f"{100 * r['score_ratio']:.0f}%",
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {2, 3, 4, 5, 6, 7, 8, 9, 10}
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
        "call as the client sees it. Quality: against the same backend's answer on the original."
    ]
    if few:
        notes.append(f"* percentiles from fewer than {FEW_SAMPLES} samples: indicative only.")
    for r in result.cold:
        warm = [a.p50_ms for a in result.summary if a.backend == r.backend and a.p50_ms is not None]
        warm_txt = f" (warm p50 {_fmt_ms(statistics.median(warm))} ms)" if warm else ""
        if r.ok:
            notes.append(f"cold first request to {r.backend}: {_fmt_ms(r.latency_ms)} ms{warm_txt}")
        else:
            notes.append(f"cold first request to {r.backend} failed: {r.error}")
    failed: dict[str, tuple[int, str]] = {}
    for r in result.measured:
        if not r.ok:
            count, _ = failed.get(r.backend, (0, ""))
            failed[r.backend] = (count + 1, r.error or "error")
    for backend, (count, last) in failed.items():
        notes.append(f"{backend}: {count} request(s) failed — last error: {last}")
    for p in result.problems:
        notes.append(f"image {p.image}: {p.message}")
    for img in result.images:
        for note in img.notes:
            notes.append(f"image {img.name}: {note}")
    return "\n".join(out + [""] + notes)
