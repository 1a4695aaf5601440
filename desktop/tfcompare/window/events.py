"""How the window's controllers tell their views what changed, and the values they say it with.

One mechanism between controllers and views: a psygnal ``SignalGroup`` per controller, one signal
per part of its state (``controller.events.images.connect(view._on_images_changed)``). psygnal
is plain Python (the controllers stay free of Qt and are tested without it), typed (a signal's
arguments are declared), and is what napari and ndv use between their models and Qt views.

Signals are emitted synchronously on the thread that changes the state. The controllers change
their state only on their owner's thread — in the operations a view calls, and in ``drain()``,
which the window calls on a timer to apply what background threads have put in queues — so a
view's handler always runs on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from psygnal import Signal, SignalGroup


class Outcome(Enum):
    """How a comparison run or a capacity sweep ended."""

    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"  # it stopped on an error before it could finish: the message says why


@dataclass(frozen=True)
class Ended:
    """The end of a run or a sweep: how, and the line the user is told."""

    outcome: Outcome
    message: str

    @property
    def cancelled(self) -> bool:
        return self.outcome is Outcome.CANCELLED

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


@dataclass(frozen=True)
class Message:
    """Something to tell the user (status bar); ``undo`` offers to take the last removal back."""

    text: str
    warning: bool = False
    undo: bool = False


class ControllerEvents(SignalGroup):
    """What changed in a ``WindowController``. ``results``: the results were replaced (a new run,
    a session, a removal) and views redraw them all; results streaming in during a run are read
    from the store at the views' own pace."""

    images = Signal()
    backends = Signal()
    status = Signal()
    settings = Signal()
    selection = Signal()
    run = Signal()
    results = Signal()
    session = Signal()
    overlay = Signal()
    message = Signal(Message)


class CapacityEvents(SignalGroup):
    """What changed in a ``CapacityController``."""

    fields = Signal()  # the settings row, changed by the controller (a sweep opened, defaults)
    running = Signal(bool)  # a sweep started (True) or ended (False)
    results = Signal()  # the sweep shown: its levels, rows, equivalents or notes
    status = Signal(str)  # the one-line status under the tab
    finished = Signal(Ended)  # the sweep that ran has ended
