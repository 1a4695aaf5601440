"""The ``tfcompare`` command line. Each sub-command lives in its own ``<name>_cmd`` module with
``register(subparsers)``; registering must stay cheap (no heavy imports) so ``--help`` is instant."""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import textwrap

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


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help at the terminal's width, 100 columns at most. Descriptions and epilogs are written as
    paragraphs: their lines are joined and wrapped again, except blank lines (between
    paragraphs), indented lines (examples, kept as written) and lines starting ``- `` (a list
    item starts a paragraph of its own, wrapped under its text)."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 28, width=None
    ):
        if width is None:
            width = min(100, shutil.get_terminal_size().columns) - 2
        super().__init__(prog, indent_increment, max_help_position, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                item = paragraph[0].startswith("- ")
                out.extend(
                    textwrap.wrap(
                        " ".join(paragraph),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent + ("  " if item else ""),
                        break_on_hyphens=False,
                    )
                )
                paragraph.clear()

        for line in text.splitlines():
            if not line.strip():
                flush()
                out.append("")
            elif line[0].isspace():
                flush()
                out.append(indent + line.rstrip())
            else:
                if line.startswith("- "):
                    flush()
                paragraph.append(line.strip())
        flush()
        return "\n".join(out)


class _Parser(argparse.ArgumentParser):
    """No abbreviated options: ``--size`` must never silently mean ``--sizes``; help laid out by
    ``HelpFormatter``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs["formatter_class"] = HelpFormatter
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
