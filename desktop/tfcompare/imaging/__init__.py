"""Imaging: load and normalise images, build the size × format variant ladder sent to backends.

Public API::

    build_ladder(source, settings=RunSettings(), *, name=None, executor=None) -> ImageInfo
    describe(source) -> (format, width, height)      # header-only probe, after EXIF orientation
    iter_image_files(paths) -> list[Path]             # files as given + image files in folders
    ImageLoadError                                    # .message is meant for the user

No Qt and no TensorFlow here: only Pillow and numpy.
"""

from __future__ import annotations

from .errors import ImageLoadError
from .image_files import IMAGE_EXTENSIONS, iter_image_files
from .ladder import PNG_COMPRESS_LEVEL, build_ladder, fit_size
from .loading import describe

__all__ = [
    "IMAGE_EXTENSIONS",
    "PNG_COMPRESS_LEVEL",
    "ImageLoadError",
    "build_ladder",
    "describe",
    "fit_size",
    "iter_image_files",
]
