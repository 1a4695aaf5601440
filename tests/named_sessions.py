"""Saved sessions whose names are chosen by the test: backend names, image names and titles as a
hostile (or careless) colleague could put in a session file — terminal escape sequences, bidi
overrides, very long names — with real aggregates and a capacity sweep, no backend needed."""

from __future__ import annotations

import io
from pathlib import Path

from crafted_sweeps import good_sweep

# what a name may hold to take over a terminal: window title (OSC 0), clear screen and cursor
# home (CSI), a C1 CSI, a carriage return that overwrites the line, a line separator
TERMINAL_ATTACK = "\x1b]0;owned\x07\x1b[2J\x1b[H\x9b31m\rFAKE\u2028LINE"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\r", "\u2028")


def named_session(
    path: Path,
    backends: tuple[str, str] = ("gpu", "cpu"),
    images: tuple[str, str] = ("cat.jpg", "dog.jpg"),
    title: str | None = None,
    *,
    scale: tuple[float, float] = (1.0, 1.15),
    sweep: bool = True,
) -> Path:
    """Two images × three variants × two backends (the second ``scale`` times slower), saved with
    ``title`` and, when ``sweep``, a capacity sweep of the same two backends."""
    from PIL import Image

    from tfcompare.imaging.values import ImageInfo, Variant
    from tfcompare.load.capacity_formats import save_capacity
    from tfcompare.results import RequestResult, RunResult
    from tfcompare.runner.aggregates import aggregate
    from tfcompare.serving.answers import Prediction
    from tfcompare.serving.backend_spec import BackendSpec
    from tfcompare.session import save_session
    from tfcompare.settings import RunSettings

    keys = ("original", "256-jpeg", "128-png")
    specs = tuple(
        BackendSpec(n, f"127.0.0.1:{i + 1}", model="tiny") for i, n in enumerate(backends)
    )
    infos, requests = [], []
    for i, name in enumerate(images):
        buf = io.BytesIO()
        Image.new("RGB", (320, 240), (40 + 80 * i, 90, 140)).save(buf, "JPEG")
        variants = tuple(
            Variant(
                k,
                None if k == "original" else int(k.split("-")[0]),
                "png" if "png" in k else "jpeg",
                None,
                320 >> j,
                240 >> j,
                30_000 >> j,
                1.0,
                b"",
            )
            for j, k in enumerate(keys)
        )
        infos.append(
            ImageInfo(
                name, None, "jpeg", 320, 240, len(buf.getvalue()), variants, (), buf.getvalue()
            )
        )
        for b, spec in enumerate(specs):
            for j, key in enumerate(keys):
                for rep in range(5):
                    top = (("tabby", 0.6 - 0.1 * j), ("tiger cat", 0.2), ("lynx", 0.1))
                    requests.append(
                        RequestResult(
                            name,
                            key,
                            spec.name,
                            "grpc",
                            "measured",
                            rep,
                            True,
                            (20.0 + j + 0.01 * rep) * scale[b],
                            0.1,
                            30_000 >> j,
                            1,
                            None,
                            tuple(Prediction(lbl, s) for lbl, s in top),
                            "probability",
                        )
                    )
    result = RunResult(
        RunSettings(sizes=(256, 128)), specs, tuple(infos), tuple(requests), (), aggregate(requests)
    )
    if sweep:
        save_capacity(path, good_sweep(backends), result, title=title)
    else:
        save_session(path, result, title=title)
    return path
