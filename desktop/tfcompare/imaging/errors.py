"""The one exception imaging raises for unusable input, carrying a message meant for the user."""

from __future__ import annotations


class ImageLoadError(Exception):
    """An image that cannot be used (not an image, empty, truncated, too large, unreadable).

    ``message`` is written for the person who picked the file: it says what is wrong, not how
    Pillow failed. ``str(error)`` is the same text.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
