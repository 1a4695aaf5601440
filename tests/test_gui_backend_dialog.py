"""Backends → Add backend… offers everything a backend spec holds: the protocol from the registry
(a protocol registered later appears by itself), the model version as the protocol counts it, the
preprocessing preset, a centre crop, a labels file, the Host header and a metrics header (never
saved, like the auth header). The dialog is filled through its real fields and OK is pressed."""

from __future__ import annotations

import json

import pytest
from gui_helpers import find_action, make_window
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog

from tfcompare.serving.backend_spec import BackendSpec


def through_the_dialog(qtbot, window, fill, action=("Backends", "Add backend…")):
    """Trigger ``action``; when its dialog is up, ``fill(dialog)`` and press OK."""
    from tfcompare.gui.backend_dialog import BackendDialog

    seen, failed = [], []

    def when_open():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, BackendDialog):
            QTimer.singleShot(20, when_open)
            return
        seen.append(dialog)
        try:
            fill(dialog)
            ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
            assert ok.isEnabled(), dialog.error.text()
        except BaseException as exc:  # closed, so exec() returns and the test can fail
            failed.append(exc)
            dialog.reject()
            return
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, when_open)
    find_action(window, *action).trigger()
    if failed:
        raise failed[0]
    assert seen, "the dialog never opened"
    return seen[0]


