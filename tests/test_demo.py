"""``tfcompare demo``: real local backends with EfficientNet-Lite0 on the sample photos.

The demo runs as a real subprocess (``python -m tfcompare demo``). The model is built by the demo
itself on first use in one test and taken prebuilt (session fixture) in the others.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from effnet_models import CATS, COFFEE, export_effnet
from waiting import wait_for

FAST = ["--sizes", "128", "--formats", "jpeg", "--warmup", "0", "--repeats", "1"]


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TFCOMPARE_HOME": str(home),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
    }


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _cpu_s(pid: int) -> float:
    """CPU seconds process ``pid`` has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids(text: str) -> list[int]:
    match = re.search(r"pids=([\d,]+)", text)
    assert match, text
    return [int(p) for p in match.group(1).split(",")]


@pytest.fixture(scope="module")
def effnet_home(tmp_path_factory) -> Path:
    return export_effnet(tmp_path_factory)


def test_samples_are_real_photos_one_of_them_full_size():
    """The shipped photos: small ones, and two full-size camera photos (≥ 12 megapixels), so a
    first run has the 2048 px and 1024 px rungs; every one is named in the licences file."""
    from PIL import Image

    from tfcompare.demo import sample_images

    files = sample_images()
    assert {p.stem for p in files} >= {"chelsea", "coffee", "pier", "lantern"}
    assert files[0].name == "coffee.jpg"  # the window opens on the first: one the model gets right
    assert sum(p.stat().st_size for p in files) < 4 * 1024 * 1024  # a few MB in the package
    sizes = {}
    for path in files:
        with Image.open(path) as im:
            assert im.format == "JPEG" and min(im.size) >= 256
            sizes[path.name] = im.size
    large = [name for name, (w, h) in sizes.items() if w * h >= 12_000_000]
    assert sorted(large) == ["lantern.jpg", "pier.jpg"]
    assert all(max(sizes[name]) > 2048 for name in large)
    licences = (files[0].parent / "README.md").read_text()
    assert all(f"| {name} |" in licences for name in sizes)
    assert all("CC0" in licences.split(f"| {name} |")[1].split("\n")[0] for name in large)


