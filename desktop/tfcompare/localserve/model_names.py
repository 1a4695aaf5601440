"""Which model names the local server serves, and answers about.

TF Serving serves a model under its ``--model_name`` (or model config ``name``) and its REST API
addresses it as ``/v1/models/NAME`` with NAME matching ``[^/:]+`` (``HttpRestApiHandler``'s path
regex): a name with ``/`` or ``:`` can be served over gRPC only, and an empty one is refused
("ModelSpec has no name specified"). Names also become the ``model_name`` label of every metric
on the Prometheus page, where a line feed, a U+2028 LINE SEPARATOR (a line break to many text
readers) or another control character in one request's name would break the page for every
reader. So the local server refuses, with a message saying why:

- a ``--model-name`` outside this rule at start-up;
- a request naming such a model (INVALID_ARGUMENT; REST 400), counted on the metrics page under
  ``(other)``, never under the name it sent.
"""

from __future__ import annotations

import unicodedata

MAX_MODEL_NAME = 255  # characters (a model's directory name on most file systems)
# control, format (bidi, zero-width), surrogate and unassigned code points; line and paragraph
# separators
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}


def model_name_problem(name: str) -> str | None:
    """Why ``name`` is not a model name the server serves (None when it is one)."""
    if not name:
        return "ModelSpec has no name specified"
    shown = ascii(name) if len(name) <= 80 else ascii(name[:77]) + "..."
    if len(name) > MAX_MODEL_NAME:
        return f"model name {shown} is longer than {MAX_MODEL_NAME} characters"
    if "/" in name or ":" in name:
        return f"model name {shown} holds '/' or ':', which a REST path cannot address"
    bad = next((c for c in name if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        return (
            f"model name {shown} holds {unicodedata.name(bad, f'U+{ord(bad):04X}').lower()} "
            f"(U+{ord(bad):04X}): model names hold no control characters or line separators"
        )
    return None


def is_model_name(name: str) -> bool:
    return model_name_problem(name) is None
