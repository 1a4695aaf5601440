"""Shared test setup: offscreen Qt, user directories redirected to a temporary folder, and the two
tiers: tests marked ``slow`` are the end-to-end tier (real servers, real TensorFlow, Chromium,
kubectl — processes); every other test is the fast tier, which starts no process at all."""

from __future__ import annotations

import os

import pytest

# The local Kubernetes API server's fixtures (``kube``, ``echo``) and the OIP protocols discovery
# needs (``oip_protocols``) for the cluster tests, the in-memory serving protocol
# (``fake_servers``) for the fast tier, the fast tier's rule that no test starts a process
# (tests/process_guard.py), and pytest's own ``pytester`` (the rule's tests run pytest inline).
pytest_plugins = ["kube_api_server", "kube_servers", "fake_transport", "process_guard", "pytester"]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Settings, built models and recent files go to a temporary folder, never the user's own."""
    home = tmp_path_factory.mktemp("tfcompare-home")
    monkeypatch.setenv("TFCOMPARE_HOME", str(home))
    yield home


# --------------------------------------------------------------------------- local backends
# Real `tfcompare serve` subprocesses (see tests/backends.py); TensorFlow never loads in pytest.


class BackendPair(dict):
    """``{"one": LocalBackend, "two": LocalBackend}``, also readable as ``pair.one``/``pair.two``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The ``tiny`` model exported once per session; a TF Serving base path (``<dir>/1/...``)."""
    from backends import export_model

    return export_model("tiny", tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def backend_pair(tiny_model, tmp_path_factory):
    """Two tiny backends started in parallel: "one" (threads=1) and "two" (threads=2, REST on).

    Shared by the whole session: tests must not stop, kill or pause them (use ``fresh_backend``).
    Model name "tiny" on both.
    """
    from backends import start_backends

    logs = tmp_path_factory.mktemp("backend-logs")
    one, two = start_backends(
        [dict(threads=1, log_dir=logs), dict(threads=2, rest=True, log_dir=logs)], tiny_model
    )
    yield BackendPair(one=one, two=two)
    for backend in (one, two):
        backend.stop()


@pytest.fixture
def fresh_backend(tiny_model, tmp_path):
    """Factory for backends a test may kill, pause or stop: ``fresh_backend(threads=1, rest=False,
    model_base=tiny_model, model_name="tiny", extra_args=())``. All are stopped after the test."""
    from backends import start_backend

    started = []

    def factory(*, model_base=None, **kwargs):
        kwargs.setdefault("log_dir", tmp_path / "backend-logs")
        backend = start_backend(model_base or tiny_model, **kwargs)
        started.append(backend)
        return backend

    yield factory
    for backend in started:
        backend.stop()


# --------------------------------------------------------------------------- tensor-input models
# Small Keras 3 classifiers taking decoded image tensors (see tests/tensor_models.py).


@pytest.fixture(scope="session")
def tensor_model_base(tmp_path_factory):
    """Factory: ``tensor_model_base(kind) -> Path``, a TF Serving model base path (``<dir>/1/``)
    holding that kind of tests/tensor_models.py. The first call builds every kind in one
    subprocess (one TensorFlow start, ~10 s); later calls reuse them for the session."""
    from tensor_models import KINDS, build_tensor_models

    root = tmp_path_factory.mktemp("tensor-models")
    built: dict = {}

    def get(kind: str):
        if kind not in KINDS:
            raise KeyError(f"unknown tensor model kind {kind!r}; kinds: {', '.join(KINDS)}")
        if not built:
            built.update(build_tensor_models(KINDS, root))
        return built[kind]

    return get


@pytest.fixture
def tensor_backend(tensor_model_base, tmp_path):
    """Factory: ``tensor_backend(kind, rest=True, threads=1, extra_args=())`` starts ``tfcompare
    serve`` on that kind's model, served under the model name ``kind``; stopped after the test."""
    from backends import start_backend

    started = []

    def factory(kind: str, *, rest: bool = True, threads: int = 1, extra_args=()):
        backend = start_backend(
            tensor_model_base(kind),
            rest=rest,
            threads=threads,
            model_name=kind,
            extra_args=extra_args,
            log_dir=tmp_path / "backend-logs",
        )
        started.append(backend)
        return backend

    yield factory
    for backend in started:
        backend.stop()
