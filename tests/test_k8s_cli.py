"""Kubernetes backends as a user meets them on the command line: ``tfcompare run`` as a subprocess
against real local backends behind the local Kubernetes API server (real API and port-forward
protocol): pasted targets, errors that name the service and pod, pod restarts that are printed,
recorded as data and kept out of the statistics, typos that fail fast, and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from cli_process import tfcompare
from images import photo, save
from kube_api_server import TFS, add_tfs_service
from waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    return save(photo("chelsea"), tmp_path_factory.mktemp("photos") / "cat.jpg")


SMALL = ("--sizes", "128", "--formats", "jpeg", "--repeats", "1")


def test_pasted_target_from_cluster_list_runs(kube, backend_pair, cat, tmp_path):
    """The TARGET text `cluster list` prints, pasted as it is, measures the right model; a target
    without a model uses the model the service's pods declare."""
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.one.grpc)  # pods declare MODEL_NAME=tiny
    listed = tfcompare("cluster", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[1:3]
    assert header.split()[-1] == "TARGET"
    target = row.split()[-1]  # the last column (KIND and LIMITS hold spaces)
    assert target == "k8s://tfs/tfs-a:8500/tiny"
    assert "encoded bytes" in row  # INPUT: what the model takes, asked through a forward
    out = tmp_path / "out.json"
    proc = tfcompare(
        "run",
        cat,
        "--backend",
        f"pasted={target}",
        "--backend",
        "bare=k8s://tfs/tfs-a",
        *SMALL,
        "--json",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    assert "connecting to the cluster…" in proc.stderr
    data = json.loads(out.read_text())
    assert {b["name"]: b["model"] for b in data["backends"]} == {"pasted": "tiny", "bare": "tiny"}
    assert data["requests"] and all(r["ok"] for r in data["requests"]), data["requests"]
    assert {r["pod"] for r in data["requests"]} == {"tfs-a-7d9f-x1"}


def test_errors_name_service_and_pod_not_the_relay(kube, backend_pair, cat, tmp_path):
    """A backend behind a pod that does not answer: the message names the service, its pod and
    the context (not the current one here), never the hidden 127.0.0.1 relay; the run still
    measures the other backend and exits 1 because one backend never answered."""
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.one.grpc)
    kube.add_namespace("ml")
    add_tfs_service(kube, "tfs-dead", ns="ml", grpc="127.0.0.1:9", pod="tfs-dead-5c8d-q2")
    out = tmp_path / "out.json"
    proc = tfcompare(
        "run",
        cat,
        "--backend",
        "good=k8s://tfs/tfs-a:8500/tiny",
        "--backend",
        "dead=k8s://other/ml/tfs-dead:8500/tiny",
        *SMALL,
        "--timeout",
        "3",
        "--json",
        out,
    )
    assert proc.returncode == 1, proc.stderr
    dead = [line for line in proc.stderr.splitlines() if line.startswith("backend dead:")]
    assert dead, proc.stderr
    assert "service ml/tfs-dead (pod tfs-dead-5c8d-q2, context other)" in dead[0]
    relay = re.compile(r"127\.0\.0\.1:\d+")  # the local end of a forward: never shown
    assert not relay.search(proc.stderr), proc.stderr
    assert "never answered successfully" in proc.stderr and "dead" in proc.stderr
    data = json.loads(out.read_text())
    assert all(r["ok"] for r in data["requests"] if r["backend"] == "good")
    failed = [r for r in data["requests"] if r["backend"] == "dead"]
    assert failed and not any(r["ok"] for r in failed)
    assert not any(relay.search(r["error"] or "") for r in failed)
    assert all("service ml/tfs-dead" in r["error"] for r in failed if "not sent" not in r["error"])


def test_typos_fail_fast_with_status_2(kube, backend_pair, cat):
    """Unknown service, namespace, context or model: said at once, before any request, exit 2."""
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.one.grpc)
    cases = [
        ("k8s://tfs/tfs-aa", "no service 'tfs-aa' in namespace 'tfs'"),
        ("k8s://tfss/tfs-a", "tfss"),
        ("k8s://tfs/tfs-a:8500/tinyy", "tinyy"),
        ("k8s://nosuch/tfs/tfs-a:8500", "no context 'nosuch'"),
        (f"{backend_pair.one.grpc}/tinyy", "tinyy"),
    ]
    for target, words in cases:
        proc = tfcompare(
            "run",
            cat,
            "--backend",
            f"a={target}",
            "--backend",
            f"ok={backend_pair.two.grpc}/tiny",
            "--repeats",
            "50",
        )
        assert proc.returncode == 2, (target, proc.stderr)
        assert "tfcompare run: error: backend a:" in proc.stderr and words in proc.stderr, target
        assert "progress" not in proc.stderr and "p50 ms" not in proc.stdout, target  # no run
    assert "namespace" in tfcompare("run", cat, "--backend", "a=k8s://tfss/tfs-a").stderr


