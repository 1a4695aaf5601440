"""ImageNet class names for models that answer with integer class ids instead of strings.

The list (1000 names in index order) ships in ``resources/imagenet_labels.txt``; 1001-class models
(TF-Slim / TF Hub exports) put ``background`` at id 0, which :func:`label_for` handles.
"""

from __future__ import annotations

import functools
from importlib import resources

BACKGROUND = "background"


@functools.cache
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, index = class id of a 1000-class model."""
    text = (resources.files("tfcompare.resources") / "imagenet_labels.txt").read_text("utf-8")
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(labels) != 1000:
        raise RuntimeError(f"imagenet_labels.txt has {len(labels)} names, expected 1000")
    return labels


def label_for(class_id: int, num_classes: int | None = None) -> str:
    """Human readable name for ``class_id``.

    ``num_classes`` is the model's class count when known (length of its full score vector); 1001
    means ids are shifted by one with ``background`` at 0. Ids outside the table come back as
    ``"class N"`` so nothing is silently mislabelled.
    """
    labels = imagenet_labels()
    offset = 1 if num_classes == 1001 else 0
    index = class_id - offset
    if offset and class_id == 0:
        return BACKGROUND
    if 0 <= index < len(labels) and (num_classes is None or num_classes in (1000, 1001)):
        return labels[index]
    return f"class {class_id}"
