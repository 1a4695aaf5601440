"""Imaging: load and normalise images, build the size × format variant ladder sent to backends.

Public API::

    build_ladder(source, settings=RunSettings(), *, name=None, executor=None) -> ImageInfo
    describe(source) -> (format, width, height)      # header-only probe, after EXIF orientation
    iter_image_files(paths) -> list[Path]             # files as given + image files in folders
    ImageLoadError                                    # .message is meant for the user

No Qt and no TensorFlow here: only Pillow and numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ImageLoadError

# Loaded on first use, so that importing a light submodule (values, preprocess's layouts) does
# not load Pillow: the in-cluster load agent imports tfcompare.serving without any imaging.
_LAZY = {
    "IMAGE_EXTENSIONS": ".image_files",
    "iter_image_files": ".image_files",
    "PNG_COMPRESS_LEVEL": ".ladder",
    "build_ladder": ".ladder",
    "fit_size": ".ladder",
    "describe": ".loading",
}

if TYPE_CHECKING:
    from .image_files import IMAGE_EXTENSIONS, iter_image_files
    from .ladder import PNG_COMPRESS_LEVEL, build_ladder, fit_size
    from .loading import describe


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "IMAGE_EXTENSIONS",
    "PNG_COMPRESS_LEVEL",
    "ImageLoadError",
    "build_ladder",
    "describe",
    "fit_size",
    "iter_image_files",
]
