"""Model export (`tfcompare export-model`), `resolve_model`, the tiny variants and inception-v3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stub_client as sc
from backends import _env, export_model, start_backends

from tfcompare.models import MODELS, ModelError, resolve_model, versions


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfcompare", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )


@pytest.mark.slow  # a fresh interpreter
def test_light_imports_keep_tensorflow_out():
    """Registering the commands and resolving a directory must not load the TensorFlow runtime."""
    code = (
        "import argparse, sys\n"
        "from tfcompare.cli import serve_cmd, export_model_cmd\n"
        "sub = argparse.ArgumentParser().add_subparsers()\n"
        "serve_cmd.register(sub); export_model_cmd.register(sub)\n"
        "import tfcompare.models as m\n"
        "try:\n    m.resolve_model('/nonexistent/dir')\nexcept m.ModelError as e:\n    print(e)\n"
        "print(sorted(k for k in sys.modules if k.startswith('tensorflow')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "does not exist" in proc.stdout
    assert proc.stdout.strip().endswith("[]"), proc.stdout


def test_registry_names():
    assert {"tiny", "tiny-ids", "tiny-logits", "inception-v3", "efficientnet-lite0"} <= set(MODELS)
    assert all(":" in target for target in MODELS.values())


@pytest.mark.slow
def test_export_cli_layout_versions_and_errors(tmp_path):
    base = tmp_path / "tiny"
    proc = _cli("export-model", "tiny", str(base))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(base / "1")
    assert (base / "1" / "saved_model.pb").is_file() and (base / "1" / "variables").is_dir()
    assert versions(base) == [1] and resolve_model(base) == base
    assert not [p for p in base.iterdir() if p.name.startswith(".")]  # no staging left over

    again = _cli("export-model", "tiny", str(base))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert _cli("export-model", "tiny", str(base), "--version", "2").returncode == 0
    assert versions(base) == [1, 2]
    # seeded weights: two exports are identical
    first = (base / "1" / "variables" / "variables.data-00000-of-00001").read_bytes()
    assert first == (base / "2" / "variables" / "variables.data-00000-of-00001").read_bytes()

    unknown = _cli("export-model", "resnet-9000", str(tmp_path / "x"))
    assert (
        unknown.returncode == 2 and "unknown model" in unknown.stderr and "tiny" in unknown.stderr
    )
    no_option = _cli("export-model", "tiny", str(tmp_path / "y"), "--random-weights")
    assert no_option.returncode == 1 and "random-weights" in no_option.stderr


def test_resolve_model_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ModelError, match="no servable versions"):
        resolve_model(tmp_path / "plain")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ModelError, match="numbered versions"):
        resolve_model(tmp_path / "flat")


@pytest.mark.slow
def test_resolve_model_builds_registered_name_once(_isolated_home):
    base = resolve_model("tiny", in_process=False)  # subprocess build into the user's models dir
    assert base == _isolated_home / "data" / "models" / "tiny"
    stamp = (base / "1" / "saved_model.pb").stat().st_mtime_ns
    assert resolve_model("tiny") == base
    assert (base / "1" / "saved_model.pb").stat().st_mtime_ns == stamp  # reused, not rebuilt


@pytest.fixture(scope="module")
def variant_backends(tmp_path_factory):
    """tiny-ids (answers packed in tensor_content) and tiny-logits, started in parallel."""
    root = tmp_path_factory.mktemp("variants")
    ids = export_model("tiny-ids", root / "tiny-ids")
    logits = export_model("tiny-logits", root / "tiny-logits")
    ids_backend, logits_backend = start_backends(
        [
            dict(
                model_base=ids, model_name="tiny-ids", extra_args=["--tensor-content"], log_dir=root
            ),
            dict(model_base=logits, model_name="tiny-logits", log_dir=root),
        ]
    )
    yield ids_backend, logits_backend
    ids_backend.stop()
    logits_backend.stop()


@pytest.mark.slow
def test_tiny_variants_agree_with_tiny(backend_pair, variant_backends):
    ids_backend, logits_backend = variant_backends
    data = sc.encode(sc.pattern(seed=11))
    tiny = sc.predict(backend_pair.one.grpc, sc.predict_request(data))
    tiny_classes = [c.decode() for c in tiny.outputs["classes"].string_val]

    response = sc.predict(
        ids_backend.grpc, sc.predict_request(data, model="tiny-ids", key="image_bytes")
    )
    assert set(response.outputs) == {"classes", "probabilities"}
    for key in ("classes", "probabilities"):  # --tensor-content packs numbers
        assert response.outputs[key].tensor_content
        assert not response.outputs[key].float_val and not response.outputs[key].int64_val
    ids = sc.array(response.outputs["classes"])
    probs = sc.array(response.outputs["probabilities"])
    assert ids.dtype == np.int64 and ids.shape == (1, 5) and probs.shape == (1, 1001)
    assert abs(float(probs.sum()) - 1.0) < 1e-4 and probs[0, 0] < 1e-6  # background id 0
    assert list(ids[0]) == list(np.argsort(-probs[0])[:5])
    labels = Path(__file__).resolve().parents[1] / "resources" / "imagenet_labels.txt"
    names = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
    assert [names[i - 1] for i in ids[0]] == tiny_classes
    np.testing.assert_allclose(
        np.sort(probs[0])[::-1][:5], sc.array(tiny.outputs["scores"])[0], rtol=1e-3
    )

    _, sig_map = sc.metadata(logits_backend.grpc, "tiny-logits")
    assert list(sig_map.signature_def["serving_default"].outputs) == ["logits"]
    response = sc.predict(logits_backend.grpc, sc.predict_request(data, model="tiny-logits"))
    logits = sc.array(response.outputs["logits"])
    assert logits.shape == (1, 1000) and not response.outputs["logits"].tensor_content
    assert [names[i] for i in np.argsort(-logits[0])[:5]] == tiny_classes
    assert logits.min() < 0 < logits.max()  # raw logits, not probabilities


@pytest.mark.slow
def test_inception_v3_random_weights_serves_predict_images(tmp_path):
    base = tmp_path / "inception"
    proc = _cli("export-model", "inception-v3", str(base), "--random-weights")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (backend,) = start_backends([dict(model_name="inception", threads=2, log_dir=tmp_path)], base)
    try:
        _, sig_map = sc.metadata(backend.grpc, "inception")
        for name in ("predict_images", "serving_default"):
            sig = sig_map.signature_def[name]
            assert list(sig.inputs) == ["images"] and sig.inputs["images"].dtype == 7
            assert set(sig.outputs) == {"classes", "scores"}
        data = sc.encode(sc.pattern(400, 300))
        response = sc.predict(
            backend.grpc,
            sc.predict_request(data, model="inception", signature="predict_images"),
            timeout=120,
        )
        assert response.model_spec.signature_name == "predict_images"
        classes = [c.decode() for c in response.outputs["classes"].string_val]
        scores = sc.array(response.outputs["scores"])
        assert len(classes) == 5 and scores.shape == (1, 5)
        assert np.all(np.diff(scores[0]) <= 0)
    finally:
        backend.stop()
