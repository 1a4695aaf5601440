"""``tfcompare export``: write a saved session's measurements as JSON and/or CSV, in exactly the
shape ``tfcompare run --json/--csv`` writes (both go through ``tfcompare.runner.report``)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a saved session (.tfcs) as JSON or CSV",
        description=(
            "Write the measurements of a saved session as JSON (settings, backends, images, every "
            "measured request, the cold requests and the summary) and/or CSV (one row per measured "
            "request): the same shape as 'tfcompare run --json/--csv'."
        ),
        epilog="example: tfcompare export before.tfcs --json before.json --csv before.csv\n"
        "Exit status 0 on success, 1 when the session cannot be read or the output cannot be "
        "written, 2 for unusable arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("session", metavar="SESSION.tfcs", help="a session saved by tfcompare")
    p.add_argument("--json", metavar="OUT",
                   help="write the session as JSON to OUT ('-': to standard output)")
    p.add_argument("--csv", metavar="OUT",
                   help="write one row per measured request as CSV to OUT ('-': to standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcompare.cli.common import check_stdout_outputs, usage_error, write_outputs

    if not args.json and not args.csv:
        raise usage_error("nothing to do: give --json OUT and/or --csv OUT")
    check_stdout_outputs(args)
    from tfcompare.session import SessionError, load_session

    try:
        saved = load_session(args.session)
    except SessionError as exc:
        print(f"tfcompare export: error: {exc}", file=sys.stderr)
        return 1
    return write_outputs(saved.result, "export", json=args.json, csv=args.csv)
