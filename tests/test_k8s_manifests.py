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

pytestmark = pytest.mark.slow  # every test renders k8s/ with kubectl kustomize, a process

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


# --------------------------------------------------------------------------- Triton overlay

TRITON = K8S / "overlays" / "triton"


@pytest.fixture(scope="module")
def triton() -> list[dict]:
    return render(TRITON)


def triton_container(objs: list[dict]) -> dict:
    pod = by_kind(objs, "Deployment")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "triton")


def test_triton_overlay_renders_and_validates(triton, rendered):
    import kubernetes_validate

    assert sorted(o["kind"] for o in triton) == ["ConfigMap", "Deployment", "Service"]
    for obj in triton:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "tfs"
    # labelled like the TF Serving overlays, with its own name and instance
    labels = by_kind(triton, "Service")["metadata"]["labels"]
    tfs_labels = by_kind(rendered["gpu"], "Service")["metadata"]["labels"]
    assert set(labels) == set(tfs_labels)
    assert labels["app.kubernetes.io/name"] == "triton-inference-server"
    assert labels["app.kubernetes.io/part-of"] == "tfcompare"
    svc, dep = by_kind(triton, "Service"), by_kind(triton, "Deployment")
    assert {(p["name"], p["port"]) for p in svc["spec"]["ports"]} == {
        ("http", 8000),
        ("grpc", 8001),
        ("metrics", 8002),
    }
    template_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(template_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    # the Triton Service selects none of the TF Serving pods
    for objs in rendered.values():
        other = by_kind(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert not all(other.get(k) == v for k, v in svc["spec"]["selector"].items())
    c = triton_container(triton)
    assert c["image"] == "nvcr.io/nvidia/tritonserver:25.02-tf2-python-py3"
    assert {
        "--model-repository=/models",
        "--model-control-mode=explicit",
        "--load-model=inception-v3",
        "--metrics-port=8002",
    } <= set(c["args"])
    assert c["readinessProbe"]["httpGet"] == {
        "path": "/v2/models/inception-v3/ready",
        "port": "http",
    }
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    init = pod["initContainers"][0]
    assert "/shared/inception-v3/config.pbtxt" in init["command"][-1]
    config = by_kind(triton, "ConfigMap")
    assert any(
        v.get("configMap", {}).get("name") == config["metadata"]["name"] for v in pod["volumes"]
    )


def test_triton_model_config_is_the_exported_models_signature(triton):
    """config.pbtxt parses as Triton's ModelConfig and describes inception-v3 as tfcompare
    exports it (models/inception.py): input ``images`` (strings), outputs ``classes`` (strings)
    and ``scores`` (float), top-K wide, the signature's own batch dimension."""
    import re

    from google.protobuf import text_format
    from triton_model_config import data_type, parse

    text = by_kind(triton, "ConfigMap")["data"]["config.pbtxt"]
    assert text == (TRITON / "config.pbtxt").read_text()
    config = parse(text)
    source = (K8S.parent / "desktop/tfcompare/models/inception.py").read_text()
    top_k = int(re.search(r"^TOP_K = (\d+)$", source, re.M).group(1))
    assert re.search(r'TensorSpec\(\[None\], tf\.string, name="images"\)', source)
    assert '"classes": tf.gather(names' in source and '"scores": top.values' in source
    load = next(a for a in triton_container(triton)["args"] if a.startswith("--load-model="))
    assert config.name == load.split("=", 1)[1] == "inception-v3"
    assert config.platform == "tensorflow_savedmodel" and config.max_batch_size == 0
    assert [(i.name, data_type(i.data_type), list(i.dims)) for i in config.input] == [
        ("images", "TYPE_STRING", [-1])
    ]
    assert [(o.name, data_type(o.data_type), list(o.dims)) for o in config.output] == [
        ("classes", "TYPE_STRING", [-1, top_k]),
        ("scores", "TYPE_FP32", [-1, top_k]),
    ]
    # the same model as the TF Serving overlays serve
    env = {e["name"]: e["value"] for e in serving(render(K8S / "overlays" / "gpu"))["env"]}
    assert env["MODEL_NAME"] == config.name
    # the parser is Triton's schema, not a rubber stamp
    for broken in (
        text.replace("data_type: TYPE_FP32", "data_type: TYPE_FLOAT"),
        text.replace("max_batch_size: 0", "max_batch: 0"),
        text.replace("count: 1", 'count: "one"'),
    ):
        with pytest.raises(text_format.ParseError):
            parse(broken)


def test_discovery_recognises_the_rendered_triton_service(kube, oip_protocols, triton):
    for obj in triton:
        kube.add_object(obj)
    (found,) = discover_services(namespace="tfs")
    assert (found.name, found.kind, found.model) == ("triton-gpu", "Triton", "inception-v3")
    assert found.protocols == ("v2", "v2+http") and found.limits.gpu == "1"
    assert found.backend_target() == "k8s://tfs/triton-gpu:8001/inception-v3,protocol=v2"
    assert found.port_for("v2+http").port == 8000
