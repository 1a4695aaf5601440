"""The Capacity tab with k8s:// backends on the local Kubernetes API server (tests/kube_api_server.py
forwarding to real `tfcompare serve` backends): swept from this machine through a port-forward,
and by load agents in a Job (tests/kube_workloads.py), merged and drawn like a local sweep."""

from __future__ import annotations

import pytest
from gui_helpers import prepared_window
from kube_api_server import add_tfs_service
from PySide6.QtCore import Qt

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.window import Outcome

pytestmark = pytest.mark.slow


def test_a_sweep_from_this_machine_reaches_a_k8s_backend_through_a_port_forward(
    qtbot, kube, backend_pair, tmp_path
):
    from tfcompare.runner.probe import BackendState

    pod = add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc, rest=backend_pair.two.rest)
    window, panel = prepared_window(qtbot, backend_pair, tmp_path)
    window.set_backends([BackendSpec.parse("a=k8s://tfs/tfs-a:8500/tiny")], persist=False)
    qtbot.waitUntil(lambda: window.backends_panel.state_of("a") is BackendState.OK, timeout=60_000)
    forwards = kube.forwards.get(f"tfs/{pod}", 0)  # the status light's own forward
    panel.levels.setText("1,2")
    assert panel.agents.value() == 0  # "no (this machine)": the window sends the load
    with qtbot.waitSignal(panel.controller.events.finished, timeout=180_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    notes = panel.notes.toPlainText()
    assert done.args[0].outcome is Outcome.FINISHED, notes
    result = panel.controller.result
    assert [(lv.backend, lv.level) for lv in result.levels] == [("a", 1), ("a", 2)], notes
    assert all(lv.ok > 0 and lv.n_errors == 0 for lv in result.levels)
    # the requests crossed the API server's pods/portforward into the pod; the user is told
    # that the figures are the tunnel's
    assert kube.forwards[f"tfs/{pod}"] > forwards
    assert "a goes through a Kubernetes port-forward" in notes
    assert set(panel.chart._curves) == {("a", "original")} and panel.table.rowCount() == 1


def test_sweep_by_agents_in_the_cluster(qtbot, kube, backend_pair, tmp_path):
    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    window, panel = prepared_window(qtbot, backend_pair, tmp_path)
    window.set_backends([BackendSpec.parse("a=k8s://tfs/tfs-a:8500/tiny")], persist=False)
    panel.levels.setText("2,4")
    panel.agents.setValue(2)
    panel.controller.set_fields(start_lead_s=1.0)
    with qtbot.waitSignal(panel.controller.events.finished, timeout=180_000) as done:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert done.args[0].outcome is Outcome.FINISHED
    result = panel.controller.result
    assert [(lv.backend, lv.level) for lv in result.levels] == [("a", 2), ("a", 4)]
    assert all(w.agents == 2 for lv in result.levels for w in lv.windows)
    assert result.plan["in_cluster"]["agents"] == 2
    assert "in-cluster, 2 agents" in panel.notes.toPlainText()
    assert set(panel.chart._curves) == {("a", "original")}
    assert kube.workloads.jobs == {} and kube.workloads.running() == []
    window.resize(1600, 1000)
    window.grab().save(str(tmp_path / "capacity-cluster.png"))


def test_levels_the_agents_cannot_split_are_refused(
    qtbot, kube, backend_pair, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    window, panel = prepared_window(qtbot, backend_pair, tmp_path)
    panel.levels.setText("1,2")
    panel.agents.setValue(3)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert shown and "at least 3" in shown[0] and not panel.controller.running
    window.resize(1280, 800)
    window.grab().save(str(tmp_path / "capacity-1280.png"))  # looked at: nothing clipped
