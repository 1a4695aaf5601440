"""The window's model and controller, without Qt: what the comparison being edited holds and the
operations on it. ``tfcompare.gui`` draws it; tests drive it directly."""

from tfcompare.window.controller import TOPICS, Message, Overlay, WindowController
from tfcompare.window.images import ImageEntry
from tfcompare.window.result_store import ResultStore

__all__ = ["TOPICS", "ImageEntry", "Message", "Overlay", "ResultStore", "WindowController"]
