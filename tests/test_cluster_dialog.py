"""The "Add from cluster" dialog against the local Kubernetes API server, offscreen."""

from __future__ import annotations

from kube_api_server import add_tfs_service
from kube_servers import (
    TRITON_IMAGE,
    add_isvc,
    add_mlserver_service,
    add_triton_service,
)
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox

from tfcompare.gui.cluster_dialog import ClusterDialog


def _populate(kube) -> None:
    add_tfs_service(kube, "tfs-gpu", limits={"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"})
    add_tfs_service(kube, "tfs-cpu-1", limits={"cpu": "1", "memory": "2Gi"})
    add_tfs_service(kube, "tfs-cpu-8", limits={"cpu": "8", "memory": "8Gi"}, ready=False)
    kube.add_service("tfs", "redis", [{"name": "redis", "port": 6379}], {"app": "redis"})


def _rows(dialog) -> dict[str, list[str]]:
    t = dialog.table
    return {
        t.item(r, 1).text(): [t.item(r, c).text() for c in range(1, t.columnCount())]
        for r in range(t.rowCount())
    }


def test_pick_services_from_cluster(qtbot, kube):
    _populate(kube)
    dialog = ClusterDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 3, timeout=10000)
    assert dialog.context_box.currentData() == "test"
    assert dialog.namespace_box.currentText() == "tfs"
    rows = _rows(dialog)
    assert set(rows) == {"tfs-gpu", "tfs-cpu-1", "tfs-cpu-8"}  # not redis
    assert rows["tfs-gpu"][:8] == [
        "tfs-gpu",
        "tfs",
        "TF Serving",
        "grpc, rest",
        "1/1",
        "1",
        "4",
        "8Gi",
    ]
    assert rows["tfs-cpu-1"][5:7] == ["–", "1"]
    assert rows["tfs-cpu-8"][4] == "0/1"
    assert rows["tfs-gpu"][-1] == "k8s://test/tfs/tfs-gpu:8500/tiny"
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    for r in range(dialog.table.rowCount()):
        if dialog.table.item(r, 1).text() in ("tfs-gpu", "tfs-cpu-1"):
            dialog.table.item(r, 0).setCheckState(Qt.CheckState.Checked)
    assert ok.isEnabled()
    specs = {s.name: s for s in dialog.selected_backends()}
    assert (
        specs["tfs-gpu"].target == "k8s://test/tfs/tfs-gpu:8500"
        and specs["tfs-gpu"].protocol == "grpc"
    )
    assert specs["tfs-cpu-1"].model == "tiny"
    dialog.protocol_box.setCurrentIndex(dialog.protocol_box.findData("rest"))
    specs = {s.name: s for s in dialog.selected_backends()}
    assert (
        specs["tfs-gpu"].target == "k8s://test/tfs/tfs-gpu:8501"
        and specs["tfs-gpu"].protocol == "rest"
    )
    assert _rows(dialog)["tfs-gpu"][-1] == "k8s://test/tfs/tfs-gpu:8501/tiny,protocol=rest"


def test_other_context_and_errors_are_shown(qtbot, kube):
    _populate(kube)
    kube.add_service("ml", "legacy", [{"port": 8500}], {"app": "legacy"})
    dialog = ClusterDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 3, timeout=10000)
    dialog.context_box.setCurrentIndex(dialog.context_box.findData("other"))
    dialog.context_box.activated.emit(dialog.context_box.currentIndex())
    qtbot.waitUntil(
        lambda: "No model servers in namespace default" in dialog.status_label.text(),
        timeout=10000,
    )
    assert dialog.table.rowCount() == 0
    dialog.namespace_box.setCurrentIndex(dialog.namespace_box.findText("ml"))
    dialog.refresh()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=10000)
    dialog.table.item(0, 0).setCheckState(Qt.CheckState.Checked)
    assert [s.target for s in dialog.selected_backends()] == ["k8s://other/ml/legacy:8500"]
    kube.forbid("services")
    dialog.refresh()
    qtbot.waitUntil(lambda: "403 Forbidden" in dialog.status_label.text(), timeout=10000)
    assert dialog.table.rowCount() == 0 and dialog.selected_backends() == []


def test_discovery_never_blocks_the_window(qtbot, kube):
    """The window's event loop keeps turning while the API server takes its time: a heartbeat
    timer ticks many times while the dialog's requests are at the server (a blocked loop would
    tick only between them), and the dialog opens before anything is answered."""
    _populate(kube)
    kube.delay_s = 0.2  # every API call is slow; the dialog makes several
    ticks_while_asked: list[int] = []
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: ticks_while_asked.append(kube.answering))
    heartbeat.start(10)
    dialog = ClusterDialog()
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 0  # open, with the answers still to come
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 3, timeout=15000)
    heartbeat.stop()
    assert sum(1 for n in ticks_while_asked if n > 0) > 20, ticks_while_asked


def test_triton_mlserver_and_kserve_rows_with_kind_and_protocol(qtbot, kube, oip_protocols):
    add_tfs_service(kube, "tfs-cpu-1", ns="ml")
    add_triton_service(kube, "triton")
    add_mlserver_service(kube, "mlserver")
    add_isvc(
        kube,
        "densenet",
        predictor={"model": {"modelFormat": {"name": "onnx"}, "protocolVersion": "v2"}},
        image=TRITON_IMAGE,
    )
    dialog = ClusterDialog()
    qtbot.addWidget(dialog)
    # the context's namespace (tfs) does not exist here: wait for that answer, then look in ml
    qtbot.waitUntil(lambda: "'tfs'" in dialog.status_label.text(), timeout=10000)
    dialog.namespace_box.setEditText("ml")
    dialog.refresh()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 4, timeout=10000)
    rows = _rows(dialog)
    assert rows["triton"][2:4] == ["Triton", "v2, v2+http"]
    assert rows["triton"][-1] == "k8s://test/ml/triton:8001/inception-v3,protocol=v2"
    assert rows["mlserver"][2:4] == ["MLServer", "v2, v2+http"]
    assert rows["densenet"][2:4] == ["KServe · Triton", "v2+http"]
    assert rows["densenet"][-1] == "k8s://test/ml/densenet:8080,protocol=v2+http"
    assert (
        "serverless"
        in dialog.table.item(
            next(r for r in range(4) if dialog.table.item(r, 1).text() == "densenet"), 1
        ).toolTip()
    )
    for r in range(dialog.table.rowCount()):
        dialog.table.item(r, 0).setCheckState(Qt.CheckState.Checked)
    specs = {s.name: s for s in dialog.selected_backends()}
    assert (specs["triton"].protocol, specs["triton"].model) == ("v2", "inception-v3")
    assert specs["tfs-cpu-1"].protocol == "grpc"
    # one protocol for all that speak it; the others keep their own
    dialog.protocol_box.setCurrentIndex(dialog.protocol_box.findData("v2+http"))
    specs = {s.name: s for s in dialog.selected_backends()}
    assert specs["triton"].target == "k8s://test/ml/triton:8000"
    assert specs["mlserver"].target == "k8s://test/ml/mlserver:8080"
    assert specs["tfs-cpu-1"].protocol == "grpc"
    assert _rows(dialog)["triton"][-1] == "k8s://test/ml/triton:8000/inception-v3,protocol=v2+http"
