"""The gate's result as terminal text and as Markdown for a pull-request comment."""

from __future__ import annotations

import re

from tfcompare.report.gate import GATE_ALPHA, LATENCY, Check, GateResult, RuleResult
from tfcompare.terminal import one_line


def _v(value: float | None, rule_metric: str) -> str:
    if value is None:
        return "–"
    if rule_metric in LATENCY:
        return f"{value:.2f} ms"
    if rule_metric == "agreement":
        return f"{value:.0f} %"
    if rule_metric == "knee":
        return f"{value:.1f} req/s"
    return f"{value:.0f}"


def _change(c: Check, r: RuleResult) -> str:
    if c.change is None:
        return "–"
    unit = {"%": " %", "ms": " ms", "pp": " pp"}.get(r.rule.unit, "")
    if r.rule.metric == "errors":
        return f"{c.change:.0f}"
    return f"{c.change:+.1f}{unit}"


def _p(c: Check) -> str:
    return "–" if c.p_value is None else (f"{c.p_value:.2g}" if c.p_value >= 1e-4 else "<0.0001")


def _shown(r: RuleResult) -> list[Check]:
    """The rows worth reading: failures first, then changes beyond the limit that were noise."""
    return r.failing + r.noise


def _verdict(r: RuleResult) -> str:
    if r.status == "no data":
        return f"cannot be checked: {r.message}"
    counts = (
        f"{len(r.failing)} of {len(r.checks)} rows failed"
        if r.failing
        else f"{len(r.checks)} rows checked"
    )
    noise = f", {len(r.noise)} beyond the limit but not significant" if r.noise else ""
    return f"{r.status} ({counts}{noise})"


def gate_text(g: GateResult) -> str:
    lines = []
    for r in g.rules:
        lines.append(f"rule {r.rule.text} ({r.rule.describe()}): {_verdict(r)}")
        shown = _shown(r)
        if not shown:
            continue
        table = [("backend", "variant", "BASE", "NEW", "change", "p", "verdict")]
        for c in shown:
            verdict = c.status + (f" ({c.note})" if c.note else "")
            table.append(
                (
                    one_line(c.backend),
                    one_line(c.variant),
                    _v(c.base, r.rule.metric),
                    _v(c.new, r.rule.metric),
                    _change(c, r),
                    _p(c),
                    verdict,
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines.extend(f"note: {n}" for n in g.notes)
    word = {0: "PASSED", 1: "FAILED", 2: "INCOMPLETE"}[g.exit_code]
    failed = sum(r.status == "FAILED" for r in g.rules)
    lines.append(f"gate: {word} ({failed} of {len(g.rules)} rule(s) failed; {g.compared})")
    return "\n".join(lines) + "\n"


# characters that mean something in Markdown (GitHub's, as CI comments use it) or in its HTML
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~&])")


def markdown_text(text: str) -> str:
    """A name or title from a session as literal Markdown text on one line: every character
    Markdown could read as markup escaped (a ``|`` cannot end a table cell, ``*`` cannot
    embolden, ``<img>`` is text), line breaks and control characters as in the terminal."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


def gate_markdown(g: GateResult, base_name: str, new_name: str) -> str:
    icon = {0: "✅ passed", 1: "❌ failed", 2: "⚠️ incomplete"}[g.exit_code]
    out = [
        f"## tfcompare gate: {icon}",
        "",
        f"BASE {markdown_text(base_name)} → NEW {markdown_text(new_name)}, {g.compared}.",
        "",
        "| rule | meaning | result |",
        "|---|---|---|",
    ]
    for r in g.rules:
        out.append(f"| `{r.rule.text}` | {r.rule.describe()} | {_verdict(r)} |")
    for r in g.rules:
        shown = _shown(r)
        if not shown:
            continue
        out += [
            "",
            f"### `{r.rule.text}`",
            "",
            "| backend | variant | BASE | NEW | change | p | verdict |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for c in shown:
            verdict = f"**{c.status}**" if c.status == "FAILED" else c.status
            if c.note:
                verdict += f" ({c.note})"
            out.append(
                f"| {markdown_text(c.backend)} | {markdown_text(c.variant)} | {_v(c.base, r.rule.metric)} | "
                f"{_v(c.new, r.rule.metric)} | {_change(c, r)} | {_p(c)} | {verdict} |"
            )
    out += [""] + [f"- {n}" for n in g.notes]
    out.append(
        f"Latency rows fail only when the change is beyond the limit and a one-sided "
        f"Mann-Whitney test on the per-request latencies finds NEW slower than BASE grown "
        f"by the limit, at a family-wise {100 * GATE_ALPHA:.0f} % level (Holm); otherwise "
        f"they are “not significant”."
    )
    return "\n".join(out) + "\n"
