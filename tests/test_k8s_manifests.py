"""k8s/: every overlay renders with ``kubectl kustomize``, every object validates against the
Kubernetes schemas (kubernetes-validate, strict), the three deployments differ as intended, and
tfcompare's discovery recognises the rendered Services (served by tests/kube_api_server.py)."""

# ruff: noqa: F811  (pytest fixtures imported from kube_api_server are parameters here)
from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from kube_api_server import kube  # noqa: F401  (fixture used by name)

from tfcompare.cluster import discover_services

K8S = Path(__file__).resolve().parents[1] / "k8s"
OVERLAYS = ("gpu", "cpu-1", "cpu-8")
K8S_VERSION = "1.30"


def render(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render k8s/ (Debian: apt-get install kubernetes-client)"
    proc = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


def by_kind(objs: list[dict], kind: str) -> dict:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objs]
    return found[0]


def serving(objs: list[dict]) -> dict:
    pod = by_kind(objs, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "serving")


def test_every_object_validates(rendered):
    import kubernetes_validate

    everything = render(K8S)  # all three + the namespace
    assert sorted(o["kind"] for o in everything) == sorted(
        ["Namespace"] + ["ConfigMap", "Service", "Deployment"] * 3
    )
    for objs in [*rendered.values(), everything]:
        for obj in objs:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    # the validator is not a rubber stamp
    broken = copy.deepcopy(by_kind(rendered["gpu"], "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limitz"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_base_serving_contract(rendered):
    for name, objs in rendered.items():
        svc, dep = by_kind(objs, "Service"), by_kind(objs, "Deployment")
        assert svc["metadata"]["name"] == dep["metadata"]["name"] == f"tfs-{name}"
        assert svc["metadata"]["namespace"] == "tfs"
        assert {(p["name"], p["port"]) for p in svc["spec"]["ports"]} == {
            ("grpc", 8500),
            ("http", 8501),
        }
        assert svc["metadata"]["labels"]["app.kubernetes.io/name"] == "tensorflow-serving"
        pod = dep["spec"]["template"]["spec"]
        c = serving(objs)
        env = {e["name"]: e["value"] for e in c["env"]}
        model = env["MODEL_NAME"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": f"/v1/models/{model}", "port": "http"}
        assert "--monitoring_config_file=/config/monitoring.config" in c["args"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        init = pod["initContainers"][0]
        assert init["volumeMounts"][0]["name"] == "models" and env["MODEL_BASE_PATH"] == "/models"
        assert any(m["mountPath"] == "/models" and m["name"] == "models" for m in c["volumeMounts"])
        config = by_kind(objs, "ConfigMap")
        assert "prometheus_config" in config["data"]["monitoring.config"]
        assert "max_batch_size" in config["data"]["batching_parameters.txt"]
        assert any(
            v.get("configMap", {}).get("name") == config["metadata"]["name"] for v in pod["volumes"]
        )


def test_overlays_make_the_three_deployments(rendered):
    gpu, cpu1, cpu8 = (serving(rendered[n]) for n in OVERLAYS)
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1" and gpu["image"].endswith("-gpu")
    assert (
        cpu1["resources"]["limits"]["cpu"] == "1"
        and "nvidia.com/gpu" not in cpu1["resources"]["limits"]
    )
    assert {"--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1"} <= set(
        cpu1["args"]
    )
    assert cpu8["resources"]["limits"]["cpu"] == "8"
    assert "--tensorflow_intra_op_parallelism=8" in cpu8["args"]
    assert not cpu1["image"].endswith("-gpu") and not cpu8["image"].endswith("-gpu")
    # each Service selects its own pods only
    for name, objs in rendered.items():
        selector = by_kind(objs, "Service")["spec"]["selector"]
        for other, other_objs in rendered.items():
            labels = by_kind(other_objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
            matches = all(labels.get(k) == v for k, v in selector.items())
            assert matches == (name == other), (name, other)


def test_discovery_recognises_rendered_services(kube):
    for obj in render(K8S):
        kube.add_object(obj)
    found = {s.name: s for s in discover_services(namespace="tfs")}
    assert set(found) == {"tfs-gpu", "tfs-cpu-1", "tfs-cpu-8"}
    assert found["tfs-gpu"].limits.gpu == "1"
    assert found["tfs-cpu-1"].limits.cpu == "1" and found["tfs-cpu-1"].limits.gpu is None
    assert found["tfs-cpu-8"].limits.cpu == "8"
    for s in found.values():
        assert s.readiness == "1/1" and s.model == "inception-v3"
        assert (
            s.target() == f"k8s://tfs/{s.name}:8500"
            and s.target("rest") == f"k8s://tfs/{s.name}:8501"
        )
        assert len(s.pods) == 1 and s.pods[0].startswith(s.name + "-")


def _kustomize(path: Path) -> subprocess.CompletedProcess:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render k8s/ (Debian: apt-get install kubernetes-client)"
    return subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )


def _deprecated_form(doc: dict, folder: Path) -> dict:
    """The same kustomization in the fields kustomize deprecated (bases, commonLabels,
    patchesStrategicMerge), to check the current fields render exactly as those did."""
    old = {k: v for k, v in doc.items() if k not in ("labels", "patches")}
    for entry in doc.get("labels", []):
        assert entry.get("includeSelectors"), entry  # commonLabels also changed selectors
        old.setdefault("commonLabels", {}).update(entry["pairs"])
    if "patches" in doc:
        old["patchesStrategicMerge"] = [p["path"] for p in doc["patches"]]
    folders = [r for r in doc.get("resources", []) if (folder / r).is_dir()]
    if folders:
        old["bases"] = folders
        old["resources"] = [r for r in doc["resources"] if r not in folders]
    return old


def test_kustomizations_use_current_fields_and_render_as_before(tmp_path):
    """No deprecation warnings from kustomize, and the same output as the deprecated fields gave."""
    folders = [K8S, K8S / "base", *(K8S / "overlays" / o for o in OVERLAYS)]
    current = {}
    for folder in folders:
        proc = _kustomize(folder)
        assert proc.returncode == 0 and "deprecated" not in proc.stderr, proc.stderr
        current[folder.relative_to(K8S)] = proc.stdout
    old = tmp_path / "k8s"
    shutil.copytree(K8S, old)
    for file in old.rglob("kustomization.yaml"):
        doc = yaml.safe_load(file.read_text())
        file.write_text(yaml.safe_dump(_deprecated_form(doc, file.parent)))
    for relative, text in current.items():
        proc = _kustomize(old / relative)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == text, relative