def test_no_usable_backend_stops_before_the_run(cat):
    proc = tfcompare("run", cat, "--backend", "a=127.0.0.1:9/tiny", "--timeout", "2")
    assert proc.returncode == 1
    assert "backend a:" in proc.stderr and "nothing measured" in proc.stderr
    assert "progress" not in proc.stderr


def test_pod_replaced_mid_run(kube, backend_pair, fresh_backend, cat, tmp_path):
    """The pod dies mid-run and another takes its place: the terminal says so, the requests that
    spanned the move are recorded as such (JSON, CSV, session) and left out of the statistics."""
    doomed = fresh_backend(threads=1)
    add_tfs_service(kube, "tfs-a", grpc=doomed.grpc, pod="tfs-a-aaa")
    out, out_csv, session = tmp_path / "out.json", tmp_path / "out.csv", tmp_path / "s.tfcs"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "run",
            str(cat),
            "--backend",
            "a=k8s://tfs/tfs-a",
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--repeats",
            "60",
            "--json",
            str(out),
            "--csv",
            str(out_csv),
            "--save",
            str(session),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err_lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            err_lines.append(line)
            done = re.search(r"^progress: .*\((\d+)%\)", line)
            if done and int(done.group(1)) >= 10:  # some requests answered by the first pod
                break
        doomed.kill()
        asked = len(kube.requests)
        kube.delete_pod("tfs", "tfs-a-aaa")
        # the replacement comes once the run's forward has looked for the pod and found it gone
        wait_for(
            lambda: any("/namespaces/tfs/pods" in r for r in kube.requests[asked:]),
            30,
            "the forward looked for the pod after it was deleted",
        )
        kube.add_pod(
            "tfs",
            "tfs-a-bbb",
            {**TFS, "app.kubernetes.io/instance": "tfs-a"},
            {8500: backend_pair.one.grpc},
            model_name="tiny",
        )
        stdout, rest = proc.communicate(timeout=240)
    finally:
        proc.kill()
    stderr = "".join(err_lines) + rest
    assert proc.returncode == 0, stderr
    assert "backend a: pod tfs-a-aaa is gone; now forwarding to tfs-a-bbb" in stderr, stderr
    data = json.loads(out.read_text())
    reqs = data["requests"]
    spanning = [r for r in reqs if r["spans_restart"]]
    assert spanning, reqs
    assert all(r["pod_before"] == "tfs-a-aaa" and r["pod"] == "tfs-a-bbb" for r in spanning), [
        (r["pod_before"], r["pod"], r.get("error")) for r in spanning
    ]
    assert {r["pod"] for r in reqs if not r["spans_restart"] and r["ok"]} == {
        "tfs-a-aaa",
        "tfs-a-bbb",
    }
    assert all(r["pod_before"] is None for r in reqs if not r["spans_restart"])
    for agg in data["summary"]:
        mine = [r for r in reqs if (r["image"], r["variant"]) == (agg["image"], agg["variant"])]
        counted = [r["latency_ms"] for r in mine if r["ok"] and not r["spans_restart"]]
        assert agg["n"] == len(counted)
        assert agg["n_spanning"] == sum(1 for r in mine if r["ok"] and r["spans_restart"])
        assert agg["mean_ms"] == pytest.approx(sum(counted) / len(counted))
    n = len(spanning)
    assert f"a: {n} request(s) spanned a pod restart (tfs-a-aaa → tfs-a-bbb)" in stdout
    assert "not in percentiles and means" in stdout
    rows = out_csv.read_text().splitlines()
    header = rows[0].split(",")
    assert {"pod", "pod_before", "spans_restart"} <= set(header)
    assert sum(1 for r in rows[1:] if r.split(",")[header.index("spans_restart")] == "true") == n
    from tfcompare.session import load_session

    saved = load_session(session).result
    assert sum(1 for r in saved.measured if r.spans_restart) == n
    assert {r.pod_before for r in saved.measured if r.spans_restart} == {"tfs-a-aaa"}


def test_cluster_help_explains_contexts_and_forward(capsys):
    from tfcompare.cli import main

    with pytest.raises(SystemExit):
        main(["cluster", "--help"])
    out = capsys.readouterr().out
    assert "contexts" in out and "forward" in out and "list" in out
    with pytest.raises(SystemExit):
        main(["cluster", "forward", "--help"])
    out = capsys.readouterr().out
    assert "pod restarts" in out and "tfcompare cluster forward k8s://tfs/tfs-gpu" in out
    with pytest.raises(SystemExit):
        main(["cluster", "contexts", "--help"])
    assert "current one starred" in capsys.readouterr().out
