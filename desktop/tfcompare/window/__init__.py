"""The window's models and controllers, without Qt: the comparison being edited
(``WindowController``) and, beside it, its capacity sweeps (``CapacityController``), with the
operations on them and the events they announce changes with (``tfcompare.window.events``).
``tfcompare.gui`` draws them; tests drive them directly."""

from tfcompare.window.capacity import CapacityController, PlanFields
from tfcompare.window.controller import Overlay, WindowController
from tfcompare.window.events import (
    CapacityEvents,
    ControllerEvents,
    Ended,
    Message,
    Outcome,
)
from tfcompare.window.images import ImageEntry
from tfcompare.window.result_store import ResultStore

__all__ = [
    "CapacityController",
    "CapacityEvents",
    "ControllerEvents",
    "Ended",
    "ImageEntry",
    "Message",
    "Outcome",
    "Overlay",
    "PlanFields",
    "ResultStore",
    "WindowController",
]
