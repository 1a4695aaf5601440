"""``tfcompare render S.tfcs --out SHOT.png``: the window with a saved session, rendered offscreen."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    from tfcompare.cli.gui_cmd import parse_size

    p = sub.add_parser(
        "render",
        help="render a saved session's window to a PNG (no display needed)",
        description=(
            "Open a saved session in the tfcompare window offscreen (no display needed, nothing "
            "is measured)\nand save the window as a PNG: the charts, the results table and the "
            "backends as they were saved."
        ),
        epilog="examples:\n  tfcompare render before.tfcs --out before.png --size 1280x800\n\n"
        "Exit status 0 when the PNG was written, 1 when the window could not be drawn or saved,\n"
        "2 for unusable arguments: a session that cannot be read, a folder that does not exist.",
    )
    p.add_argument("session", metavar="S.tfcs", help="a session saved by tfcompare")
    p.add_argument("--out", required=True, metavar="SHOT.png", help="the PNG file to write")
    p.add_argument(
        "--size",
        type=parse_size,
        default=(1600, 1000),
        metavar="WxH",
        help="window size in pixels, from 640x400 (default 1600x1000)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from tfcompare.load.capacity_formats import capacity_of
    from tfcompare.session import SessionError, load_session

    try:
        # fail with the session's own message before any window exists
        capacity_of(load_session(args.session))
    except SessionError as exc:
        print(f"tfcompare render: error: {exc}", file=sys.stderr)
        return 2
    if not Path(args.out).parent.exists():
        print(
            f"tfcompare render: error: folder {Path(args.out).parent} does not exist",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from tfcompare.gui.app import run_gui

    return run_gui([], [], session=args.session, screenshot=args.out, size=args.size)
