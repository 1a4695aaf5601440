"""``tfcompare compare``: what changed between two saved sessions (before → after), per backend
and variant: p50 latency (ms and %), top-1 agreement and score ratio against the original."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two saved sessions (before → after) per backend and variant",
        description=(
            "Print, per backend and variant (aggregated over the images both sessions share), the "
            "p50 latency of A and B and its change in ms and %, and the quality change: top-1 "
            "agreement with the same backend's answer on the original image and the score ratio. "
            "Backends and variants found in only one session are listed. Sessions holding a "
            "capacity sweep (tfcompare load --save) also compare the sustained req/s at the "
            "latency limit per backend and variant."
        ),
        epilog="example: tfcompare compare before.tfcs after.tfcs\n"
        "Exit status 0 on success, 1 when a session cannot be read.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", metavar="A.tfcs", help="the earlier session (before)")
    p.add_argument("b", metavar="B.tfcs", help="the later session (after)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON instead")
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
            return 1
    a, b = loaded
    from tfcompare.load.export import capacity_of
    from tfcompare.load.report import compare_capacity, format_capacity_comparison

    comparison = compare_results(a.result, b.result)
    cap_a, cap_b = capacity_of(a), capacity_of(b)
    capacity = compare_capacity(cap_a, cap_b) if cap_a or cap_b else None
    if args.json:
        doc = comparison.to_dict()
        if capacity is not None:
            doc["capacity"] = capacity
        print(json_text(doc, indent=1))
    else:
        sys.stdout.write(format_comparison(comparison, _describe(args.a, a), _describe(args.b, b)))
        if capacity is not None:
            sys.stdout.write(format_capacity_comparison(
                capacity, cap_a.limit_ms if cap_a else None, cap_b.limit_ms if cap_b else None))
    return 0


def _describe(path: str, saved) -> str:
    import time

    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved.saved_at)) if saved.saved_at else "?"
    title = f" “{saved.title}”" if saved.title else ""
    r = saved.result
    return (
        f"{path}{title} (saved {when}; {len(r.images)} image(s), {len(r.backends)} backend(s), "
        f"{len(r.measured)} measured request(s))"
    )
