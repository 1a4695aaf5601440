"""``tfcompare compare``: what changed between two saved sessions (before → after), per backend
and variant: p50 latency (ms and %), top-1 agreement and score ratio against the original; with
``--fail-on`` it is a regression gate for CI (see ``tfcompare.report.gate``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _rule(text: str):
    from tfcompare.report.gate import parse_rule

    try:
        return parse_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two saved sessions (before → after); with --fail-on, a regression gate for CI",
        description=(
            "Print, per backend and variant (aggregated over the images both sessions share), the\n"
            "p50 latency of A and B and its change in ms and %, and the quality change: top-1\n"
            "agreement with the same backend's answer on the original image and the score ratio.\n"
            "Backends and variants found in only one session are listed. Sessions holding a capacity\n"
            "sweep (tfcompare load --save) also compare the sustained req/s at the latency limit per\n"
            "backend and variant (≥: only a lower bound, its higher levels never became stable).\n"
            "Server and path time are means per request (the server's counters give means): they\n"
            "are printed beside the mean latency, not the p50.\n\n"
            "Regression gate: each --fail-on RULE is checked for every backend (matched by name) and\n"
            "variant (matched by key):\n"
            "  p50|p90|p99|mean:+10%  (or +5ms)  latency grew by more than the limit\n"
            "  agreement:-2pp                     top-1 agreement fell by more than 2 points\n"
            "  'errors:>0' (quoted for the shell) more than N failed requests in B\n"
            "  knee:-10%  (or sustained:-10%)     sustained req/s (the highest stable level with\n"
            "                                     p99 within the limit, as equivalents use) fell\n"
            "                                     by more than 10 %\n"
            "A latency row fails only when the change is beyond the limit AND a one-sided\n"
            "Mann-Whitney U test on the per-request latencies finds B's larger than A's grown by the\n"
            "limit (x 1.10 for +10%), at a family-wise 1 % level (Holm's correction over the rule's\n"
            "rows); a change the test cannot tell from noise is printed as 'not significant' and\n"
            "passes."
        ),
        epilog=(
            "examples:\n"
            "  tfcompare compare before.tfcs after.tfcs\n"
            "  tfcompare compare base.tfcs new.tfcs --fail-on p90:+10% --fail-on agreement:-2pp \\\n"
            "      --fail-on 'errors:>0' --markdown gate.md --json gate.json\n\n"
            "Exit status: 0 when every rule holds (or no rule is given), 1 when a rule fails (the\n"
            "failing rows are printed), 2 for usage errors: a bad rule, a session that cannot be\n"
            "read, or a rule the sessions have no data for (e.g. knee: without a capacity sweep)."
        ),
    )
    p.add_argument("a", metavar="A.tfcs", help="the earlier session (before, BASE)")
    p.add_argument("b", metavar="B.tfcs", help="the later session (after, NEW)")
    p.add_argument(
        "--fail-on",
        type=_rule,
        action="append",
        default=[],
        metavar="RULE",
        help="a rule the new session must keep (repeatable), e.g. p90:+10%%",
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="OUT",
        help="write the comparison (and the gate's result) as JSON to OUT "
        "(stdout instead of the table when OUT is omitted or '-')",
    )
    p.add_argument(
        "--markdown", metavar="OUT", help="write a Markdown summary for a pull-request comment"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcompare.runner.compare import compare_results, format_comparison
    from tfcompare.session import SessionError, load_session
    from tfcompare.tabular import json_text

    loaded = []
    for path in (args.a, args.b):
        try:
            loaded.append(load_session(path))
        except SessionError as exc:
            print(f"tfcompare compare: error: {exc}", file=sys.stderr)
            return 2
    a, b = loaded
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.load.capacity_text import compare_capacity, format_capacity_comparison
    from tfcompare.report.gate import run_gate

    try:
        cap_a, cap_b = capacity_of(a), capacity_of(b)
    except SessionError as exc:
        print(f"tfcompare compare: error: {exc}", file=sys.stderr)
        return 2
    comparison = compare_results(a.result, b.result)
    gate = None
    if args.fail_on:
        gate = run_gate(a.result, b.result, args.fail_on, capacity=(cap_a, cap_b))
    capacity = compare_capacity(cap_a, cap_b) if cap_a or cap_b else None
    data = comparison.to_dict()
    if capacity is not None:
        data["capacity"] = capacity
    if gate is not None:
        data["gate"] = gate.to_dict()
    to_stdout = args.json == "-"
    if to_stdout:
        from tfcompare.terminal import data_stdout

        print(json_text(data, indent=1), file=data_stdout())
    else:
        described = _describe(args.a, a, cap_a), _describe(args.b, b, cap_b)
        if capacity is not None and not a.result.measured and not b.result.measured:
            # capacity sweeps only: no per-variant latency table to print
            sys.stdout.write(f"A = {described[0]}\nB = {described[1]}\n")
        else:
            sys.stdout.write(format_comparison(comparison, *described))
        if capacity is not None:
            sys.stdout.write(
                format_capacity_comparison(
                    capacity, cap_a.limit_ms if cap_a else None, cap_b.limit_ms if cap_b else None
                )
            )
        if gate is not None:
            from tfcompare.report.gate_text import gate_text

            sys.stdout.write("\n" + gate_text(gate))
    outputs = []
    if args.json and not to_stdout:
        outputs.append((args.json, json_text(data, indent=1) + "\n"))
    if args.markdown:
        outputs.append((args.markdown, _markdown(gate, comparison, args)))
    for path, text in outputs:
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(
                f"tfcompare compare: error: cannot write {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
        print(f"wrote {path}", file=sys.stderr)
    if gate is not None and gate.exit_code == 2:
        for r in gate.rules:
            if r.status == "no data":
                print(
                    f"tfcompare compare: rule {r.rule.text} cannot be checked: {r.message}",
                    file=sys.stderr,
                )
    return gate.exit_code if gate is not None else 0


def _markdown(gate, comparison, args) -> str:
    from tfcompare.report.gate_text import gate_markdown, markdown_text

    a, b = Path(args.a).name, Path(args.b).name
    head = (
        gate_markdown(gate, a, b)
        if gate is not None
        else f"## tfcompare: {markdown_text(a)} → {markdown_text(b)}\n"
    )
    rows = [
        "",
        "<details><summary>p50 latency per backend and variant</summary>",
        "",
        "| backend | variant | p50 A ms | p50 B ms | change |",
        "|---|---|---:|---:|---:|",
    ]
    for r in comparison.rows:
        change = "–" if r.delta_pct is None else f"{r.delta_pct:+.1f} %"
        a_ms = "–" if r.a.p50_ms is None else f"{r.a.p50_ms:.2f}"
        b_ms = "–" if r.b.p50_ms is None else f"{r.b.p50_ms:.2f}"
        rows.append(
            f"| {markdown_text(r.backend)} | {markdown_text(r.variant)} | {a_ms} | {b_ms} | "
            f"{change} |"
        )
    rows += ["", "</details>", ""]
    return head + "\n".join(rows)


def _describe(path: str, saved, capacity=None) -> str:
    import time

    when = (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(saved.saved_at)) if saved.saved_at else "?"
    )
    from tfcompare.terminal import one_line

    title = f" “{one_line(saved.title)}”" if saved.title else ""
    r = saved.result
    sweep = f", a capacity sweep of {len(capacity.levels)} level(s)" if capacity else ""
    if not r.measured and capacity:
        return f"{path}{title} (saved {when}{sweep})"
    return (
        f"{path}{title} (saved {when}; {len(r.images)} image(s), {len(r.backends)} backend(s), "
        f"{len(r.measured)} measured request(s){sweep})"
    )
