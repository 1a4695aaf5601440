"""Class names for models that answer class ids or score vectors instead of names.

By default the 1000 ImageNet names that ship in ``resources/imagenet_labels.txt`` (1001-class
models, the TF-Slim / TF Hub exports, put ``background`` at id 0, which :meth:`ClassNames.label`
handles). A backend may name its own file (``--labels FILE``, ``,labels=FILE``): one name per line,
a JSON list, or a JSON object ``{"id": "name"}``.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

BACKGROUND = "background"
MAX_LABELS_BYTES = 16 << 20  # a label file of a million long names is a few tens of MB at most
MAX_LABELS = 1_000_000
MAX_NAME_CHARS = 500


class LabelsError(ValueError):
    """A labels file that cannot be used; the message is meant for the user."""


@functools.cache
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, index = class id of a 1000-class model."""
    text = (resources.files("tfcompare.resources") / "imagenet_labels.txt").read_text("utf-8")
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(labels) != 1000:
        raise RuntimeError(f"imagenet_labels.txt has {len(labels)} names, expected 1000")
    return labels


@dataclass(frozen=True)
class ClassNames:
    """Names by class id: ``names[i]`` for id ``i`` (None where a map leaves an id out).
    ``source`` says where they came from (``ImageNet`` or the file's name)."""

    names: tuple[str | None, ...]
    source: str = "ImageNet"
    imagenet: bool = field(default=False, compare=False)

    def label(self, class_id: int, num_classes: int | None = None) -> str:
        """The name of ``class_id``; ``num_classes`` is the model's class count when known (its
        score vector's length). One more class than names (1001 for 1000 ImageNet names) means
        ids are shifted by one with ``background`` at 0. Ids without a name come back as
        ``class N``: nothing is silently mislabelled."""
        offset = 1 if num_classes == len(self.names) + 1 else 0
        if offset and class_id == 0:
            return BACKGROUND
        if num_classes is not None and num_classes not in (len(self.names), len(self.names) + 1):
            if self.imagenet:  # ImageNet names on a model of another size say nothing
                return f"class {class_id}"
        index = class_id - offset
        name = self.names[index] if 0 <= index < len(self.names) else None
        return name if name is not None else f"class {class_id}"

    def fit(self, num_classes: int | None) -> str | None:
        """A warning when these names do not fit a model answering ``num_classes`` scores (None:
        they fit, or the size is unknown)."""
        if num_classes is None or num_classes in (len(self.names), len(self.names) + 1):
            return None
        if self.imagenet:
            return (
                f"the model answers {num_classes} classes, not ImageNet's 1000: its classes show "
                "as 'class N' (give a labels file with --labels or ,labels=FILE)"
            )
        return (
            f"{self.source} has {len(self.names)} names but the model answers {num_classes} "
            f"classes: ids without a name show as 'class N'"
        )


@functools.cache
def imagenet() -> ClassNames:
    return ClassNames(tuple(imagenet_labels()), "ImageNet", imagenet=True)


def label_for(class_id: int, num_classes: int | None = None) -> str:
    """ImageNet name for ``class_id`` (see :meth:`ClassNames.label`)."""
    return imagenet().label(class_id, num_classes)


def load_labels(path: str | os.PathLike[str]) -> ClassNames:
    """Read a labels file: one name per line, a JSON list of names, or a JSON object mapping
    ids to names. Raises LabelsError for anything else (binary, huge, empty, ids that are not
    whole numbers)."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_LABELS_BYTES + 1)
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_LABELS_BYTES:
        raise LabelsError(
            f"labels file {path} is larger than {MAX_LABELS_BYTES >> 20} MB: not a list of names"
        )
    if b"\x00" in data:
        raise LabelsError(f"labels file {path} is binary, not text (one name per line, or JSON)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabelsError(f"labels file {path} is not UTF-8 text") from None
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        names = _from_json(text, path)
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
    if not names or not any(names):
        raise LabelsError(f"labels file {path} holds no names")
    if len(names) > MAX_LABELS:
        raise LabelsError(f"labels file {path} has {len(names):,} names (at most {MAX_LABELS:,})")
    clean: list[str | None] = []
    for i, name in enumerate(names):
        if name is None:
            clean.append(None)
            continue
        if not isinstance(name, str):
            raise LabelsError(f"labels file {path}: name {i} is not text ({type(name).__name__})")
        name = "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME_CHARS]
        clean.append(name or None)
    return ClassNames(tuple(clean), path.name)


def _from_json(text: str, path: Path) -> list:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise LabelsError(f"labels file {path} is not valid JSON ({exc})") from None
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        ids: dict[int, object] = {}
        for key, value in doc.items():
            try:
                number = int(key)
            except ValueError:
                raise LabelsError(
                    f"labels file {path}: key {key[:40]!r} is not a class id (a whole number)"
                ) from None
            if not 0 <= number < MAX_LABELS:
                raise LabelsError(f"labels file {path}: class id {number} is out of range")
            ids[number] = value
        names: list = [None] * (max(ids) + 1 if ids else 0)
        for number, value in ids.items():
            names[number] = value
        return names
    raise LabelsError(
        f"labels file {path} must hold a JSON list or object, not {type(doc).__name__}"
    )