def choose(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, (data, [combo.itemData(i) for i in range(combo.count())])
    combo.setCurrentIndex(index)


def test_the_protocols_are_the_registrys_with_their_labels_and_ports(qtbot):
    from tfcompare.gui.backend_dialog import BackendDialog
    from tfcompare.serving.protocols import PROTOCOLS

    dialog = BackendDialog(None, None, set())
    qtbot.addWidget(dialog)
    items = [
        (dialog.protocol.itemData(i), dialog.protocol.itemText(i))
        for i in range(dialog.protocol.count())
    ]
    assert [name for name, _ in items] == list(PROTOCOLS)
    for name, text in items:
        assert PROTOCOLS[name].label in text and str(PROTOCOLS[name].default_port) in text


@pytest.fixture
def future(monkeypatch):
    """A protocol registered after the dialog was written: versions are labels, no signatures,
    its own scheme."""
    from tfcompare.serving import protocols
    from tfcompare.serving.protocols.tf_serving import TfServingRest

    class Future(TfServingRest):
        name = "future+http"
        label = "Future Protocol REST"
        server = "servers of the future"
        default_port = 9999
        scheme = "future+http"
        numeric_versions = False
        declared_input = True  # its metadata may not say what the model takes

    monkeypatch.setitem(protocols.PROTOCOLS, Future.name, Future())
    return Future


def test_a_protocol_registered_later_appears_by_itself(qtbot, future):
    from tfcompare.gui.backend_dialog import BackendDialog

    dialog = BackendDialog(None, None, set())
    qtbot.addWidget(dialog)
    choose(dialog.protocol, "future+http")
    assert "Future Protocol REST (port 9999)" == dialog.protocol.currentText()
    assert dialog.version_box.currentWidget() is dialog.version_label  # a label, not a number
    assert not dialog.signature.isEnabled() and dialog.input.isEnabled()
    dialog.name.setText("f")
    dialog.target.setText("127.0.0.1:9999")
    dialog.version_label.setText("v3")
    dialog.input.setText("float32:224x224x3:nchw")
    assert dialog.spec() == BackendSpec(
        "f",
        "127.0.0.1:9999",
        "future+http",
        "default",
        version="v3",
        input="float32:224x224x3:nchw",
    )
    dialog.input.setText("float32:224x224x5")
    assert "model input" in dialog.error.text() and "channels" in dialog.error.text()
    choose(dialog.protocol, "grpc")  # TF Serving's metadata always says: no such field
    assert not dialog.input.isEnabled() and dialog.spec().input is None


def test_every_field_reaches_the_controllers_spec_and_secrets_are_never_saved(
    qtbot, tmp_path, monkeypatch, future
):
    labels = tmp_path / "classes.txt"
    labels.write_text("cat\ndog\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(labels), ""))
    window = make_window(qtbot)

    def fill(d):
        d.name.setText("gpu-pool")
        d.target.setText("10.1.2.3:8500")
        choose(d.protocol, "rest")  # the address follows the protocol's default port
        assert d.target.text() == "10.1.2.3:8501"
        assert d.version_box.currentWidget() is d.version  # TF Serving counts versions
        assert not d.input.isEnabled()  # its metadata always says what the model takes
        d.model.setText("resnet")
        d.signature.setText("serving_default")
        d.version.setValue(3)
        choose(d.preprocess, "caffe")
        d.crop.setValue(0.875)
        browse = [b for b in d.findChildren(type(d.check)) if b.text() == "Browse…"][0]
        qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)  # the labels file
        d.header.setText("Authorization: Bearer s3cret-token")
        d.host.setText("resnet.models.example.com")
        d.metrics.setText("http://10.1.2.3:9090/metrics")
        d.metrics_header.setText("X-Metrics-Key: m3trics-key")
        d.timeout.setValue(12)

    through_the_dialog(qtbot, window, fill)
    spec = window.controller.spec("gpu-pool")
    assert spec == BackendSpec(
        "gpu-pool",
        "10.1.2.3:8501",
        protocol="rest",
        model="resnet",
        signature="serving_default",
        version=3,
        timeout_s=12.0,
        metrics="http://10.1.2.3:9090/metrics",
        preprocess="caffe",
        crop=0.875,
        labels=str(labels),
        host_header="resnet.models.example.com",
    )
    assert spec.headers == (("authorization", "Bearer s3cret-token"),)
    assert spec.metrics_headers == (("x-metrics-key", "m3trics-key"),)
    # the list says which kind of server it is
    assert "TF Serving REST" in window.backends_panel.entry_text("gpu-pool")
    # remembered for the next start, without either secret
    from tfcompare.gui.prefs import prefs_path

    saved = prefs_path().read_text()
    assert "s3cret" not in saved and "m3trics" not in saved
    assert json.loads(saved)["backends"][0]["preprocess"] == "caffe"

    # Edit: the dialog opens with every field as it was; a protocol that names versions by
    # label (as the Open Inference Protocol does) takes a label
    window.backends_panel.list.setCurrentRow(0)

    def edit(d):
        assert d.protocol.currentData() == "rest" and d.version.value() == 3
        assert d.preprocess.currentData() == "caffe" and d.crop.value() == pytest.approx(0.875)
        assert d.labels.text() == str(labels) and d.host.text() == "resnet.models.example.com"
        assert d.header.text() == "authorization: Bearer s3cret-token"
        assert d.metrics_header.text() == "x-metrics-key: m3trics-key"
        d.target.setText("future+http://10.1.2.3:9999")  # a scheme chooses its protocol
        assert d.protocol.currentData() == "future+http"
        assert d.version_box.currentWidget() is d.version_label
        d.version_label.setText("2024-06")
        d.input.setText("bytes")
        choose(d.preprocess, None)  # back to the model's default
        d.crop.setValue(0)

    through_the_dialog(qtbot, window, edit, ("Backends", "Edit selected…"))
    spec = window.controller.spec("gpu-pool")
    assert (spec.protocol, spec.target, spec.version) == ("future+http", "10.1.2.3:9999", "2024-06")
    assert spec.signature is None and spec.preprocess is None and spec.crop is None
    assert spec.input == "bytes"
    # the test's protocol leaves the registry after the test: so does the backend speaking it
    window.controller.set_backends([])
    window.refresh_views(force=True)


def test_bad_fields_are_named_and_ok_waits(qtbot):
    from tfcompare.gui.backend_dialog import BackendDialog

    d = BackendDialog(None, None, set())
    qtbot.addWidget(d)
    ok = d.buttons.button(QDialogButtonBox.StandardButton.Ok)
    d.name.setText("a")
    d.target.setText("127.0.0.1:8500")
    assert ok.isEnabled()
    for field, bad, said in (
        (d.host, "not a host!", "host"),
        (d.metrics_header, "no colon here", "metrics header"),
        (d.metrics, "ftp://x", "metrics"),
    ):
        field.setText(bad)
        assert not ok.isEnabled() and said in d.error.text(), d.error.text()
        field.setText("")
    assert ok.isEnabled()


@pytest.mark.slow
def test_a_tensor_model_added_through_the_dialog_shows_what_it_takes_and_its_prep_time(
    qtbot, tmp_path, tensor_backend
):
    """A real tfcompare serve backend with a float32 32×32×3 model: added with preprocessing
    'tf' and a centre crop, checked, run; the backends list says what the model takes and how
    images were prepared, the table gains the Prep ms column."""
    from gui_helpers import small_photos

    from tfcompare.gui.results_table import COLUMNS
    from tfcompare.settings import RunSettings

    backend = tensor_backend("nhwc-float32", rest=False)
    window = make_window(qtbot)

    def fill(d):
        d.name.setText("tensor")
        d.target.setText(backend.grpc)
        d.model.setText("nhwc-float32")
        choose(d.preprocess, "tf")
        d.crop.setValue(0.875)

    through_the_dialog(qtbot, window, fill)
    panel = window.backends_panel
    qtbot.waitUntil(lambda: panel.state_of("tensor") == "ok", timeout=30_000)
    assert "takes float32 32×32×3 NHWC" in panel.entry_text("tensor").split("\n")[1]
    window.settings_panel.set_settings(
        RunSettings(sizes=(128,), formats=("jpeg",), warmup=0, repeats=2)
    )
    window.controller.add_paths(small_photos(tmp_path, names=("chelsea",)))
    with qtbot.waitSignal(window.run_finished, timeout=120_000):
        find_action(window, "Run", "Run comparison").trigger()
    window.refresh_views(force=True)
    line = panel.entry_text("tensor").split("\n")[1]
    assert line.startswith("AVAILABLE") and "preprocess tf, centre crop 0.875" in line, line
    keys = [k for k, _ in COLUMNS]
    view, model = window.table.view, window.table.proxy
    prep = keys.index("preprocess_ms")
    assert not view.isColumnHidden(prep)
    values = [model.index(r, prep).data() for r in range(model.rowCount())]
    assert values and all(v != "—" and float(v) > 0 for v in values), values
    assert view.isColumnHidden(keys.index("queue_ms"))  # TF Serving reports no queue time
