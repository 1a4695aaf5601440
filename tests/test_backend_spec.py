"""Backend specs as users type them (``--backend``), including the k8s:// forms."""

from __future__ import annotations

import pytest

from tfcompare.serving.backend_spec import BackendSpec


@pytest.mark.parametrize(
    "text, contexts, target, model, signature",
    [
        ("a=127.0.0.1:8500", None, "127.0.0.1:8500", "default", None),
        (
            "gpu=host:8500/inception:predict_images",
            None,
            "host:8500",
            "inception",
            "predict_images",
        ),
        # no model for a k8s target: None, the model the service's pods declare is used
        ("a=k8s://tfs/tfs-gpu", None, "k8s://tfs/tfs-gpu", None, None),
        # NAMESPACE/SERVICE/MODEL unless the first part is a kubeconfig context
        ("a=k8s://tfs/tfs-gpu/inception", None, "k8s://tfs/tfs-gpu", "inception", None),
        ("a=k8s://tfs/tfs-gpu/inception", {"prod"}, "k8s://tfs/tfs-gpu", "inception", None),
        ("a=k8s://prod/tfs/tfs-gpu", {"prod"}, "k8s://prod/tfs/tfs-gpu", None, None),
        ("a=k8s://prod/tfs/tfs-gpu:8500", None, "k8s://prod/tfs/tfs-gpu:8500", None, None),
        # what `cluster list` prints in its TARGET column
        ("a=k8s://tfs/tfs-a:8500/tiny", None, "k8s://tfs/tfs-a:8500", "tiny", None),
        ("a=k8s://other/ml/legacy:9000/tiny", None, "k8s://other/ml/legacy:9000", "tiny", None),
        ("a=k8s://tfs/tfs-gpu:8501/m:sig", None, "k8s://tfs/tfs-gpu:8501", "m", "sig"),
        ("a=k8s://prod/tfs/tfs-gpu/m:sig", None, "k8s://prod/tfs/tfs-gpu", "m", "sig"),
    ],
)
def test_parse(text, contexts, target, model, signature):
    spec = BackendSpec.parse(text, contexts=contexts)
    assert (spec.name, spec.target, spec.model, spec.signature) == (
        text.split("=")[0],
        target,
        model,
        signature,
    )
    assert spec.is_k8s == target.startswith("k8s://")
    assert BackendSpec.from_dict(spec.to_dict()) == spec  # session files keep "the pods' model"


@pytest.mark.parametrize(
    "text",
    [
        "nonsense",
        "a=host",
        "a=host:port",
        "a=h:1/m/x",
        "a=k8s://only",
        "a=k8s://a/b/c/d/e",
        "a=k8s://ns:1/svc",
        "a=k8s://ns/svc:x/m",
        "=h:1",
    ],
)
def test_unusable_specs_name_the_problem(text):
    with pytest.raises(ValueError, match="bad backend"):
        BackendSpec.parse(text)


def test_port_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        BackendSpec.parse("a=h:70000")


def test_headers_never_in_plain_data():
    spec = BackendSpec("a", "h:1", headers=(("authorization", "Bearer x"),), tls_ca="/ca.pem")
    data = spec.to_dict()
    assert "Bearer x" not in repr(data) and "headers" not in data
    assert BackendSpec.from_dict(data) == spec  # headers are not part of equality either


# --------------------------------------------------------------------------- metrics source


def test_metrics_source_in_the_spec():
    url = "http://10.0.0.5:9090/monitoring/prometheus/metrics"
    spec = BackendSpec.parse(f"gpu=10.0.0.5:8500/inception,metrics={url}")
    assert (spec.target, spec.model, spec.metrics) == ("10.0.0.5:8500", "inception", url)
    assert BackendSpec.parse("a=k8s://tfs/svc/m,metrics=off").metrics == "off"
    assert BackendSpec.parse("a=h:1").metrics is None  # discovered
    assert BackendSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "text, message",
    [
        ("a=h:1,metrics=ftp://h/x", "http"),
        ("a=h:1,metrics=h:8501", "http"),
        ("a=h:1,metrics=http://user:pw@h:8501/m", "password"),
        ("a=h:1,metrics=http://h:99999/m", "http"),
    ],
)
def test_unusable_metrics_sources(text, message):
    with pytest.raises(ValueError, match=message):
        BackendSpec.parse(text)


def test_metrics_arguments_per_backend_and_for_all():
    import argparse

    from tfcompare.cli.run_options import UsageError, add_backend_arguments, backends_from_args
    from tfcompare.settings import RunSettings

    parser = argparse.ArgumentParser()
    add_backend_arguments(parser)

    def specs(*argv):
        return {
            s.name: s.metrics for s in backends_from_args(parser.parse_args(argv), RunSettings())
        }

    url = "http://127.0.0.1:9001/monitoring/prometheus/metrics"
    two = ("-b", "a=127.0.0.1:9000", "-b", "b=127.0.0.1:9500,metrics=off")
    assert specs(*two) == {"a": None, "b": "off"}
    assert specs(*two, "--metrics", url) == {"a": url, "b": "off"}  # the spec's own setting wins
    assert specs(*two, "--metrics", f"a={url}", "--metrics", "off") == {"a": url, "b": "off"}
    assert specs("-b", "a=h:1", "-b", "c=h:2", "--metrics", "OFF") == {"a": "off", "c": "off"}
    with pytest.raises(UsageError, match="no backend named 'x'"):
        specs(*two, "--metrics", f"x={url}")
    with pytest.raises(UsageError, match="--metrics"):
        specs(*two, "--metrics", "nonsense")
