"""Sessions for the report and gate tests, measured for real against local backends
(tests/backends.py) and saved to / read back from real .tfcs files."""

from __future__ import annotations

from pathlib import Path

from images import jpeg_bytes, photo

from tfcompare.runner import Runner
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.session import load_session, save_session
from tfcompare.settings import RunSettings

PHOTOS = ("chelsea", "coffee", "rocket")


def sources(names=PHOTOS) -> list[tuple[str, bytes]]:
    return [(f"{name}.jpg", jpeg_bytes(photo(name))) for name in names]


def measure(
    path: Path,
    backends: list[BackendSpec],
    settings: RunSettings,
    images=None,
    title: str | None = None,
):
    """Run, save to ``path`` and return the session as read back from the file."""
    result = Runner(backends, settings).run(images or sources())
    save_session(path, result, title=title)
    return load_session(path).result


def grpc(name: str, backend, model: str = "tiny", metrics: bool = False) -> BackendSpec:
    """A gRPC backend spec; ``metrics``: read its server time from the REST port's Prometheus page
    (the backend must serve REST), else no server time."""
    url = f"http://{backend.rest}/monitoring/prometheus/metrics" if metrics else "off"
    return BackendSpec(name, backend.grpc, model=model, metrics=url)
