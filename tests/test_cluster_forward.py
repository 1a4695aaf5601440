"""End to end through Kubernetes port-forwards: tfcompare's gRPC/REST clients talk to real local
TF Serving backends via our relay, the real ``kubernetes`` client and the pods/portforward
WebSocket of tests/kube_api_server.py; pods are replaced mid-run and the forward follows."""

from __future__ import annotations

import io
import threading

import pytest
from kube_api_server import TFS, add_tfs_service
from waiting import wait_for

from tfcompare.cluster import open_forward
from tfcompare.serving import make_client
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (320, 240))
    img.putdata(
        [((x * 7) % 256, (y * 3) % 256, (x * y) % 256) for y in range(240) for x in range(320)]
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def k8s_spec(target: str, protocol: str = "grpc", timeout_s: float = 20.0) -> BackendSpec:
    return BackendSpec(
        name="k8s", target=target, protocol=protocol, model="tiny", timeout_s=timeout_s
    )  # type: ignore[arg-type]


def test_predict_through_forward_matches_direct(kube, backend_pair, jpeg):
    """The same backend reached directly and through the forward gives the same answer."""
    two = backend_pair.two
    pod = add_tfs_service(kube, "tfs-cpu-2", grpc=two.grpc, rest=two.rest)
    direct = make_client(BackendSpec(name="direct", target=two.grpc, model="tiny"))
    want = direct.predict_image(jpeg, direct.metadata())
    direct.close()
    for protocol in ("grpc", "rest"):
        with open_forward(k8s_spec("k8s://tfs/tfs-cpu-2", protocol)) as fwd:
            client = make_client(fwd.spec, address=fwd.address)
            try:
                assert client.status().available
                sig = client.metadata()
                assert sig.input_key == "images" and sig.input_dtype == "string"
                got = client.predict_image(jpeg, sig)
            finally:
                client.close()
            assert [p.label for p in got.top5] == [p.label for p in want.top5], protocol
            assert [p.score for p in got.top5] == pytest.approx(
                [p.score for p in want.top5], rel=1e-5
            )
            assert fwd.pod == pod and fwd.generation == 0
    ports = [r for r in kube.requests if "/portforward?ports=" in r]
    assert any(r.endswith("ports=8500") for r in ports) and any(
        r.endswith("ports=8501") for r in ports
    )


def test_pod_replaced_mid_run_reconnects(kube, backend_pair, fresh_backend, jpeg):
    """A run keeps going while its pod dies and a replacement (another backend) comes up."""
    doomed = fresh_backend(threads=1)
    old = add_tfs_service(kube, "tfs-cpu-1", grpc=doomed.grpc, pod="tfs-cpu-1-aaa")
    answered: list[tuple[int, str | None, int, bool, str]] = []  # (i, pod, generation, ok, error)
    stop = threading.Event()
    with open_forward(k8s_spec("k8s://tfs/tfs-cpu-1"), poll_s=0.3) as fwd:
        client = make_client(fwd.spec, address=fwd.address)
        sig = client.metadata()

        def run() -> None:
            i = 0
            while not stop.is_set():
                pod, gen = fwd.pod, fwd.generation
                try:
                    client.predict_image(jpeg, sig, timeout_s=20)
                    ok, err = True, ""
                except ServingError as exc:
                    ok, err = False, exc.code
                changed = fwd.generation != gen
                answered.append((i, pod, gen, ok and not changed, err))
                i += 1

        worker = threading.Thread(target=run)
        worker.start()
        wait_for(lambda: len(answered) >= 5, 30, "five answers through the first pod")
        # the pod dies: process killed, pod object deleted, replacement not ready for a moment
        doomed.kill()
        kube.delete_pod("tfs", old)
        wait_for(lambda: fwd.pod is None, 30, "the forward noticed the pod is gone")
        kube.add_pod(
            "tfs",
            "tfs-cpu-1-bbb",
            {**TFS, "app.kubernetes.io/instance": "tfs-cpu-1"},
            {8500: backend_pair.one.grpc},
            model_name="tiny",
        )
        wait_for(
            lambda: sum(1 for a in answered if a[2] >= 1 and a[3]) >= 5,
            40,
            "five answers through the replacement",
        )
        stop.set()
        worker.join(30)
        client.close()
        assert fwd.pod == "tfs-cpu-1-bbb" and fwd.generation == 1
        assert fwd.state == "forwarding to pod tfs-cpu-1-bbb"
    before = [a for a in answered if a[2] == 0 and a[3]]
    after = [a for a in answered if a[2] == 1 and a[3]]
    assert len(before) >= 5 and all(a[1] == old for a in before)
    assert len(after) >= 5 and all(a[1] == "tfs-cpu-1-bbb" for a in after)
    failed = [a for a in answered if not a[3]]
    assert len(failed) <= 3, failed  # at most the requests in flight while the pod died
    assert all(a[4] in ("", "UNAVAILABLE") for a in failed), failed
    assert kube.forwards["tfs/tfs-cpu-1-bbb"] >= 1


def test_comparison_through_the_forward(kube, backend_pair, jpeg):
    """A whole run: one backend direct, the same model behind a Kubernetes service."""
    from tfcompare.runner import Runner
    from tfcompare.settings import RunSettings

    pod = add_tfs_service(kube, "tfs-cpu-1", grpc=backend_pair.one.grpc)
    backends = [
        BackendSpec(name="direct", target=backend_pair.two.grpc, model="tiny"),
        BackendSpec.parse("cluster=k8s://test/tfs/tfs-cpu-1/tiny"),
    ]
    settings = RunSettings(sizes=(128,), formats=("jpeg",), warmup=1, repeats=2)
    result = Runner(backends, settings).run([("photo.jpg", jpeg)])
    measured = [r for r in result.measured if r.backend == "cluster"]
    assert measured and all(r.ok for r in measured), [r.error for r in measured]
    assert all(r.pod == pod for r in measured)
    assert all(r.pod is None for r in result.measured if r.backend == "direct")
    summary = {(a.backend, a.variant): a for a in result.summary}
    for variant in ("original", "128-jpeg"):
        assert summary[("cluster", variant)].top1 == summary[("direct", variant)].top1
        assert summary[("cluster", variant)].n == 2


def test_window_status_light_shows_the_forwarded_pod(kube, backend_pair):
    """A k8s:// backend in the window: its status line names the pod the forward reaches."""
    from tfcompare.window.work import StatusChecker

    pod = add_tfs_service(kube, "tfs-cpu-1", grpc=backend_pair.one.grpc)
    checker = StatusChecker(every_s=60)
    try:
        checker.set_backends([k8s_spec("k8s://tfs/tfs-cpu-1")])
        wait_for(lambda: checker.pending, 30, "a status")
    finally:
        checker.close()
    status = checker.pending[-1]
    assert status.state == "ok", status.text
    assert f"pod {pod}" in status.text and "AVAILABLE" in status.text
