"""``tfcompare report``: the findings of a saved session as one self-contained HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfcompare.cli.run_options import usage_error
from tfcompare.terminal import one_line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the findings of a saved session as one HTML page (resizing, format, size, backends)",
        description=(
            "Answer the four questions of the original experiment from a saved session - how small\n"
            "images can get before the model's answer changes, PNG vs JPEG, whether time depends on\n"
            "image size, and which backend is fastest - each with a verdict, the numbers and a chart,\n"
            "plus the setup and every caveat. One HTML file with the charts inline (no script, no\n"
            "external file): open it, send it, print it. A finding the session cannot decide says so."
        ),
        epilog=(
            "examples:\n  tfcompare demo --no-gui --save demo.tfcs && tfcompare report demo.tfcs "
            "--out demo.html\n\nExit status 0 on success, 1 when the session cannot be read or "
            "the report cannot be written."
        ),
    )
    p.add_argument("session", metavar="SESSION.tfcs", help="a saved session")
    p.add_argument(
        "--out",
        metavar="REPORT.html",
        help="where to write the page (default: the session's name with .html)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=95.0,
        metavar="PERCENT",
        help="resizing: share of images whose top-1 class must stay the same (default 95)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.min_agreement <= 100:
        raise usage_error(f"--min-agreement must be between 0 and 100, not {args.min_agreement:g}")
    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.report import write_report
    from tfcompare.session import SessionError, load_session

    try:
        saved = load_session(args.session)
        capacity = capacity_of(saved)
    except SessionError as exc:
        print(f"tfcompare report: error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path(args.session).with_suffix(".html")
    try:
        report = write_report(
            out,
            saved.result,
            capacity=capacity,
            title=saved.title or Path(args.session).name,
            source=str(args.session),
            min_agreement=args.min_agreement,
        )
    except OSError as exc:
        print(
            f"tfcompare report: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    for f in report.findings:
        print(f"{one_line(f.title.split(':')[0])}: {one_line(f.verdict)}")
    print(f"wrote {out}", file=sys.stderr)
    return 0
