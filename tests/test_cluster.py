"""tfcompare.cluster against a local server speaking the Kubernetes API (tests/kube_api_server.py):
the real ``kubernetes`` client, kubeconfig handling, discovery, error messages and the relay.
These need no model: the pod ports lead to TCP echo servers (see test_cluster_forward.py for TF)."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest
from kube_api_server import add_tfs_service
from waiting import wait_for

from tfcompare.cluster import (
    ClusterError,
    discover_services,
    list_contexts,
    list_namespaces,
    make_target,
    open_forward,
    parse_target,
)
from tfcompare.serving.backend_spec import BackendSpec


def spec(target: str, protocol: str = "grpc", timeout_s: float = 10.0) -> BackendSpec:
    return BackendSpec(name="b", target=target, protocol=protocol, timeout_s=timeout_s)  # type: ignore[arg-type]


def roundtrip(address: str, payload: bytes, timeout: float = 10.0) -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        sender = threading.Thread(target=conn.sendall, args=(payload,), daemon=True)
        sender.start()
        got = bytearray()
        while len(got) < len(payload):
            try:
                chunk = conn.recv(1 << 20)
            except ConnectionResetError:  # closed with our bytes unread: same as EOF here
                break
            if not chunk:
                break
            got += chunk
        return bytes(got)


# --------------------------------------------------------------------------- targets


def test_parse_target_forms():
    t = parse_target("k8s://tfs/tfs-cpu-1")
    assert (t.context, t.namespace, t.service, t.port) == (None, "tfs", "tfs-cpu-1", None)
    t = parse_target("k8s://kind-dev/tfs/tfs-gpu:8501")
    assert (t.context, t.namespace, t.service, t.port) == ("kind-dev", "tfs", "tfs-gpu", "8501")
    assert parse_target("k8s://tfs/svc:grpc").port == "grpc"
    arn = "arn:aws:eks:eu-west-1:123:cluster/prod"
    text = make_target("tfs", "svc", arn, 8500)
    assert "/prod" not in text and parse_target(text).context == arn
    assert str(parse_target(text)) == text


@pytest.mark.parametrize(
    "bad, words",
    [
        ("http://x/y", "not a Kubernetes target"),
        ("k8s://onlyone", "expected k8s://"),
        ("k8s://a/b/c/d", "expected k8s://"),
        ("k8s://tfs/svc:99999", "out of range"),
        ("k8s://tfs/Bad_Name", "bad service name"),
        ("k8s://tfs/svc:", "bad port"),
    ],
)
def test_parse_target_rejects(bad, words):
    with pytest.raises(ClusterError, match=words):
        parse_target(bad)


# --------------------------------------------------------------------------- kubeconfig


def test_contexts_follow_kubeconfig(kube):
    contexts = {c.name: c for c in list_contexts()}
    assert set(contexts) == {"test", "other"}
    assert contexts["test"].current and not contexts["other"].current
    assert contexts["test"].namespace == "tfs"


def test_missing_kubeconfig_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="no kubeconfig found"):
        list_contexts()


def test_unknown_context(kube):
    with pytest.raises(ClusterError, match="no context 'prod'.*test"):
        discover_services("prod")


# --------------------------------------------------------------------------- discovery


def _cluster(kube, echo) -> None:
    add_tfs_service(
        kube,
        "tfs-gpu",
        grpc=echo.address,
        limits={"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"},
    )
    add_tfs_service(kube, "tfs-cpu-1", grpc=echo.address, limits={"cpu": "1", "memory": "2Gi"})
    add_tfs_service(kube, "tfs-cpu-8", grpc=echo.address, limits={"cpu": "8", "memory": "8Gi"})
    kube.add_pod(
        "tfs",
        "tfs-cpu-8-unready",
        {"app.kubernetes.io/instance": "tfs-cpu-8"},
        {8500: echo.address},
        ready=False,
        limits={"cpu": "8"},
    )
    # not TF Serving: no label, no 8500/8501, no grpc/http/rest port name
    kube.add_service("tfs", "redis", [{"name": "redis", "port": 6379}], {"app": "redis"})
    # TF Serving by port number only, in another namespace
    kube.add_service(
        "ml",
        "legacy-inception",
        [{"port": 9000, "targetPort": 8500}, {"port": 8501}],
        {"app": "inception"},
    )


def test_discovery_shows_readiness_and_limits(kube, echo):
    _cluster(kube, echo)
    found = {s.name: s for s in discover_services()}  # the context's namespace: tfs
    assert set(found) == {"tfs-gpu", "tfs-cpu-1", "tfs-cpu-8"}
    gpu, cpu1, cpu8 = found["tfs-gpu"], found["tfs-cpu-1"], found["tfs-cpu-8"]
    assert gpu.limits.gpu == "1" and gpu.limits.cpu == "4" and "GPU 1" in gpu.limits.text
    assert cpu1.limits.cpu == "1" and cpu1.limits.gpu is None
    assert cpu8.readiness == "1/2" and cpu8.limits.cpu == "8"
    assert gpu.model == "tiny" and gpu.port_for("grpc").port == 8500
    assert gpu.port_for("rest").port == 8501
    assert gpu.kind == "TF Serving" and gpu.protocols == ("grpc", "rest")
    assert gpu.target() == "k8s://tfs/tfs-gpu:8500"
    assert gpu.backend_target() == "k8s://tfs/tfs-gpu:8500/tiny"
    assert gpu.backend_target("rest") == "k8s://tfs/tfs-gpu:8501/tiny,protocol=rest"
    assert gpu.backend_spec("rest").target == "k8s://tfs/tfs-gpu:8501"


def test_discovery_other_namespace_and_all(kube, echo):
    _cluster(kube, echo)
    legacy = discover_services(namespace="ml")
    assert [s.name for s in legacy] == ["legacy-inception"]
    assert legacy[0].readiness == "0/0" and legacy[0].port_for("rest").port == 8501
    assert legacy[0].kind == "TF Serving" and legacy[0].port_for("grpc").port == 9000
    everywhere = discover_services("other", all_namespaces=True)
    assert {(s.namespace, s.name) for s in everywhere} >= {
        ("ml", "legacy-inception"),
        ("tfs", "tfs-gpu"),
    }
    assert all(s.context == "other" and s.target().startswith("k8s://other/") for s in everywhere)
    assert "ml" in list_namespaces() and "tfs" in list_namespaces()


def test_missing_namespace_is_404(kube):
    with pytest.raises(ClusterError, match="namespace 'nope'.*not found") as err:
        discover_services(namespace="nope")
    assert err.value.status == 404


def test_bad_credentials_401(kube, tmp_path, monkeypatch):
    path = kube.kubeconfig(tmp_path / "bad", token="expired", contexts={"test": "tfs"})
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(ClusterError, match="rejected the credentials.*401") as err:
        discover_services()
    assert err.value.status == 401


def test_rbac_403_on_services(kube):
    kube.forbid("services", "tfs")
    with pytest.raises(
        ClusterError, match='denied.*403 Forbidden.*cannot list resource "services"'
    ) as err:
        discover_services()
    assert err.value.status == 403


def test_unreachable_api_server(tmp_path, monkeypatch):
    from kube_api_server import KubeAPIServer

    dead = KubeAPIServer()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead.port = s.getsockname()[1]
    monkeypatch.setenv(
        "KUBECONFIG", str(dead.kubeconfig(tmp_path / "kc", contexts={"test": "tfs"}))
    )
    with pytest.raises(  # refused at once: no retries until some long timeout
        ClusterError, match=r"cannot reach the Kubernetes API server http://127\.0\.0\.1.*refused"
    ) as err:
        discover_services()
    assert err.value.status == 0
    with pytest.raises(ClusterError, match="cannot reach"):
        open_forward(spec("k8s://tfs/tfs-gpu"))


# --------------------------------------------------------------------------- forward: errors


def test_forward_no_such_service_or_namespace(kube, echo):
    add_tfs_service(kube, "tfs-gpu", grpc=echo.address)
    with pytest.raises(
        ClusterError, match="no service 'tfs-gpux' in namespace 'tfs' \\(404\\)"
    ) as err:
        open_forward(spec("k8s://tfs/tfs-gpux"))
    assert err.value.status == 404
    with pytest.raises(ClusterError, match="namespace 'prod'.*not found"):
        open_forward(spec("k8s://prod/tfs-gpu"))
    with pytest.raises(ClusterError, match="has no port 9999; its ports: grpc 8500, http 8501"):
        open_forward(spec("k8s://tfs/tfs-gpu:9999"))


def test_forward_no_ready_pod(kube, echo):
    add_tfs_service(kube, "tfs-cpu-1", grpc=echo.address, ready=False, pod="tfs-cpu-1-abc")
    with pytest.raises(
        ClusterError,
        match=r"no ready pod behind service tfs/tfs-cpu-1: 0/1 pods ready "
        r"\(tfs-cpu-1-abc ContainerCreating\)",
    ):
        open_forward(spec("k8s://tfs/tfs-cpu-1"))
    kube.add_service("tfs", "empty", [{"name": "grpc", "port": 8500}], {"app": "none"})
    with pytest.raises(ClusterError, match="no pods match its selector 'app=none'"):
        open_forward(spec("k8s://tfs/empty"))


def test_forward_rbac_403_on_portforward(kube, echo):
    add_tfs_service(kube, "tfs-gpu", grpc=echo.address)
    kube.forbid("pods/portforward")
    with pytest.raises(
        ClusterError, match='403 Forbidden.*cannot create resource "pods/portforward"'
    ) as err:
        open_forward(spec("k8s://tfs/tfs-gpu"))
    assert err.value.status == 403


# --------------------------------------------------------------------------- forward: relaying


def test_forward_relays_bytes_exactly(kube, echo):
    pod = add_tfs_service(kube, "tfs-gpu", grpc=echo.address)
    with open_forward(spec("k8s://test/tfs/tfs-gpu")) as fwd:
        assert fwd.address.startswith("127.0.0.1:") and fwd.pod == pod and fwd.generation == 0
        assert fwd.state == f"forwarding to pod {pod}"
        payload = os.urandom(3 * 1024 * 1024 + 17)  # several WebSocket frames each way
        assert roundtrip(fwd.address, payload) == payload
        results: list[bool] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(
                    roundtrip(fwd.address, b"x" * 100_000) == b"x" * 100_000
                )
            )
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert results == [True] * 4
        # one port-forward stream per connection (+1 for the permission probe at open)
        assert kube.forwards[f"tfs/{pod}"] == 6
        assert echo.connections >= 5
        address = fwd.address
    host, port = address.rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).recv(1)


def test_forward_uses_selector_when_endpointslices_are_forbidden(kube, echo):
    pod = add_tfs_service(kube, "tfs-gpu", grpc=echo.address)
    kube.forbid("endpointslices")
    with open_forward(spec("k8s://tfs/tfs-gpu")) as fwd:
        assert fwd.pod == pod
        assert roundtrip(fwd.address, b"hello") == b"hello"
    assert any("/pods?labelSelector=" in r for r in kube.requests)


def test_forward_rest_port_by_protocol(kube, echo):
    pod = add_tfs_service(kube, "tfs-gpu", grpc="127.0.0.1:9", rest=echo.address)
    with open_forward(spec("k8s://tfs/tfs-gpu", protocol="rest")) as fwd:
        assert roundtrip(fwd.address, b"GET") == b"GET"
    assert any(f"pods/{pod}/portforward?ports=8501" in r for r in kube.requests)


def test_forward_follows_pod_replacement(kube, echo):
    old = add_tfs_service(kube, "tfs-cpu-1", grpc=echo.address, pod="tfs-cpu-1-old")
    states: list[str] = []
    with open_forward(spec("k8s://tfs/tfs-cpu-1"), poll_s=0.2) as fwd:
        fwd.subscribe(lambda f: states.append(f.state))
        host, port = fwd.address.rsplit(":", 1)
        conn = socket.create_connection((host, int(port)), timeout=10)
        conn.sendall(b"ping")
        assert conn.recv(10) == b"ping"
        kube.delete_pod("tfs", old)  # the pod dies: its stream ends, like in a cluster
        assert conn.recv(10) == b""  # the client sees the connection drop
        conn.close()
        wait_for(lambda: fwd.pod is None, 5, "the forward noticed the pod is gone")
        assert fwd.state.startswith("reconnecting…")
        assert "no ready pod" in fwd.state or "gone" in fwd.state
        # a client connecting while no pod is ready waits for the replacement instead of failing
        host, port = fwd.address.rsplit(":", 1)
        waiting = socket.create_connection((host, int(port)), timeout=15)
        waiting.sendall(b"after")  # connected and sent before the replacement exists
        kube.add_pod(
            "tfs",
            "tfs-cpu-1-new",
            {
                "app.kubernetes.io/name": "tensorflow-serving",
                "app.kubernetes.io/instance": "tfs-cpu-1",
            },
            {8500: echo.address},
        )
        with waiting:
            assert waiting.recv(10) == b"after"
        assert fwd.pod == "tfs-cpu-1-new" and fwd.generation == 1
        assert fwd.state == "forwarding to pod tfs-cpu-1-new"
        assert kube.forwards.get("tfs/tfs-cpu-1-new", 0) >= 1
    assert any(s.startswith("reconnecting…") for s in states)
    assert "forwarding to pod tfs-cpu-1-new" in states


def test_forward_gives_up_waiting_after_timeout(kube, echo):
    old = add_tfs_service(kube, "tfs-cpu-1", grpc=echo.address)
    with open_forward(spec("k8s://tfs/tfs-cpu-1", timeout_s=1.0), poll_s=0.2) as fwd:
        kube.set_ready("tfs", old, False)
        wait_for(lambda: fwd.pod is None, 5, "the forward noticed the pod is not ready")
        assert "is not ready" in fwd.state or "0/1 pods ready" in fwd.state
        # closed by the forward once its 1 s is up (end of file), long before roundtrip gives up
        assert roundtrip(fwd.address, b"x", timeout=10) == b""
        kube.set_ready("tfs", old, True)  # the same pod recovers: forwarding resumes
        wait_for(lambda: fwd.pod is not None, 5, "forwarding resumed")
        assert fwd.pod == old and fwd.generation == 1
        assert roundtrip(fwd.address, b"back") == b"back"


def test_forward_reports_pod_port_errors(kube):
    add_tfs_service(kube, "tfs-gpu", grpc="127.0.0.1:9")  # nothing listens in the "pod"
    with open_forward(spec("k8s://tfs/tfs-gpu", timeout_s=1.5), poll_s=0.2) as fwd:
        # retried for timeout_s (several streams), then given up: end of file, not a hang
        assert roundtrip(fwd.address, b"x", timeout=10) == b""
        assert kube.forwards["tfs/tfs-gpu-7d9f-x1"] >= 3
        wait_for(lambda: "last stream failed" in fwd.state, 5, "the failure is shown")
        assert "error forwarding port 8500" in fwd.state


# --------------------------------------------------------------------------- CLI


def test_cli_cluster_list(kube, echo, capsys):
    from tfcompare.cli import main

    _cluster(kube, echo)
    assert main(["cluster", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines()[2:] if line.startswith("tfs ")}
    assert set(lines) == {"tfs-gpu", "tfs-cpu-1", "tfs-cpu-8"}
    assert "TF Serving  grpc, rest" in lines["tfs-gpu"]
    assert (
        "GPU 1, CPU 4, mem 8Gi" in lines["tfs-gpu"] and "k8s://tfs/tfs-gpu:8500" in lines["tfs-gpu"]
    )
    assert " 1/2 " in lines["tfs-cpu-8"] and "CPU 8" in lines["tfs-cpu-8"]
    assert main(["cluster", "list", "--context", "other", "-n", "ml"]) == 0
    assert "k8s://other/ml/legacy-inception:9000" in capsys.readouterr().out
    assert main(["cluster", "contexts"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["*", "test", "fake", "tfs"], ["other", "fake", "default"]]
    kube.forbid("services")
    assert main(["cluster", "list"]) == 1
    assert "403 Forbidden" in capsys.readouterr().err


@pytest.mark.slow  # requests go through the forward to a real backend
def test_cli_run_reads_a_context_from_the_kubeconfig(kube, backend_pair, tmp_path, capsys):
    """`k8s://other/tfs/tfs-a` names context/namespace/service because "other" is a context of the
    kubeconfig (otherwise it would be namespace/service/model); the pods' model is used."""
    from images import photo, save

    from tfcompare.cli import main

    add_tfs_service(kube, "tfs-a", grpc=backend_pair.one.grpc)
    image = save(photo("chelsea"), tmp_path / "cat.jpg")
    out = tmp_path / "run.json"
    code = main(
        [
            "run",
            str(image),
            "--backend",
            "a=k8s://other/tfs/tfs-a",
            "--sizes",
            "128",
            "--formats",
            "jpeg",
            "--repeats",
            "1",
            "--json",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["backends"][0]["target"] == "k8s://other/tfs/tfs-a"
    assert data["requests"] and all(r["ok"] for r in data["requests"])
    assert kube.forwards.get("tfs/tfs-a-7d9f-x1", 0) >= 1


def test_cli_cluster_list_sums_container_resources(kube, echo, capsys):
    """A pod with a sidecar: 1 + 500m CPU is 1.5 CPUs, 1Gi + 512Mi is 1.5Gi (quantities, not text)."""
    from tfcompare.cli import main

    pod = add_tfs_service(kube, "tfs-side", grpc=echo.address, limits={"cpu": "1", "memory": "1Gi"})
    containers = kube.pods[f"tfs/{pod}"]["spec"]["containers"]
    containers[0]["resources"]["requests"] = {"cpu": "250m"}
    containers.append(
        {
            "name": "proxy",
            "image": "envoyproxy/envoy:v1.30",
            "resources": {
                "limits": {"cpu": "500m", "memory": "512Mi"},
                "requests": {"cpu": "100m", "memory": "1000M"},
            },
        }
    )
    [found] = [s for s in discover_services() if s.name == "tfs-side"]
    assert (found.limits.cpu, found.limits.memory) == ("1.5", "1.5Gi")
    assert (found.requests.cpu, found.requests.memory) == ("350m", "953.67Mi")
    assert main(["cluster", "list"]) == 0
    assert "CPU 1.5, mem 1.5Gi" in capsys.readouterr().out
