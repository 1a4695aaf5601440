"""Load agents: a plan directory run headless, one JSON line per window on stdout.

A plan directory holds ``plan.json`` and the pre-serialised requests (``*.bin``)::

    {"agent": "load-0", "plan": {LoadPlan.to_dict()},
     "targets": [{"backend": {BackendSpec.to_dict()}, "address": "host:port", "variant": "512-jpeg",
                  "label": "512 px JPEG q90", "path": "/v1/models/m:predict",
                  "payloads": ["t0-0.bin", ...]}]}

The plan's ``start_at`` (one wall-clock start per level) and ``fixed_windows`` make every agent's
windows line up, so a coordinator merges window i of level L from N agents with
:func:`merge_window_lines` and judges stability on the merged windows. Output lines::

    {"type": "window", "agent": …, …WindowSummary.to_dict()}   (histogram HdrHistogram-encoded)
    {"type": "message", "agent": …, "text": …}
    {"type": "done", "agent": …, "cancelled": false}
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from tfcompare.load.capacity_results import WindowSummary
from tfcompare.load.load_plan import LoadPlan, LoadTarget
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.base import PreparedRequest

PLAN_FILE = "plan.json"


class PlanError(Exception):
    """A plan directory that cannot be used (message for the user)."""


def write_plan_dir(
    folder: str | Path, plan: LoadPlan, targets: Sequence[LoadTarget], agent: str = "agent"
) -> Path:
    """Write a plan directory for an agent (credentials and headers are never written)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in plan_files(plan, targets, agent=agent).items():
        (folder / name).write_bytes(content)
    return folder


def plan_files(
    plan: LoadPlan, targets: Sequence[LoadTarget], barrier: dict | None = None, agent: str = "agent"
) -> dict[str, bytes]:
    """A plan directory as ``{file name: bytes}`` (what a ConfigMap carries to in-cluster agents);
    ``barrier`` ({"agents": N, "timeout_s": S}) makes the agents wait for a published start."""
    files: dict[str, bytes] = {}
    entries = []
    for t_index, target in enumerate(targets):
        names = []
        requests = []
        for p_index, payload in enumerate(target.payloads):
            names.append(f"t{t_index}-{p_index}.bin")
            files[names[-1]] = payload.body
            requests.append({"path": payload.path, "headers": [list(h) for h in payload.headers]})
        entries.append(
            {
                "backend": target.backend.to_dict(),
                "address": target.address,
                "variant": target.variant,
                "label": target.variant_label,
                "payloads": names,
                "requests": requests,
            }
        )
    doc = {"agent": agent, "plan": plan.to_dict(), "targets": entries, "barrier": barrier}
    files[PLAN_FILE] = json.dumps(doc, separators=(",", ":")).encode()
    return files


def read_headers(path: str | Path) -> dict[str, tuple[tuple[str, str], ...]]:
    """The request headers of each backend, from the file an in-cluster agent finds its mounted
    Secret in (``{"backend name": [["name", "value"], …]}``). Raises PlanError."""
    try:
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc, dict):
            raise TypeError("not an object")
        return {str(name): tuple((str(k), str(v)) for k, v in pairs) for name, pairs in doc.items()}
    except OSError as exc:
        raise PlanError(f"cannot read the request headers in {path}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise PlanError(f"{path} does not hold request headers: {exc}") from None


def read_plan_dir(
    folder: str | Path, headers_file: str | Path | None = None
) -> tuple[str, LoadPlan, list[LoadTarget]]:
    """The agent's name, plan and targets; ``headers_file`` (see :func:`read_headers`) gives
    backends their request headers, which the plan itself never holds."""
    folder = Path(folder)
    headers = read_headers(headers_file) if headers_file else {}
    try:
        doc = json.loads((folder / PLAN_FILE).read_text())
        plan = LoadPlan.from_dict(doc["plan"])
        targets = []
        for entry in doc["targets"]:
            bodies = [(folder / name).read_bytes() for name in entry["payloads"]]
            if not bodies or len(entry["requests"]) != len(bodies):
                raise PlanError(f"target {entry.get('variant')} has no requests")
            payloads = tuple(
                PreparedRequest(
                    str(r["path"]),
                    body,
                    tuple((str(k), str(v)) for k, v in r.get("headers") or ()),
                )
                for r, body in zip(entry["requests"], bodies, strict=True)
            )
            backend = BackendSpec.from_dict(entry["backend"])
            if backend.name in headers:
                backend = replace(backend, headers=headers[backend.name])
            targets.append(
                LoadTarget(
                    backend=backend,
                    address=str(entry["address"]),
                    variant=str(entry["variant"]),
                    variant_label=str(entry.get("label", "")),
                    payloads=payloads,
                )
            )
    except OSError as exc:
        raise PlanError(f"cannot read the plan in {folder}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{folder / PLAN_FILE} is not a usable load plan: {exc}") from None
    return str(doc.get("agent", "agent")), plan, targets


def run_agent(
    folder: str | Path,
    out: TextIO = sys.stdout,
    cancel: threading.Event | None = None,
    headers_file: str | Path | None = None,
) -> int:
    """Run a plan directory (with the backends' request headers from ``headers_file``, if
    given); returns 0 (or 1 when no target could be measured)."""
    from tfcompare.load.events import SweepMessage, WindowDone
    from tfcompare.load.sweep import sweep

    agent, plan, targets = read_plan_dir(folder, headers_file)
    barrier = json.loads((Path(folder) / PLAN_FILE).read_text()).get("barrier")
    if barrier:  # an in-cluster agent: start barrier and fixed slots (tfcompare.load.barrier)
        from tfcompare.load.barrier import run_in_slots

        return run_in_slots(Path(folder), barrier, plan, targets, out, cancel)
    lock = threading.Lock()

    def line(doc: dict) -> None:
        with lock:
            out.write(json.dumps({"agent": agent, **doc}, separators=(",", ":")) + "\n")
            out.flush()

    def on_event(event) -> None:
        if isinstance(event, WindowDone):
            line({"type": "window", **event.window.to_dict()})
        elif isinstance(event, SweepMessage):
            line({"type": "message", "text": event.text})

    result = sweep(plan, targets, on_event=on_event, cancel=cancel)
    line({"type": "done", "cancelled": result.cancelled})
    return 0 if result.levels else 1


def merge_window_lines(lines: Iterable[str | dict]) -> list[WindowSummary]:
    """Windows from several agents' output, merged per (backend, variant, level, window index),
    in the order first seen. Lines that are not windows are skipped."""
    groups: dict[tuple, list[WindowSummary]] = defaultdict(list)
    for raw in lines:
        doc = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(doc, dict) or doc.get("type") != "window":
            continue
        window = WindowSummary.from_dict(doc)
        groups[(window.backend, window.variant, window.level, window.index)].append(window)
    return [WindowSummary.merge(parts) for parts in groups.values()]
