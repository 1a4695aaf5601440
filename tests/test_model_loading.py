"""A model still loading (TF Serving answers LOADING from the moment its port opens until the
model is loaded and warmed up) is waited for, saying so, by ``run``, ``load`` and the window's
runs — not reported as "model not available … nothing measured".

The servers are real ``tfcompare serve`` processes whose model ships TF Serving warm-up records
(``assets.extra/tf_serving_warmup_requests``): replaying them keeps the model LOADING for several
seconds after the port opens, as a large model does right after ``serve``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from backends import free_port, launch_backend, slow_loading_model
from gui_helpers import small_photos

from tfcompare.serving import make_client
from tfcompare.serving.backend_spec import BackendSpec

pytestmark = pytest.mark.slow

WAITING = "waiting for model tiny (v1 LOADING)"


@pytest.fixture(scope="module")
def slow_model(tiny_model, tmp_path_factory):
    return slow_loading_model(tiny_model, tmp_path_factory.mktemp("slow-model") / "tiny")


@pytest.fixture
def loading_server(slow_model, tmp_path):
    """A server on a known port, returned as soon as it answers LOADING (its model not yet
    AVAILABLE)."""
    port = free_port()
    backend = launch_backend(slow_model, extra_args=["--port", str(port)], log_dir=tmp_path)
    spec = BackendSpec("slow", f"127.0.0.1:{port}", model="tiny", metrics="off")
    deadline = time.monotonic() + 180
    try:
        while True:
            assert backend.alive, backend.log_tail()
            assert time.monotonic() < deadline, "the server never answered LOADING"
            try:
                with make_client(spec) as client:
                    status = client.status()
            except Exception:  # noqa: BLE001 - the port is not open yet
                status = None
            if status is not None and status.versions:
                assert not status.available, "loaded before the test could see LOADING"
                assert status.versions == ((1, "LOADING"),)
                break
            time.sleep(0.1)
        yield spec
    finally:
        backend.kill()


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_right_after_serve_waits_for_the_model(loading_server, tmp_path):
    photo = small_photos(tmp_path / "img", names=("chelsea",))[0]
    out = tmp_path / "run.json"
    proc = _cli(
        "run",
        str(photo),
        "--backend",
        f"slow={loading_server.target}/tiny,metrics=off",
        "--sizes",
        "128",
        "--formats",
        "jpeg",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--timeout",
        "150",
        "--json",
        str(out),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"backend slow: {WAITING}" in proc.stderr
    assert "not available" not in proc.stderr and "nothing measured" not in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["requests"] and all(r["ok"] for r in doc["requests"])


def test_load_right_after_serve_waits_for_the_model(loading_server, tmp_path):
    photo = small_photos(tmp_path / "img", names=("chelsea",))[0]
    out = tmp_path / "load.json"
    proc = _cli(
        "load",
        str(photo),
        "--backend",
        f"slow={loading_server.target}/tiny,metrics=off",
        "--variants",
        "128-jpeg",
        "--concurrency",
        "1",
        "--window-s",
        "0.3",
        "--max-windows",
        "3",
        "--timeout",
        "150",
        "--json",
        str(out),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"note: backend slow: {WAITING}" in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["levels"] and doc["levels"][0]["ok"] > 0


def test_a_window_run_waits_for_the_model_and_says_so(loading_server, tmp_path):
    from tfcompare.runner.events import BackendReady
    from tfcompare.settings import RunSettings
    from tfcompare.window import WindowController

    controller = WindowController(
        settings=RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=1, timeout_s=150),
        status_every_s=3600,
    )
    seen: list[tuple[str, str]] = []
    deliver = controller.deliver

    def watching(event):  # what the backends list shows while the run goes on
        deliver(event)
        if isinstance(event, BackendReady) and event.backend == "slow":
            seen.append(controller.status_of("slow"))

    controller.deliver = watching
    try:
        controller.set_backends([loading_server])
        controller.add_paths(small_photos(tmp_path / "img", names=("chelsea",)))
        assert controller.start_run() is None
        deadline = time.monotonic() + 240
        while controller.running:
            assert time.monotonic() < deadline, "the run never finished"
            controller.drain()
            time.sleep(0.02)
        assert ("warn", WAITING) in seen, seen
        assert seen[-1][0] == "ok" and "AVAILABLE" in seen[-1][1]
        result = controller.store.snapshot()
        assert result.measured and all(r.ok for r in result.measured)
    finally:
        controller.close()
