"""``tfcompare load --in-cluster`` end to end: the real ``kubernetes`` client creates a ConfigMap and
an Indexed Job on the local Kubernetes API server (tests/kube_workloads.py runs the Job's pods as
local ``tfcompare load --agent`` processes with the ConfigMap mounted as files and serves their
logs with follow=true); the agents load real local TF Serving backends through the services'
ClusterIPs; the coordinator merges their windows."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from images import noisy_png, photo, save
from kube_api_server import add_tfs_service
from waiting import wait_for

pytestmark = pytest.mark.slow

FAST = ("--window-s", "0.5", "--max-windows", "3", "--start-lead", "1", "--timeout", "10")


def load(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", "load", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen_load(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "tfcompare", "load", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    return save(photo("chelsea"), tmp_path_factory.mktemp("photos") / "cat.jpg")


def _nothing_left(kube, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (kube.workloads.jobs or kube.workloads.running()):
        time.sleep(0.2)
    assert kube.workloads.jobs == {}
    assert kube.workloads.configmaps == {}
    assert kube.workloads.running() == []
    assert not [k for k, p in kube.pods.items() if "job-name" in p["metadata"]["labels"]]


def _wait_for_start(kube, timeout_s: float = 90.0) -> list[list[float]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for cm in list(kube.workloads.configmaps.values()):
            if "start.json" in cm.get("data", {}):
                return json.loads(cm["data"]["start.json"])["slots"]
        time.sleep(0.1)
    raise AssertionError("no start time was published")


def test_agents_merge_like_one_local_sweep(kube, backend_pair, cat, tmp_path):
    """Two agents at c=2,4 measure the backend the way one local sweep at c=2,4 does."""
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    out_cluster, out_local = tmp_path / "cluster.json", tmp_path / "local.json"
    proc = load(
        cat,
        "--backend",
        "a=k8s://tfs/tfs-a:8500/tiny",
        "--variants",
        "original",
        "--concurrency",
        "2,4",
        "--in-cluster",
        "--agents",
        "2",
        *FAST,
        "--json",
        out_cluster,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "in-cluster, 2 agents" in proc.stdout
    _nothing_left(kube)
    local = load(
        cat,
        "--backend",
        f"a={backend_pair.two.grpc}/tiny",
        "--variants",
        "original",
        "--concurrency",
        "2,4",
        *FAST,
        "--json",
        out_local,
    )
    assert local.returncode == 0, local.stderr
    cluster_doc, local_doc = json.loads(out_cluster.read_text()), json.loads(out_local.read_text())
    c_levels = {lv["level"]: lv for lv in cluster_doc["levels"]}
    l_levels = {lv["level"]: lv for lv in local_doc["levels"]}
    assert set(c_levels) == set(l_levels) == {2.0, 4.0}
    for level, lv in c_levels.items():
        assert lv["n_errors"] == 0 and lv["ok"] > 0
        assert len(lv["windows"]) == 3 and all(w["agents"] == 2 for w in lv["windows"])
        # the requested total was really in flight, split over the two agents
        assert lv["achieved"] == pytest.approx(level, rel=0.25)
        # within noise of one local sweep at the same total load (2 cores shared with other
        # work: the two sweeps run one after the other, so the bound is wide)
        ratio = lv["throughput"] / l_levels[level]["throughput"]
        assert 0.3 < ratio < 3.3, (level, lv["throughput"], l_levels[level]["throughput"])
        assert lv["windows"][0]["hist"] and sum(w["ok"] for w in lv["windows"]) == lv["ok"]
    agents = kube.workloads.all_procs
    assert len(agents) == 2 and all(p.returncode == 0 for p in agents)


@pytest.mark.parametrize("how", ["killed", "evicted"])
def test_agent_lost_mid_level_is_reported_and_excluded(kube, backend_pair, cat, tmp_path, how):
    """An agent's process dies (pod Failed) or its pod is evicted (deleted) during a level."""
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    out = tmp_path / "out.json"
    proc = popen_load(
        cat,
        "--backend",
        "a=k8s://tfs/tfs-a:8500/tiny",
        "--variants",
        "original",
        "--concurrency",
        "2,4,6",
        "--in-cluster",
        "--agents",
        "2",
        *FAST,
        "--json",
        out,
    )
    try:
        slots = _wait_for_start(kube)
        # the published start of the first level, plus a little: inside its windows
        wait_for(lambda: time.time() >= slots[0][0] + 0.6, 60, "the first level under way")
        victim = next(
            k
            for k, p in kube.pods.items()
            if p["metadata"]["labels"].get("batch.kubernetes.io/job-completion-index") == "1"
        )
        if how == "killed":
            os.kill(kube.workloads.procs[victim].pid, signal.SIGKILL)
        else:
            kube.workloads.evict(*victim.split("/", 1))
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr + stdout
    excluded = [line for line in stdout.splitlines() if "excluded" in line]
    assert excluded and "c=2" in excluded[0], stdout
    why = "failed" if how == "killed" else "deleted or evicted"
    assert "agent-1" in excluded[0] and why in excluded[0], excluded
    doc = json.loads(out.read_text())
    levels = [lv["level"] for lv in doc["levels"]]
    assert 2.0 not in levels  # its windows were partial: not merged, not silently dropped
    assert levels, stdout  # the replacement agent joined a later level
    assert all(w["agents"] == 2 for lv in doc["levels"] for w in lv["windows"])
    _nothing_left(kube)


