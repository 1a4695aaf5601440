"""Names from others shown inside our own text, without their bidirectional formatting controls.

A backend, image or session name can hold U+202E (RIGHT-TO-LEFT OVERRIDE) or another explicit
bidi control with no closing U+202C: everything after it in the same paragraph — the rest of a
sentence, other backends' names, the figures — is then drawn right to left ("1.15×" reads
"×51.1"). Browsers and Qt both apply the Unicode bidirectional algorithm this way.

The report's sentences and the window's messages put names inside text tfcompare composes, where
the name's own boundaries are gone, so isolating each name (``<bdi>``) would need every place
that writes a name to mark it. Removing the controls works on any text, wherever the name ended
up, and keeps the name's letters: a name in Hebrew or Arabic still reads right to left, by the
letters' own direction. The controls carry no meaning a name needs.
"""

from __future__ import annotations

import re

#: ALM, LRM, RLM; LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROLS = re.compile(f"[{BIDI_CONTROLS}]")


def without_bidi_controls(text: object) -> str:
    """``text`` with every bidirectional formatting control removed."""
    return _CONTROLS.sub("", str(text))
