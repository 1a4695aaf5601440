"""The Capacity tab with load agents in the cluster: the same sweep, run by a Job on the local
Kubernetes API server (tests/kube_workloads.py), merged and drawn like a local one."""

from __future__ import annotations

import pytest
from kube_api_server import add_tfs_service
from PySide6.QtCore import Qt
from test_gui_capacity import prepared_window

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.window import Outcome

pytestmark = pytest.mark.slow


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