def test_cancel_leaves_no_job_and_no_processes(kube, backend_pair, cat):
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    proc = popen_load(
        cat,
        "--backend",
        "a=k8s://tfs/tfs-a:8500/tiny",
        "--variants",
        "original",
        "--concurrency",
        "3,6,9",
        "--in-cluster",
        "--agents",
        "3",
        *FAST,
    )
    try:
        slots = _wait_for_start(kube)
        assert len(kube.workloads.running()) == 3
        # cancelled once the agents are measuring (the first level's published start)
        wait_for(lambda: time.time() >= slots[0][0] + 0.2, 60, "the first level under way")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "the Job and its pods were deleted" in stderr
    _nothing_left(kube)


def test_oversized_plan_is_refused(kube, backend_pair, tmp_path):
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    big = noisy_png(tmp_path / "big.png", 1600, 1200)
    proc = load(
        big,
        "--backend",
        "a=k8s://tfs/tfs-a:8500/tiny",
        "--variants",
        "original",
        "--concurrency",
        "2",
        "--in-cluster",
        *FAST,
    )
    assert proc.returncode == 2, proc.stderr
    assert "more than the 1 MiB a Kubernetes ConfigMap may hold" in proc.stderr
    assert kube.workloads.jobs == {} and kube.workloads.configmaps == {}


