"""Expand the user's file and folder arguments into the list of images to compare."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

#: File name extensions (lower case) of the formats imaging reads.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
)


def is_image_name(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given (in the given order, whatever their extension, so a wrong file gets a clear
    per-image error later), and for each folder its image files found recursively, sorted by path.

    Hidden files and folders (name starting with ".") inside folders are skipped. Duplicates are
    dropped, keeping the first occurrence. Paths that do not exist are kept as given: loading them
    reports "file not found" for that image instead of failing the whole list.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve() if p.exists() else p.absolute()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found: list[Path] = []
            for root, dirs, names in os.walk(p, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.extend(
                    Path(root) / n for n in names if not n.startswith(".") and is_image_name(n)
                )
            for f in sorted(found):
                add(f)
        else:
            add(p)
    return out
