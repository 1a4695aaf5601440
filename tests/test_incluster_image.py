"""What in-cluster load needs besides tfcompare's own code: the load-agent image's contents (the
agent's entry command runs with only those packages importable), and the RBAC of k8s/load/
(valid objects, least privilege, and enough for every API call a real in-cluster sweep makes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from images import jpeg_bytes, photo

ROOT = Path(__file__).resolve().parents[1]
LOAD_RBAC = sorted((ROOT / "k8s" / "load").glob("*.yaml"))


def _image_modules() -> set[str]:
    """Top-level modules of the distributions docker/load-agent.Dockerfile installs."""
    wanted = [
        re.split(r"[<>=\s]", line)[0]
        for line in (ROOT / "docker" / "load-agent-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    dists, todo = set(), [w.lower() for w in wanted] + ["tensorflow-serving-api"]
    while todo:
        name = todo.pop().replace("_", "-")
        if name in dists:
            continue
        dists.add(name)
        if name == "tensorflow-serving-api":
            continue  # installed with --no-deps: no TensorFlow runtime
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a dependency for other Pythons (a marker)
            continue
        for req in requires:
            if "extra ==" not in req:
                todo.append(re.split(r"[<>=!~;\[\s(]", req)[0].lower())
    owners = metadata.packages_distributions()
    return {
        mod
        for mod, names in owners.items()
        if any(n.lower().replace("_", "-") in dists for n in names)
    }


GUARD = """
import importlib.abc, sys
from importlib import metadata
allowed = set(sys.argv[2].split(",")) | {"tfcompare", "tensorflow"}
installed = set(metadata.packages_distributions())
class Guard(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if name.startswith("tensorflow.python") or (top in installed and top not in allowed):
            raise ImportError(f"{name} is not in the load-agent image")
        return None
sys.meta_path.insert(0, Guard())
try:
    import PySide6  # noqa: F401
    raise SystemExit("the guard lets PySide6 through")
except ImportError:
    pass
from tfcompare.cli import main
raise SystemExit(main(["load", "--agent", sys.argv[1]]))
"""


@pytest.mark.slow  # the agent runs in an interpreter of its own, against a real backend
def test_agent_runs_with_only_the_image_packages(backend_pair, tmp_path):
    from tfcompare.load.agent import write_plan_dir
    from tfcompare.load.load_plan import LoadPlan, LoadTarget
    from tfcompare.serving import make_client
    from tfcompare.serving.backend_spec import BackendSpec

    spec = BackendSpec(name="one", target=backend_pair.one.grpc, model="tiny")
    with make_client(spec) as client:
        sig = client.metadata()
        request = client.prepare(sig.input.make(jpeg_bytes(photo())), sig)
    plan = LoadPlan(levels=(1,), window_s=0.3, max_windows=2, stable_windows=1)
    folder = write_plan_dir(
        tmp_path / "plan", plan, [LoadTarget(spec, spec.target, "original", "original", (request,))]
    )
    modules = _image_modules()
    assert {"grpc", "google", "hdrh", "aiohttp"} <= modules
    assert not {"PySide6", "kubernetes", "torch", "PIL"} & modules
    proc = subprocess.run(
        [sys.executable, "-c", GUARD, str(folder), ",".join(sorted(modules))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["type"] for d in lines][-1] == "done"
    assert any(d["type"] == "window" and d["ok"] > 0 for d in lines)


def _docs() -> list[dict]:
    return [d for p in LOAD_RBAC for d in yaml.safe_load_all(p.read_text()) if d]


def test_rbac_manifests_validate_and_are_least_privilege():
    import kubernetes_validate

    docs = [d for d in _docs() if d.get("kind") != "Kustomization"]
    assert {d["kind"] for d in docs} == {"Role", "RoleBinding", "ServiceAccount"}
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30", strict=True)
    role = next(d for d in docs if d["kind"] == "Role")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert not {"update", "deletecollection", "escalate", "bind", "impersonate"} & set(
            rule["verbs"]
        )
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert not any(
        d["kind"] == "RoleBinding"
        and any(s.get("name") == account["metadata"]["name"] for s in d["subjects"])
        for d in docs
    )


def allowed_by(role: dict, verb: str, group: str, resource: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
        for r in role["rules"]
    )


_CALLS = [  # (method, path pattern) -> (verb, API group, resource)
    ("POST", r"/api/v1/namespaces/[^/]+/configmaps$", ("create", "", "configmaps")),
    ("PATCH", r"/api/v1/namespaces/[^/]+/configmaps/[^/]+$", ("patch", "", "configmaps")),
    ("DELETE", r"/api/v1/namespaces/[^/]+/configmaps/[^/]+$", ("delete", "", "configmaps")),
    ("POST", r"/api/v1/namespaces/[^/]+/secrets$", ("create", "", "secrets")),
    ("PATCH", r"/api/v1/namespaces/[^/]+/secrets/[^/]+$", ("patch", "", "secrets")),
    ("DELETE", r"/api/v1/namespaces/[^/]+/secrets/[^/]+$", ("delete", "", "secrets")),
    ("POST", r"/apis/batch/v1/namespaces/[^/]+/jobs$", ("create", "batch", "jobs")),
    ("DELETE", r"/apis/batch/v1/namespaces/[^/]+/jobs/[^/]+$", ("delete", "batch", "jobs")),
    ("GET", r"/api/v1/namespaces/[^/]+/pods$", ("list", "", "pods")),
    ("GET", r"/api/v1/namespaces/[^/]+/pods/[^/]+$", ("get", "", "pods")),
    ("GET", r"/api/v1/namespaces/[^/]+/pods/[^/]+/log$", ("get", "", "pods/log")),
    (
        "GET",
        r"/api/v1/namespaces/[^/]+/pods/[^/]+/portforward$",
        ("create", "", "pods/portforward"),
    ),
    ("GET", r"/api/v1/namespaces/[^/]+/services/[^/]+$", ("get", "", "services")),
    (
        "GET",
        r"/apis/discovery.k8s.io/v1/namespaces/[^/]+/endpointslices$",
        ("list", "discovery.k8s.io", "endpointslices"),
    ),
]


@pytest.mark.slow
def test_the_user_role_covers_every_call_of_an_in_cluster_sweep(kube, backend_pair, tmp_path):
    """Replay what a real sweep asked of the API server against the Role of k8s/load/."""
    from images import save
    from kube_api_server import add_tfs_service

    add_tfs_service(kube, "tfs-a", grpc=backend_pair.two.grpc)
    cat = save(photo("chelsea"), tmp_path / "cat.jpg")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "load",
            str(cat),
            "--backend",
            "a=k8s://tfs/tfs-a:8500/tiny",
            "--variants",
            "original",
            "--concurrency",
            "2",
            "--in-cluster",
            "--agents",
            "2",
            "--window-s",
            "0.3",
            "--max-windows",
            "3",
            "--start-lead",
            "0.5",
            # a header: the agents get it through a Secret, which the Role must cover too
            "--header",
            "x-api-key: for-the-role-test",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    role = next(d for d in _docs() if d.get("kind") == "Role")
    seen = set()
    for line in kube.requests:
        method, path = line.split(" ", 1)
        path = path.split("?", 1)[0]
        call = next((c for m, rx, c in _CALLS if m == method and re.match(rx, path)), None)
        assert call is not None, f"a call the test does not know: {line}"
        assert allowed_by(role, *call), f"{line} needs {call}, which the Role does not grant"
        seen.add(call)
    assert ("create", "batch", "jobs") in seen and ("get", "", "pods/log") in seen
    used = {(v, g, r) for v, g, r in seen}
    granted = {
        (v, g, r)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    # nothing granted that no call needs, apart from the discovery and port-forward variants
    extra = (
        granted
        - used
        - {
            ("get", "", "pods/portforward"),
            ("watch", "", "pods"),
            ("list", "", "services"),
            ("get", "", "pods"),
        }
    )
    assert not extra, extra
