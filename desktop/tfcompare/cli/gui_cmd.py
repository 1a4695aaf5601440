"""``tfcompare gui``: open the window, optionally run and save a screenshot (for docs/automation)."""

from __future__ import annotations

import argparse

from tfcompare.cli.run_options import add_backend_arguments, backends_from_args


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad size {text!r}: expected WIDTHxHEIGHT, e.g. 1600x1000"
        ) from None
    if not (640 <= w <= 8000 and 400 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"size {text!r} out of range (640x400 … 8000x8000)")
    return w, h


def register(sub) -> None:
    p = sub.add_parser(
        "gui",
        help="open the desktop window",
        description=(
            "Open the tfcompare window with these images and backends loaded (or a saved "
            "session); press Run to measure. Backends take the same specs as 'tfcompare run'."
        ),
        epilog=(
            "examples:\n"
            "  tfcompare gui photos/ --backend gpu=10.0.0.5:8500/inception\n"
            "  tfcompare gui --session before.tfcs\n"
            "  tfcompare gui photos/ -b cpu=127.0.0.1:8500/efficientnet-lite0 --screenshot shot.png\n\n"
            "Exit status 0 when the window was closed normally (or the screenshot saved), 1 when "
            "the window cannot open\n(missing system libraries: the message names them) or the "
            "screenshot run failed, 2 for unusable arguments."
        ),
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders (recursed)")
    add_backend_arguments(p)
    p.add_argument("--session", metavar="S.tfcs", help="open a saved session")
    p.add_argument("--run", action="store_true", help="start the comparison right away")
    p.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="run the comparison (when images and backends are given), save a PNG of the "
        "window when done, and exit; needs no display",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        metavar="WxH",
        help="window size, e.g. 1600x1000 (default: the last size used, fitted to the screen at "
        "first start; 1600x1000 with --screenshot)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from tfcompare.settings import RunSettings

    backends = backends_from_args(args, RunSettings())
    if args.screenshot:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    else:
        import sys

        from tfcompare.desktop_check import window_problem

        problem = window_problem()
        if problem:
            print(f"tfcompare gui: cannot open the window: {problem}", file=sys.stderr)
            return 1
    from tfcompare.gui.app import run_gui

    autorun = bool(args.run or (args.screenshot and args.images and backends))
    return run_gui(
        args.images,
        backends,
        session=args.session,
        screenshot=args.screenshot,
        size=args.size,
        autorun=autorun,
    )
