"""The images of a comparison as the window lists them: a final name (unique, what the runner will
use), where the bytes come from, and what a quick look found (format, size, thumbnail or error).

Plain Python: the look (``inspect``) runs in a worker thread; a thumbnail is RGB bytes that a view
turns into a picture."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

THUMB = 48  # thumbnail box in pixels


@dataclass
class ImageEntry:
    """One image: a file on disk or in-memory bytes (pasted, or from a saved session)."""

    name: str
    path: str | None = None
    data: bytes | None = None
    format: str = ""
    width: int = 0
    height: int = 0
    nbytes: int = 0
    error: str | None = None
    probed: bool = False
    variants: int | None = None  # known once the runner has built the ladder
    thumb: tuple[int, int, bytes] | None = None  # (width, height, RGB bytes)

    @property
    def source(self) -> tuple[str, str | bytes]:
        """(name, path or bytes): what the runner is given, so results carry this name."""
        return self.name, self.path if self.path is not None else (self.data or b"")

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) once known; None while unknown or unusable."""
        return (self.width, self.height) if self.probed and not self.error else None


@dataclass(frozen=True)
class Inspection:
    name: str
    format: str = ""
    width: int = 0
    height: int = 0
    nbytes: int = 0
    thumb: tuple[int, int, bytes] | None = None
    error: str | None = None


def inspect(entry: ImageEntry) -> Inspection:
    """Format, size and a small thumbnail (header first: a bad file is reported, never raised)."""
    from PIL import Image, ImageOps

    from tfcompare.imaging import describe

    src = entry.path if entry.path is not None else (entry.data or b"")
    try:
        fmt, w, h = describe(src)
    except Exception as exc:  # ImageLoadError and anything unexpected: the row shows it
        return Inspection(entry.name, error=str(exc) or type(exc).__name__)
    nbytes = Path(src).stat().st_size if isinstance(src, str) else len(src)
    try:
        with Image.open(src if isinstance(src, str) else io.BytesIO(src)) as im:
            im.draft("RGB", (THUMB * 2, THUMB * 2))
            small = ImageOps.exif_transpose(im).convert("RGB")
            small.thumbnail((THUMB, THUMB))
            thumb = (small.width, small.height, small.tobytes())
    except Exception:  # no thumbnail; the run will say what is wrong with the file
        thumb = None
    return Inspection(entry.name, fmt, w, h, nbytes, thumb)
