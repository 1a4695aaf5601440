"""A capacity sweep run by load agents inside the cluster (``tfcompare load --in-cluster``).

The coordinator (this module, on the user's machine) creates a ConfigMap + Indexed Job
(:mod:`tfcompare.cluster.loadjob`), follows the agents' logs through the API, runs the start
barrier (every agent prints ``ready``; then the start times are published into the mounted plan,
see :mod:`tfcompare.load.barrier`), and merges window ``k`` of every level across the agents
(counts add, HdrHistograms merge exactly). Stability, the latency limit and the knee are judged on
the merged windows, as for a local sweep. A level that not every agent measured completely (an
agent died or was evicted, or joined late) is excluded and said so. The Job is deleted at the
end, on Ctrl-C and on cancel.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tfcompare.load.barrier import slot_length, slot_starts
from tfcompare.load.capacity_results import CapacityResult, WindowSummary, summarise
from tfcompare.load.events import LevelDone, LoadEvent, SweepMessage, TargetDone, WindowDone
from tfcompare.load.load_plan import DEFAULT_CONCURRENCY, LoadPlan, LoadTarget

POLL_S = 0.5


@dataclass(frozen=True)
class InCluster:
    """Where and how the agents run. ``start_lead_s``: from the last agent ready to the first
    slot — the kubelet refreshes mounted ConfigMaps on its sync period (up to about a minute)."""

    agents: int = 2
    namespace: str | None = None
    context: str | None = None
    image: str | None = None
    start_lead_s: float = 60.0
    gap_s: float = 2.0
    ready_timeout_s: float = 300.0


def default_levels_for_agents(agents: int) -> tuple[tuple[float, ...], str | None]:
    """The default concurrency levels for a sweep split between ``agents``, and a note when some
    had to go: a level below the agent count cannot be split (each agent keeps at least one
    request in flight)."""
    kept = tuple(v for v in DEFAULT_CONCURRENCY if v >= agents) or (float(agents),)
    dropped = [v for v in DEFAULT_CONCURRENCY if v < agents]
    if not dropped:
        return kept, None
    return kept, (
        f"concurrency {', '.join(f'{v:g}' for v in dropped)} left out of the default "
        f"levels: with {agents} agents each level needs at least {agents} requests in "
        "flight (one per agent)"
    )


def agents_plan(plan: LoadPlan, agents: int) -> LoadPlan:
    """The plan every agent reads: each level runs exactly ``max_windows`` windows (agents cannot
    stop together early), no overall duration. Raises ValueError for levels that cannot be split."""
    if agents < 1:
        raise ValueError("--agents must be at least 1")
    if plan.mode == "concurrency" and min(plan.levels) < agents:
        raise ValueError(
            f"with {agents} agents every concurrency level must be at least {agents} (each agent "
            f"keeps at least one request in flight); the lowest is {min(plan.levels):g}"
        )
    return replace(plan, fixed_windows=plan.max_windows, start_at=None, duration_s=None)


def job_objects(
    plan: LoadPlan,
    targets: Sequence[LoadTarget],
    opts: InCluster,
    namespace: str,
    run_id: str | None = None,
):
    """The ConfigMap, Job and (with request headers) Secret of a run: a
    ``tfcompare.cluster.loadjob.LoadObjects`` (what ``--dry-run`` prints)."""
    from tfcompare.cluster.loadjob import DEFAULT_IMAGE, manifests
    from tfcompare.load.agent import plan_files

    aplan = agents_plan(plan, opts.agents)
    sweep_s = len(targets) * len(aplan.levels) * slot_length(aplan, opts.gap_s)
    barrier = {"agents": opts.agents, "timeout_s": opts.ready_timeout_s + opts.start_lead_s + 60}
    files = plan_files(aplan, targets, barrier=barrier)
    deadline = int(opts.ready_timeout_s + opts.start_lead_s + sweep_s + 120)
    return manifests(
        run_id or secrets.token_hex(4),
        namespace,
        files,
        agents=opts.agents,
        image=opts.image or DEFAULT_IMAGE,
        deadline_s=deadline,
        headers={t.backend.name: list(t.backend.headers) for t in targets if t.backend.headers},
    )


def in_cluster_targets(
    specs, payloads: dict[str, list[bytes]], info: dict[str, dict]
) -> tuple[list[LoadTarget], list[str]]:
    """The requests for agents inside the cluster: signatures read once through a port-forward,
    then each ``k8s://`` backend addressed by its service (``service_address``). A HOST:PORT
    backend keeps its address (it must be reachable from the agents' pods)."""
    from tfcompare.cluster.loadjob import service_address
    from tfcompare.load.prepare import connected_targets

    targets, problems, connections = connected_targets(specs, payloads, info)
    try:
        inside = {s.name: service_address(s) for s in specs if s.is_k8s}
    finally:
        for conn in connections:
            conn.close()
    return [replace(t, address=inside.get(t.backend.name, t.address)) for t in targets], problems


class _Collector:
    """What the agents' log lines say: who is ready, their windows, who finished, who died."""

    def __init__(self) -> None:
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.ready: dict[int, str] = {}  # agent index -> pod
        self.pod_index: dict[str, int] = {}
        self.done: set[int] = set()
        self.windows: dict[tuple[int, int, int], dict[int, WindowSummary]] = defaultdict(dict)
        self.deaths: list[tuple[int, str, str, float]] = []  # (index, pod, why, when)
        self.messages: list[str] = []

    def drain(self, on_window: Callable[[tuple, dict], None]) -> None:
        while True:
            try:
                pod, raw = self.lines.get_nowait()
            except queue.Empty:
                return
            try:
                doc = json.loads(raw)
            except ValueError:
                continue  # agents' other output (warnings) is not ours to parse
            if not isinstance(doc, dict):
                continue
            index = int(doc.get("agent_index", -1))
            kind = doc.get("type")
            if kind == "ready":
                self.ready[index] = pod
                self.pod_index[pod] = index
            elif kind == "window":
                try:
                    t, slot = doc["slot"]
                    key = (int(t), int(slot), int(doc["index"]))
                    window = WindowSummary.from_dict(doc)
                except (KeyError, TypeError, ValueError) as exc:
                    self.messages.append(f"{pod}: a window report was refused ({exc})")
                    continue
                self.windows[key][index] = window
                on_window(key, self.windows[key])
            elif kind == "done":
                if self.pod_index.get(pod) == index:
                    self.done.add(index)
            elif kind in ("message", "log-error"):
                self.messages.append(f"{doc.get('agent', pod)}: {doc.get('text', '')}")

    def check_pods(self, pods: list, agents: int) -> None:
        """Pods that ended before their agent finished: died (Failed) or evicted/deleted."""
        seen = {p.metadata.name: p for p in pods}
        for pod, index in list(self.pod_index.items()):
            if index in self.done or any(d[1] == pod for d in self.deaths):
                continue
            p = seen.get(pod)
            if p is None or p.metadata.deletion_timestamp is not None:
                # gone, or terminating: a deleted or evicted pod is marked for deletion before
                # its container is stopped, so its exit code says nothing of its own
                self.deaths.append((index, pod, "the pod was deleted or evicted", time.time()))
            elif p.status and p.status.phase == "Failed":
                why = _terminated(p)
                self.deaths.append((index, pod, f"the pod failed ({why})", time.time()))


def _terminated(pod) -> str:
    for cs in pod.status.container_statuses or []:
        term = cs.state.terminated if cs.state else None
        if term is not None:
            return f"{term.reason or 'exit'} {term.exit_code}"
    return pod.status.reason or "Failed"


def _pending_states(pods: list) -> str:
    states = []
    for p in pods:
        why = p.status.phase if p.status else "?"
        for cs in (p.status.container_statuses or []) if p.status else []:
            if cs.state and cs.state.waiting and cs.state.waiting.reason:
                why = cs.state.waiting.reason
        states.append(f"{p.metadata.name} {why}")
    return ", ".join(states) or "no pods yet"


def run_in_cluster(
    plan: LoadPlan,
    targets: Sequence[LoadTarget],
    opts: InCluster,
    *,
    on_event: Callable[[LoadEvent], None] | None = None,
    cancel: threading.Event | None = None,
    variants: dict[str, dict] | None = None,
) -> CapacityResult:
    """Run the sweep with ``opts.agents`` agents; returns the merged result (``cancelled`` when
    stopped). Raises ClusterError when the objects cannot be created."""
    from tfcompare.cluster.kube import resolve_context
    from tfcompare.cluster.loadjob import LoadJob

    cancel = cancel or threading.Event()
    emit = on_event or (lambda e: None)
    namespace = opts.namespace or resolve_context(opts.context).namespace
    aplan = agents_plan(plan, opts.agents)
    objects = job_objects(plan, targets, opts, namespace)
    job = objects.job
    result = CapacityResult(
        plan={
            **plan.to_dict(),
            "in_cluster": {
                "agents": opts.agents,
                "namespace": namespace,
                "job": job["metadata"]["name"],
            },
        },
        backends=list({t.backend.name: t.backend.to_dict() for t in targets}.values()),
        variants=variants
        or {t.variant: {"label": t.variant_label, "bytes": t.mean_bytes} for t in targets},
        started_at=time.time(),
    )

    def message(text: str) -> None:
        result.messages.append(text)
        emit(SweepMessage(text))

    message(
        f"in-cluster, {opts.agents} agents (Job {job['metadata']['name']} in namespace "
        f"{namespace}); backends addressed by their service address, no port-forward"
    )
    lj = LoadJob(
        objects.configmap, job, opts.context, secret=objects.secret, requests=objects.requests
    )
    col = _Collector()
    shown: set[tuple] = set()

    def on_window(key: tuple, parts: dict) -> None:
        if len(parts) == opts.agents and key not in shown:
            shown.add(key)
            merged = WindowSummary.merge([parts[i] for i in sorted(parts)])
            emit(WindowDone(replace(merged, level=aplan.levels[key[1]])))

    def poll() -> list:
        pods = lj.pods()
        lj.follow(pods, lambda pod, line: col.lines.put((pod, line)))
        col.drain(on_window)
        return pods

    lj.create()
    try:
        deadline = time.monotonic() + opts.ready_timeout_s
        while len(col.ready) < opts.agents:
            pods = poll()
            if cancel.wait(POLL_S):
                result.cancelled = True
                return result
            if time.monotonic() > deadline:
                message(
                    f"the agents were not ready after {opts.ready_timeout_s:g} s "
                    f"({_pending_states(pods)}): nothing measured"
                )
                return result
        t0 = time.time() + opts.start_lead_s
        starts = slot_starts(t0, len(targets), aplan, opts.gap_s)
        lj.publish("start.json", json.dumps({"slots": starts}))
        end = starts[-1][-1] + slot_length(aplan, opts.gap_s) + 30
        while time.time() < end and len(col.done) < opts.agents:
            col.check_pods(poll(), opts.agents)
            if cancel.wait(POLL_S):
                result.cancelled = True
                break
        if not result.cancelled:
            col.check_pods(poll(), opts.agents)
    finally:
        lj.delete()
        lj.close()
    for text in col.messages:
        message(text)
    merge_into(result, col, aplan, targets, opts.agents, starts, opts.gap_s, emit)
    result.finished_at = time.time()
    return result


def merge_into(
    result: CapacityResult,
    col: _Collector,
    aplan: LoadPlan,
    targets: Sequence[LoadTarget],
    agents: int,
    starts: list[list[float]],
    gap_s: float,
    emit: Callable[[LoadEvent], None],
) -> None:
    """Merged levels into ``result``: a level counts only when every agent measured every window
    of it; otherwise it is excluded with the reason (which agent, and what happened to it)."""
    length = slot_length(aplan, gap_s)
    for t, target in enumerate(targets):
        name = f"{target.backend.name}/{target.variant}"
        for slot, level in enumerate(aplan.levels):
            keys = sorted(k for k in col.windows if k[:2] == (t, slot))
            if not keys:
                continue
            label = aplan.level_label(level)
            missing = sorted({i for k in keys for i in range(agents) if i not in col.windows[k]})
            if missing or len(keys) < (aplan.fixed_windows or 1):
                begin, stop = starts[t][slot], starts[t][slot] + length
                whys = [
                    f"agent-{i} ({pod}): {why}"
                    for i, pod, why, when in col.deaths
                    if i in missing and when >= begin - length and when <= stop + length
                ]
                detail = "; ".join(whys) or (
                    f"no complete windows from agent(s) {', '.join(map(str, missing))}"
                    if missing
                    else "fewer windows than planned"
                )
                result.messages.append(
                    f"{name} {label}: excluded, not every agent measured it completely — {detail}"
                )
                continue
            windows = []
            for k in keys:
                parts = col.windows[k]
                merged = WindowSummary.merge([parts[i] for i in sorted(parts)])
                windows.append(replace(merged, level=level, agents=agents))
            lv = summarise(windows, aplan.mode, aplan.stable_windows, aplan.stability)
            limit, p99 = aplan.latency_limit_ms, lv.percentile_ms(99)
            result.levels.append(lv)
            emit(LevelDone(lv))
            if limit is not None and p99 is not None and p99 > limit:
                lv.stop_reason = f"p99 {p99:.1f} ms is above the limit of {limit:g} ms"
                result.messages.append(f"{name}: sweep stopped at {label}: {lv.stop_reason}")
                break
        emit(TargetDone(target.backend.name, target.variant))
