"""The ``tfcompare`` command line. Each sub-command lives in its own ``<name>_cmd`` module with
``register(subparsers)``; registering must stay cheap (no heavy imports) so ``--help`` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = (
    "run",
    "load",
    "demo",
    "gui",
    "serve",
    "export_model",
    "export",
    "render",
    "report",
    "compare",
    "cluster",
)


class _Parser(argparse.ArgumentParser):
    """No abbreviated options: ``--size`` must never silently mean ``--sizes``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tfcompare",
        description=(
            "Compare model servers (TensorFlow Serving, Triton, KServe, MLServer) on your own "
            "images: every image is resized and re-encoded into a ladder of variants and sent to "
            "every backend — as the encoded file, or as the tensor the model takes; tfcompare "
            "reports latency, top-5 predictions and how much quality each variant keeps."
        ),
        epilog="Start with 'tfcompare demo' (no cluster needed). 'tfcompare COMMAND --help' for details.",
    )
    from tfcompare import __version__

    parser.add_argument("--version", action="version", version=f"tfcompare {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"tfcompare.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; everything it prints (argparse's messages included) goes through
    ``tfcompare.terminal``: control characters from names, titles and servers' answers are shown,
    never obeyed by the terminal."""
    from tfcompare.terminal import escaping

    with escaping():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from tfcompare.cli.run_options import UsageError

    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        parser.exit(2, f"tfcompare {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
