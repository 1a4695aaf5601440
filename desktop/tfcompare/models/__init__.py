"""Models tfcompare can build as TF-Serving-ready SavedModels (``<base>/<version>/saved_model.pb``).

The registry maps a name to a lazy ``"module:function"`` so that listing or resolving models never
imports TensorFlow in the caller; exporting runs TensorFlow (in-process when the caller already has
it and does not say otherwise; else through ``python -m tfcompare export-model``: ``tfcompare
serve`` builds that way, to keep the build's eager thread pools out of its process).

Registered models:

- ``tiny``: small seeded conv net for tests. Input ``images`` (DT_STRING [-1], JPEG/PNG/GIF/BMP
  decoded in the graph), outputs ``classes`` (top-5 ImageNet names) and ``scores`` (softmax top-5).
  Signatures ``serving_default`` and ``predict_images``.
- ``tiny-ids``: same network, 1001-class id space (0 = background). Input ``image_bytes``, outputs
  ``classes`` (int64 top-5 ids) and ``probabilities`` (full 1001 softmax vector). ``serving_default``.
- ``tiny-logits``: same network; input ``images``, single output ``logits`` (full 1000 logit
  vector, no top-k). ``serving_default``.
- ``inception-v3``: Keras InceptionV3 in the signature of TF Serving's original Inception example
  (``predict_images``: ``images`` → ``classes`` strings + ``scores`` top-5 logits; same for
  ``serving_default``). ImageNet weights are downloaded by Keras (network needed) unless
  ``random_weights`` is set.
- ``efficientnet-lite0``: EfficientNet-Lite0 (see ``tfcompare.models.efficientnet_lite``).
- ``efficientnet-lite0-tensor``: the same network for clients that preprocess themselves:
  ``serving_default`` takes ``images`` DT_FLOAT [-1, 224, 224, 3], NHWC RGB, each image
  centre-cropped to 0.875 of its shorter side, resized to 224 × 224 and scaled to −1…1 as
  ``x / 127.5 - 1`` (the "tf" preset); outputs ``classes`` (top-5 names) and ``scores`` (softmax
  top-5), as the bytes model answers.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MODELS: dict[str, str] = {
    "tiny": "tfcompare.models.tiny:export",
    "tiny-ids": "tfcompare.models.tiny:export_ids",
    "tiny-logits": "tfcompare.models.tiny:export_logits",
    "inception-v3": "tfcompare.models.inception:export",
    "efficientnet-lite0": "tfcompare.models.efficientnet_lite:export",
    "efficientnet-lite0-tensor": "tfcompare.models.efficientnet_lite:export_tensor",
}


class ModelError(Exception):
    """A model name or directory that cannot be used; the message is meant for the user."""


def versions(base: Path) -> list[int]:
    """Numbered version directories under a TF Serving model base path that hold a SavedModel."""
    found = []
    if base.is_dir():
        for child in base.iterdir():
            if child.name.isdigit() and child.is_dir() and _has_saved_model(child):
                found.append(int(child.name))
    return sorted(found)


def _has_saved_model(path: Path) -> bool:
    return (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()


def exporter(name: str) -> Callable[..., Path]:
    """The export function registered for ``name`` (imports its module, which imports TensorFlow)."""
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    module_name, _, func_name = MODELS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ModelError(f"model {name!r} is not available in this installation") from exc
        raise
    return getattr(module, func_name)


def export(name: str, out_base: Path, version: int = 1, *, random_weights: bool = False) -> Path:
    """Export model ``name`` in-process into ``out_base/<version>/``; returns that directory.

    The SavedModel is written to a temporary sibling directory and renamed into place, so a
    half-written export never looks like a servable version.
    """
    out_base = Path(out_base)
    target = out_base / str(version)
    if target.exists():
        raise ModelError(f"{target} already exists; choose another --version or remove it")
    func = exporter(name)
    out_base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.export-", dir=out_base))
    kwargs = {}
    if random_weights:
        if "random_weights" not in inspect.signature(func).parameters:
            raise ModelError(f"model {name!r} has no random-weights option")
        kwargs["random_weights"] = True
    try:
        built = Path(func(staging, version=version, **kwargs))
        built.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(name_or_dir: str | os.PathLike[str], *, in_process: bool | None = None) -> Path:
    """A TF Serving model base path for a directory or a registered model name.

    A directory must hold numbered versions (``<base>/1/saved_model.pb``). A registered name is
    built on first use into ``paths.models_dir()/<name>`` and reused afterwards. ``in_process``
    (default: whether TensorFlow is already imported) decides between exporting here or in a
    ``python -m tfcompare export-model`` subprocess, which keeps TensorFlow out of the caller.
    """
    text = os.fspath(name_or_dir)
    path = Path(text).expanduser()
    if text not in MODELS or path.exists():
        return _check_base(path)
    from tfcompare import paths

    base = paths.models_dir() / text
    if versions(base):
        return base
    if in_process is None:
        in_process = "tensorflow.python" in sys.modules
    if in_process:
        try:
            export(text, base, 1)
        except (ModelError, OSError):
            if not versions(base):  # a concurrent build may have won the race
                raise
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "tfcompare", "export-model", text, str(base)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 and not versions(base):
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ModelError(f"building model {text!r} failed:\n{tail}")
    return base


def _check_base(path: Path) -> Path:
    if not path.exists():
        raise ModelError(
            f"{path} does not exist and is not a known model name ({', '.join(MODELS)})"
        )
    if not path.is_dir():
        raise ModelError(f"{path} is not a directory")
    if versions(path):
        return path
    if _has_saved_model(path):
        raise ModelError(
            f"{path} is a SavedModel itself; TF Serving expects a base path with numbered "
            f"versions: move it to {path / '1'} (or pass its parent if it is already named '1')"
        )
    raise ModelError(
        f"no servable versions under {path}: expected numbered sub-directories holding "
        "saved_model.pb (e.g. 1/saved_model.pb)"
    )
