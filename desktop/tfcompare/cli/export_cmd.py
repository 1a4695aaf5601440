"""``tfcompare export``: write a saved session's measurements as JSON and/or CSV, in exactly the
shape ``tfcompare run --json/--csv`` writes (both go through ``tfcompare.runner.run_formats``), and its
capacity sweep in the shape ``tfcompare load --json/--csv`` writes (``tfcompare.load.capacity_formats``)."""

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
            "request): the same shape as 'tfcompare run --json/--csv'. A session's capacity sweep "
            "is written with --capacity-json/--capacity-csv, as 'tfcompare load --json/--csv' "
            "writes it."
        ),
        epilog="examples:\n  tfcompare export before.tfcs --json before.json --csv before.csv\n"
        "  tfcompare export sweep.tfcs --capacity-csv sweep.csv\n\n"
        "Exit status 0 on success, 1 when the session cannot be read or the output cannot be "
        "written, 2 for unusable arguments.",
    )
    p.add_argument("session", metavar="SESSION.tfcs", help="a session saved by tfcompare")
    p.add_argument(
        "--json", metavar="OUT", help="write the session as JSON to OUT ('-': to standard output)"
    )
    p.add_argument(
        "--csv",
        metavar="OUT",
        help="write one row per measured request as CSV to OUT ('-': to standard output)",
    )
    p.add_argument(
        "--capacity-json",
        metavar="OUT",
        help="write the session's capacity sweep (every level, its windows and "
        "histograms, the knees) as JSON to OUT ('-': to standard output)",
    )
    p.add_argument(
        "--capacity-csv",
        metavar="OUT",
        help="write the session's capacity sweep, one row per load level, as CSV to OUT "
        "('-': to standard output)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcompare.cli.run_options import (
        check_stdout_outputs,
        usage_error,
        write_outputs,
        write_text_outputs,
    )

    outputs = ("json", "csv", "capacity_json", "capacity_csv")
    if not any(getattr(args, o) for o in outputs):
        raise usage_error(
            "nothing to do: give --json, --csv, --capacity-json and/or --capacity-csv OUT"
        )
    check_stdout_outputs(args, outputs)
    from tfcompare.load.capacity_formats import capacity_csv, capacity_json, capacity_of
    from tfcompare.session import SessionError, load_session

    try:
        saved = load_session(args.session)
    except SessionError as exc:
        print(f"tfcompare export: error: {exc}", file=sys.stderr)
        return 1
    try:
        sweep = capacity_of(saved)
    except SessionError as exc:  # a damaged sweep: the run's measurements are still exported
        if args.capacity_json or args.capacity_csv:
            print(f"tfcompare export: error: {exc}", file=sys.stderr)
            return 1
        print(f"note: {exc}", file=sys.stderr)
        sweep = None
    if (args.capacity_json or args.capacity_csv) and sweep is None:
        print(
            f"tfcompare export: error: {args.session} holds no capacity sweep (sweeps are saved "
            "by 'tfcompare load --save' and by the window's Capacity tab)",
            file=sys.stderr,
        )
        return 1
    if (args.json or args.csv) and sweep is not None and not saved.result.measured:
        print(
            "note: the session holds a capacity sweep and no per-request measurements: "
            "--capacity-json/--capacity-csv write the sweep",
            file=sys.stderr,
        )
    failed = write_outputs(saved.result, "export", json=args.json, csv=args.csv)
    if failed or sweep is None:
        return failed
    return write_text_outputs(
        (
            (args.capacity_json, lambda: capacity_json(sweep)),
            (args.capacity_csv, lambda: capacity_csv(sweep)),
        ),
        "export",
    )