@pytest.mark.slow  # python -m tfcompare in a process of its own
def test_demo_module_and_help_do_not_import_tensorflow():
    code = (
        "import sys, tfcompare.demo, tfcompare.cli.demo_cmd\n"
        "from tfcompare.cli import build_parser\n"
        "build_parser().parse_args(['demo', '--no-gui'])\n"
        "print([m for m in sys.modules if m.startswith('tensorflow.python') or m == 'torch'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "tfcompare", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--no-gui" in help_text and "--json" in help_text


@pytest.mark.slow  # python -m tfcompare in a process of its own
def test_bad_arguments_give_clear_messages(tmp_path):
    env = _env(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "demo",
            "--no-gui",
            "--images",
            str(tmp_path / "nope.jpg"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "demo",
            "--no-gui",
            "--model",
            str(tmp_path / "no-model"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1
    assert "does not exist and is not a known model name" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_builds_model_and_compares_headlessly(tmp_path):
    home = tmp_path / "fresh-home"
    out = tmp_path / "demo.json"
    session = tmp_path / "demo.tfcs"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "demo",
            "--no-gui",
            "--json",
            str(out),
            "-q",
            *FAST,
            "--save",
            str(session),
        ],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"saved session {session}" in proc.stderr
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "report",
            str(session),
            "--out",
            str(tmp_path / "d.html"),
        ],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=120,
    )  # the README's "demo, then report" recipe
    assert report.returncode == 0, report.stderr
    assert "Backends: " in report.stdout and (tmp_path / "d.html").stat().st_size > 10_000
    assert "building efficientnet-lite0" in proc.stderr  # first use: built, no network
    assert "building efficientnet-lite0-tensor" in proc.stderr
    for model in ("efficientnet-lite0", "efficientnet-lite0-tensor"):
        assert (home / "data" / "models" / model / "1" / "saved_model.pb").is_file()
    cores = os.cpu_count() or 1
    many = f"cpu-{cores}" if cores > 1 else "cpu-all"
    names = {"cpu-1", many, f"{many}-rest", f"{many}-tensor"}
    for name in names:
        assert re.search(rf"^original\s+{re.escape(name)}\s", proc.stdout, re.M), proc.stdout
    data = json.loads(out.read_text())
    assert {b["name"] for b in data["backends"]} == names
    assert {b["protocol"] for b in data["backends"]} == {"grpc", "rest"}
    # "send JPEG bytes, the server decodes" beside "the client decodes and sends a tensor"
    inputs = {b["name"]: b["input"] for b in data["backends"]}
    assert inputs["cpu-1"] == "takes encoded bytes"
    assert inputs[f"{many}-tensor"].startswith(
        "takes float32 224×224×3 NHWC · preprocess tf, centre crop 0.875"
    )
    sent = {(r["backend"], r["variant"]): r["bytes"] for r in data["requests"] if r["ok"]}
    assert sent[(f"{many}-tensor", "128-jpeg")] > 100 * sent[("cpu-1", "128-jpeg")]
    tensor = [r for r in data["requests"] if r["backend"] == f"{many}-tensor"]
    assert all(r["preprocess_ms"] > 0 for r in tensor)
    # the tensor path answers as the bytes path on every original (the same network; only the
    # resize implementations differ): top-1 equal, top-5 overlap at least 4 of 5
    top = {
        (r["backend"], r["image"]): r["top5"]
        for r in data["requests"]
        if r["variant"] == "original"
    }
    for (backend, image), top5 in top.items():
        if backend == f"{many}-tensor":
            ref = top[("cpu-1", image)]
            assert top5[0][0] == ref[0][0], (image, top5, ref)
            assert len({p[0] for p in top5} & {p[0] for p in ref}) >= 4, (image, top5, ref)
    assert f"answers: {many}-tensor vs cpu-1: top-1 the same on" in proc.stdout
    assert data["requests"] and all(r["ok"] for r in data["requests"]), data["errors"]
    # every demo server reports its own time: the split shows with no cluster
    assert all(b["metrics_url"] and b["floor_ms"] for b in data["backends"]), data["backends"]
    assert all(s["server_ms"] is not None and s["server_exact"] for s in data["summary"])
    originals = [r for r in data["requests"] if r["variant"] == "original"]
    for r in originals:
        top1 = r["top5"][0][0]
        if r["image"].startswith("chelsea"):
            assert top1 in CATS, r
        if r["image"].startswith("coffee"):  # the photo the window opens on: clearly right
            assert top1 in COFFEE and r["top5"][0][1] > 0.5, r
    assert {r["backend"] for r in originals} == names
    # the backends were stopped on exit
    assert _wait_gone(_pids(proc.stderr), 5.0) == []


@pytest.mark.slow
def test_sigkill_of_the_demo_leaves_no_servers(effnet_home):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfcompare",
            "demo",
            "--no-gui",
            "-q",
            "--sizes",
            "256,128",
            "--repeats",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(effnet_home),
    )
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("backends ready:"):
                break
        text = "".join(seen)
        assert "built earlier" in text  # reused, not rebuilt
        pids = _pids(text)
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        idle = {p: _cpu_s(p) for p in pids}  # the comparison starts: servers busy when it dies
        wait_for(lambda: any(_cpu_s(p) > idle[p] + 0.05 for p in pids), 60, "servers at work")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(pids) == [], "servers survived the demo's SIGKILL"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_sigterm_stops_the_backends(effnet_home):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfcompare", "demo", "--no-gui", "-q", *FAST, "--repeats", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(effnet_home),
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("backends ready:"):
                break
        pids = _pids("".join(seen))
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(20) == 128 + signal.SIGTERM
        assert "stopped 3 local backends" in rest
        assert _wait_gone(pids, 2.0) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_window_mode_loads_backends_and_samples_and_stops_them_on_close(effnet_home, tmp_path):
    pytest.importorskip("tfcompare.gui.app", reason="the desktop window is not installed")
    shot = tmp_path / "demo.png"
    env = {**_env(effnet_home), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-m", "tfcompare", "demo", "--screenshot", str(shot), *FAST],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert "opening the window with 6 image(s)" in proc.stderr, proc.stderr[-3000:]
    assert shot.is_file() and shot.stat().st_size > 10_000  # the run finished and was rendered
    # the window closed (after the screenshot): its on_close stopped both servers
    assert "stopped 3 local backends" in proc.stderr
    assert _wait_gone(_pids(proc.stderr), 5.0) == []
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_demo_sweep_sends_requests_that_cost_about_the_same():
    """The demo's capacity variant is one whose requests cost about the same on every photo
    (the walkthrough's sweep mixed 0.1 and 20 megapixel originals: each window's p99 depended on
    which were in flight, and the curves zigzagged)."""
    from tfcompare.demo import sample_images
    from tfcompare.load.load_plan import DEMO_VARIANTS, demo_plan
    from tfcompare.load.prepare import variant_payloads

    payloads, info, _notes = variant_payloads(sample_images(), DEMO_VARIANTS)
    assert set(payloads) == set(DEMO_VARIANTS)
    import io

    from PIL import Image

    for key, blobs in payloads.items():
        assert len(blobs) >= 4, key  # several photos, not one repeated
        pixels = sorted(
            Image.open(io.BytesIO(b)).size[0] * Image.open(io.BytesIO(b)).size[1] for b in blobs
        )
        assert pixels[-1] < 1.6 * pixels[0], (key, pixels)  # decoding costs about the same
        sizes = sorted(map(len, blobs))
        assert sizes[-1] < 4 * sizes[0], (key, sizes)
    # a window holds a few hundred answers at the demo model's rate on a laptop, and the levels
    # go past the point where every core is busy
    for cores, levels in ((1, (1, 2, 4)), (2, (1, 2, 4)), (4, (1, 2, 4, 8)), (6, (1, 2, 4, 8, 16))):
        plan = demo_plan(cores)
        assert plan.levels == levels and plan.window_s >= 4 and plan.max_windows >= 5


@pytest.mark.slow
def test_backends_not_being_swept_stay_idle(tiny_model, tmp_path):
    """The demo sweeps its backends one at a time: while one is loaded, the others must use no
    CPU (no polling batch threads, no metrics work), or they would disturb its figures."""
    from tfcompare.demo import LocalBackends, capacity_plan, sample_images
    from tfcompare.load.load_plan import LoadPlan
    from tfcompare.load.prepare import build_targets, variant_payloads
    from tfcompare.load.sweep import sweep

    with LocalBackends(tiny_model, "tiny", capacity_plan(2), log_dir=tmp_path) as backends:
        specs = backends.start()
        assert [s.name for s in specs] == ["cpu-1", "cpu-2", "cpu-2-batching"]
        payloads, info, _ = variant_payloads(sample_images()[:3], ("256-jpeg",))
        swept, *idle = specs
        targets, problems = build_targets([swept], payloads, info)
        assert targets and not problems
        pids = dict(zip((s.name for s in specs), backends.pids(), strict=True))
        before = {s.name: _cpu_s(pids[s.name]) for s in specs}
        result = sweep(LoadPlan(levels=(1, 4), window_s=1.0, max_windows=3), targets)
        used = {s.name: _cpu_s(pids[s.name]) - before[s.name] for s in specs}
        assert result.levels and all(lv.ok > 0 for lv in result.levels)
        worked = used.pop(swept.name)
        assert worked > 0.2  # the swept one worked ...
        assert all(v < 0.05 * worked for v in used.values()), (worked, used)  # ... the others idled