def test_requests_over_one_configmap_travel_in_several(kube, backend_pair, tmp_path):
    """Three ~400 KB requests (together over the 1 MiB a ConfigMap holds — a tensor model's
    224×224×3 float32 request is 600 KB alone) go in the plan's ConfigMap and a request
    ConfigMap, projected into the agents' one plan folder: the sweep measures every image, and
    every ConfigMap goes with the Job."""
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    images = [noisy_png(tmp_path / f"n{i}.png", 400, 330, seed=i) for i in range(3)]
    sweep = "--backend a=k8s://tfs/tfs-a:8500/tiny --variants original --concurrency 2".split()
    dry = load(*images, *sweep, "--in-cluster", "--dry-run", *FAST)
    assert dry.returncode == 0, dry.stderr
    docs = list(yaml.safe_load_all(dry.stdout))
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert len(maps) == 2 and maps[1]["metadata"]["name"].endswith("-requests-1")
    for cm in maps:
        size = sum(len(base64.b64decode(v)) for v in cm.get("binaryData", {}).values())
        assert size + sum(len(v) for v in cm.get("data", {}).values()) < 1024 * 1024
    [job] = [d for d in docs if d["kind"] == "Job"]
    [plan] = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "plan"]
    assert [s["configMap"]["name"] for s in plan["projected"]["sources"]] == [
        cm["metadata"]["name"] for cm in maps
    ]
    out = tmp_path / "cap.json"
    proc = load(*images, *sweep, "--in-cluster", "--json", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    levels = json.loads(out.read_text())["levels"]
    assert levels and all(lv["errors"] == {} and lv["throughput"] > 0 for lv in levels)
    _nothing_left(kube)


def test_dry_run_yaml_validates_and_creates_nothing(kube, backend_pair, cat):
    import kubernetes_validate

    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    proc = load(
        cat,
        "--backend",
        "a=k8s://tfs/tfs-a:8500/tiny",
        "--concurrency",
        "2,4",
        "--variants",
        "original,128-jpeg",
        "--in-cluster",
        "--agents",
        "2",
        "--dry-run",
        "-o",
        "yaml",
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert [d["kind"] for d in docs] == ["ConfigMap", "Job"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)
    configmap, job = docs
    assert {"plan.json", "t0-0.bin", "t1-0.bin"} <= set(configmap["data"]) | set(
        configmap["binaryData"]
    )
    plan = json.loads(configmap["data"]["plan.json"])
    assert plan["barrier"]["agents"] == 2 and plan["plan"]["fixed_windows"] == 3
    address = plan["targets"][0]["address"]
    assert address.endswith(":8500") and not address.startswith("127.0.0.1")  # no port-forward
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["parallelism"] == 2
    assert spec["ttlSecondsAfterFinished"] > 0 and spec["activeDeadlineSeconds"] > 0
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["command"] == ["tfcompare", "load", "--agent", "/etc/tfcompare/plan"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert set(container["resources"]) == {"requests", "limits"}
    assert job["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tfcompare"
    assert kube.workloads.jobs == {} and kube.workloads.configmaps == {}


def test_the_default_levels_leave_out_those_the_agents_cannot_split(kube, backend_pair, cat):
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    proc = load(
        cat,
        "--backend",
        "a=k8s://tfs/tfs-a:8500/tiny",
        "--variants",
        "original",
        "--in-cluster",
        "--agents",
        "3",
        "--dry-run",
        "-o",
        "yaml",
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "note: concurrency 1, 2 left out of the default levels: with 3 agents each level "
        "needs at least 3 requests in flight (one per agent)"
    ) in proc.stderr
    configmap = next(d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "ConfigMap")
    assert json.loads(configmap["data"]["plan.json"])["plan"]["levels"] == [4, 8, 16, 32]


def test_levels_below_the_agent_count_are_unusable(cat):
    proc = load(
        cat,
        "--backend",
        "a=k8s://tfs/tfs-a",
        "--concurrency",
        "1,2",
        "--in-cluster",
        "--agents",
        "3",
        "--variants",
        "original",
    )
    assert proc.returncode == 2
    assert "every concurrency level must be at least 3" in proc.stderr


def test_a_header_reaches_the_agents_through_a_secret_and_never_the_configmap(
    kube, fresh_backend, cat, tmp_path
):
    """A backend behind an authenticating gateway (it refuses calls without the header): the
    agents measure it with the header, which travels in a Secret owned by the Job — never in the
    ConfigMap, the Job, the output or the saved session — and the Secret goes with the Job."""
    secret_value = "k-7f3a9c"
    guarded = fresh_backend(extra_args=["--require-header", f"x-api-key:{secret_value}"])
    add_tfs_service(kube, "tfs-guarded", grpc=guarded.grpc)
    seen: dict[str, dict] = {}

    def watch() -> None:  # what was created, as the API server holds it
        while not seen.get("done"):
            for store in ("configmaps", "secrets"):
                for key, obj in list(getattr(kube.workloads, store).items()):
                    seen.setdefault(store, {})[key] = json.loads(json.dumps(obj))
            for key, obj in list(kube.workloads.jobs.items()):
                seen.setdefault("jobs", {})[key] = json.loads(json.dumps(obj))
            time.sleep(0.05)

    import threading

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = tmp_path / "guarded.tfcs"
    proc = load(
        cat,
        "--backend",
        "g=k8s://tfs/tfs-guarded:8500/tiny",
        "--header",
        f"x-api-key: {secret_value}",
        "--variants",
        "original",
        "--concurrency",
        "2",
        "--in-cluster",
        "--agents",
        "2",
        *FAST,
        "--save",
        session,
    )
    seen["done"] = True
    watcher.join(5)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    _nothing_left(kube)
    assert kube.workloads.secrets == {}  # deleted with the Job
    secret = next(iter(seen["secrets"].values()))
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tfcompare"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Job"
    headers = json.loads(base64.b64decode(secret["data"]["headers.json"]))
    assert headers == {"g": [["x-api-key", secret_value]]}
    for store in ("configmaps", "jobs"):
        assert secret_value not in json.dumps(seen[store]), store
    assert secret_value not in proc.stdout + proc.stderr
    assert secret_value.encode() not in session.read_bytes()
    # the agents' requests carried the header: every level has answers and no errors
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import load_session

    sweep = capacity_of(load_session(session))
    assert sweep.levels and all(lv.ok > 0 and lv.n_errors == 0 for lv in sweep.levels)
