"""Image values: a loaded image, its variant ladder, and an image that could not be used.

Plain frozen dataclasses, importable without Qt or TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ORIGINAL = "original"


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Variant:
    """One encoded version of an image, as it is sent to the backends.

    ``key`` is stable and machine friendly: ``"original"`` or ``"<box>-<format>"`` (``"512-jpeg"``).
    """

    key: str
    box: int | None  # None for the original
    format: str  # "jpeg" | "png" | "webp" | the original file's format, lower case
    quality: int | None  # JPEG/WebP quality, None for PNG and the original
    width: int
    height: int
    nbytes: int
    encode_ms: float
    data: bytes = field(default=b"", repr=False, compare=False)

    @property
    def label(self) -> str:
        """Human readable, e.g. ``original (JPEG 4032×3024)`` or ``512 px JPEG q90``."""
        if self.key == ORIGINAL:
            return f"original ({self.format.upper()} {self.width}×{self.height})"
        q = f" q{self.quality}" if self.quality is not None else ""
        return f"{self.box} px {self.format.upper()}{q}"

    def without_data(self) -> Variant:
        return replace(self, data=b"")


def variant_key(box: int | None, fmt: str) -> str:
    return ORIGINAL if box is None else f"{box}-{fmt.lower()}"


def variant_sort_key(key: str) -> tuple[int, int, str]:
    """Order variants: original first, then larger boxes first, then format name."""
    if key == ORIGINAL:
        return (0, 0, "")
    box, _, fmt = key.partition("-")
    return (1, -int(box), fmt)


@dataclass(frozen=True)
class ImageInfo:
    """A loaded image and its variant ladder (variants carry their encoded bytes)."""

    name: str  # unique within a run (file name, disambiguated if needed)
    path: str | None
    format: str  # source format, lower case ("jpeg", "png", ...)
    width: int  # after EXIF orientation
    height: int
    nbytes: int  # size of the original file
    variants: tuple[Variant, ...]
    notes: tuple[str, ...] = ()  # e.g. "2048 px skipped: image is only 1200×800 (never upscaled)"
    original: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class ImageProblem:
    """A file that could not be used, with a message a user understands."""

    image: str
    message: str
