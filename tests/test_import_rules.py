"""Layering rules: the window/CLI process never loads the TensorFlow runtime, and nothing below
``tfcompare.gui`` imports Qt. The run-time checks import in a fresh interpreter so earlier imports
don't count (the end-to-end tier); the static ones (import-linter's contracts, no import circles)
read the source in this process."""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys

import pytest

CORE = [
    "tfcompare",
    "tfcompare.serving",
    "tfcompare.imaging",
    "tfcompare.runner",
    "tfcompare.session",
    "tfcompare.load",
    "tfcompare.cluster",
    "tfcompare.window",
    "tfcompare.report",
]
FRONT = ["tfcompare.cli", "tfcompare.gui"]


def _modules_after(imports: list[str], pre: str = "") -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"{pre}\n"
        f"for name in {imports!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _submodules(package: str) -> list[str]:
    """The package and its modules, found on disk without importing anything here.

    For ``tfcompare`` itself only its plain modules: each layer package has its own case, and
    ``localserve``/``models`` run TensorFlow in their own processes by design.
    """
    spec = importlib.util.find_spec(package)
    if spec is None:
        return []
    names = [package]
    for info in pkgutil.iter_modules(spec.submodule_search_locations or []):
        if info.name == "__main__" or (package == "tfcompare" and info.ispkg):
            continue
        names.append(f"{package}.{info.name}")
    return names


@pytest.mark.slow  # a fresh interpreter per package
@pytest.mark.parametrize("package", CORE + FRONT)
def test_no_tensorflow_runtime(package):
    modules = _submodules(package)
    assert modules, f"{package} does not exist"
    loaded = _modules_after(modules)
    assert "tensorflow.python" not in loaded, f"{package} pulled in the TensorFlow runtime"
    assert not any(m == "tensorflow" or m.startswith("tensorflow.python") for m in loaded)


@pytest.mark.slow  # a fresh interpreter per package
@pytest.mark.parametrize("package", CORE)
def test_core_does_not_import_qt(package):
    loaded = _modules_after(_submodules(package))
    assert not any(m == "PySide6" or m.startswith("PySide6.") for m in loaded), (
        f"{package} imports Qt; only tfcompare.gui may"
    )


@pytest.mark.slow  # a fresh interpreter
def test_cli_entry_is_light():
    """``tfcompare --help`` style start-up: the CLI dispatcher alone loads neither TF nor Qt."""
    loaded = _modules_after(["tfcompare.cli"])
    assert "tensorflow.python" not in loaded
    assert "PySide6.QtWidgets" not in loaded


def test_import_linter_contracts_are_kept(capsys):
    """The contracts in pyproject.toml ([tool.importlinter]): layers, a Qt-free core, views that
    reach the core through the window controller, and a window process without TensorFlow."""
    from pathlib import Path

    import importlinter.cli  # noqa: F401  (registers the readers and contract types)
    from importlinter.application import use_cases

    root = Path(__file__).resolve().parents[1]
    kept = use_cases.lint_imports(
        config_filename=str(root / "pyproject.toml"), cache_dir=None, no_logo=True
    )
    out = capsys.readouterr().out
    assert kept, out[-4000:]
    assert "BROKEN" not in out and out.count("KEPT") >= 4


def test_no_import_circles_among_the_window_modules():
    """No module of tfcompare.gui or tfcompare.window imports (directly or not) one that imports
    it back: each can be read, changed and tested on its own. Imports for the type checker alone
    (``if TYPE_CHECKING:``, e.g. a window's helper naming the MainWindow it serves) do not run."""
    import grimp

    graph = grimp.build_graph("tfcompare", cache_dir=None, exclude_type_checking_imports=True)
    modules = sorted(
        m for m in graph.modules if m.startswith(("tfcompare.gui", "tfcompare.window"))
    )
    circles = [
        (a, b)
        for a in modules
        for b in graph.find_modules_directly_imported_by(a)
        if b in modules and graph.chain_exists(importer=b, imported=a)
    ]
    assert circles == []


@pytest.mark.slow  # a fresh interpreter and a real backend
def test_kubernetes_client_loads_only_for_cluster_work(backend_pair, tmp_path):
    """Importing the runner and a run against a direct backend never load the ``kubernetes``
    client (about a second of start-up); the cluster package itself loads it only when used."""
    loaded = _modules_after(["tfcompare.runner", "tfcompare.runner.preflight", "tfcompare.cluster"])
    assert not any(m == "kubernetes" or m.startswith("kubernetes.") for m in loaded)
    from images import photo, save

    image = save(photo("chelsea"), tmp_path / "cat.jpg")
    code = (
        "import json, sys\n"
        "from tfcompare.cli import main\n"
        f"rc = main(['run', {str(image)!r}, '--backend', 'a={backend_pair.one.grpc}/tiny',\n"
        "           '--sizes', '128', '--formats', 'jpeg', '--repeats', '1', '--quiet'])\n"
        "print(json.dumps([rc, sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    rc, kube_modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0, out.stderr[-3000:]
    assert kube_modules == []
    assert "connecting to the cluster" not in out.stderr
