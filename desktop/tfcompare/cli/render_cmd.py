"""``tfcompare render S.tfcs --out SHOT.png``: the window with a saved session, rendered offscreen."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    from tfcompare.cli.gui_cmd import parse_size

    p = sub.add_parser(
        "render", help="render a saved session's window to a PNG (no display needed)"
    )
    p.add_argument("session", metavar="S.tfcs")
    p.add_argument("--out", required=True, metavar="SHOT.png")
    p.add_argument(
        "--size", type=parse_size, default=(1600, 1000), metavar="WxH", help="default 1600x1000"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from tfcompare.session import SessionError, load_session

    try:
        load_session(args.session)  # fail with the session's own message before any window exists
    except SessionError as exc:
        print(f"tfcompare render: {exc}", file=sys.stderr)
        return 2
    if not Path(args.out).parent.exists():
        print(f"tfcompare render: folder {Path(args.out).parent} does not exist", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from tfcompare.gui.app import run_gui

    return run_gui([], [], session=args.session, screenshot=args.out, size=args.size)
