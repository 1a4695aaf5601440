"""The gate's Markdown (``compare --markdown``, posted as CI comments) shows names from sessions
as text: no table broken by a ``|``, no markup, no HTML."""

from __future__ import annotations

import re

from session_results import make_result

from tfcompare.cli import main

HOSTILE = "cpu|8 *fast* <img src=x> [x](http://e)"


def test_names_in_the_gate_markdown_are_text(tmp_path):
    from tfcompare.session import save_session

    base, new = tmp_path / "a`b.tfcs", tmp_path / "new.tfcs"
    save_session(base, make_result(backends=(HOSTILE, "gpu")))
    save_session(new, make_result(backends=(HOSTILE, "gpu"), scale=3.0))
    md = tmp_path / "gate.md"
    code = main(["compare", str(base), str(new), "--fail-on", "p50:+10%", "--markdown", str(md)])
    assert code in (0, 1)
    text = md.read_text()
    escaped = r"cpu\|8 \*fast\* \<img src=x\> \[x\]\(http://e\)"
    rows = [line for line in text.splitlines() if line.startswith(f"| {escaped} |")]
    assert rows, text
    assert len(rows) == 6, text  # three variants in the rule's table and in the p50 table
    for row in rows:  # each cell's pipes, none inside a name
        assert len(re.findall(r"(?<!\\)\|", row)) in (8, 6), row
    assert not re.search(r"(?<!\\)<img", text) and not re.search(r"(?<!\\)\*fast", text)
    assert r"BASE a\`b.tfcs" in text
