"""Text for a terminal: control characters shown, never obeyed.

What the command line prints comes partly from others: a server's error text, backend and image
names and titles inside a session someone mailed, names read from a cluster. A terminal obeys
ESC/CSI/OSC sequences (clear the screen, move the cursor, change the window title, write a
hyperlink), C0 controls such as CR and BS overwrite what was printed, C1 controls (U+0080–U+009F)
start sequences on terminals that read them, U+2028/U+2029 break lines on some, and bidirectional
formatting characters reorder the rest of the line. :func:`printable` shows each of them as its
escape (``\\x1b``, ``\\u2028``); ``tfcompare.cli`` writes everything a command prints through it
(:func:`escaping`), and formatters that put a name on one line of a table escape newlines too.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

# C0 but TAB and LF, DEL, C1; line/paragraph separators; bidi marks, embeddings, overrides and
# isolates (joiners stay: emoji sequences need them)
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c"
_CONTROL = re.compile(f"[{_UNSAFE}]")
_CONTROL_OR_NEWLINE = re.compile(f"[{_UNSAFE}\n\t]")


def _escape(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, newlines: bool = True) -> str:
    """``text`` with every control character shown as its escape; with ``newlines=False``, line
    feeds and tabs too (a value that must stay on its line: a name in a table, a message)."""
    text = str(text)
    pattern = _CONTROL if newlines else _CONTROL_OR_NEWLINE
    return pattern.sub(_escape, text)


def one_line(text: object) -> str:
    """``printable(text, newlines=False)``: for a name or message put on one line."""
    return printable(text, newlines=False)


class EscapingStream(io.TextIOBase):
    """A text stream that writes everything through :func:`printable` to ``raw``."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    # typeshed declares TextIOBase's ``encoding`` and ``errors`` as attributes; at run time they
    # are read-only properties, as here
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.raw, "errors", None)


@contextmanager
def escaping() -> Iterator[None]:
    """Standard output and standard error escape control characters while the block runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingStream(saved[0]), EscapingStream(saved[1])
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved


def data_stdout() -> TextIO:
    """Where data the user asked for on standard output goes (``--json -``, ``--csv -``): as it
    is when it goes to a file or a pipe, escaped like everything else on a terminal (as ``ls``
    shows names)."""
    out = sys.stdout
    if isinstance(out, EscapingStream) and not out.isatty():
        return out.raw
    return out


def raw(stream: TextIO) -> TextIO:
    """The stream beneath an escaping one: for tfcompare's own terminal controls (a progress
    bar's carriage return), never for text."""
    return stream.raw if isinstance(stream, EscapingStream) else stream
