"""``tfcompare export-model NAME OUT``: write a registered model as a TF Serving model base path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from tfcompare.models import MODELS

    parser = subparsers.add_parser(
        "export-model",
        help="export a model (tiny, inception-v3, ...) as a TF Serving SavedModel",
        description=(
            "Export a registered model into OUT/<version>/ (TF Serving's model base path layout). "
            "inception-v3 downloads ImageNet weights through Keras (needs network access) unless "
            "--random-weights is given. Prints the version folder it wrote."
        ),
        epilog="examples:\n  tfcompare export-model efficientnet-lite0 models/efficientnet-lite0\n"
        "  tfcompare serve models/efficientnet-lite0\n\n"
        "Exit status 0 on success, 1 when the model "
        "cannot be built or written, 2 for an unknown model or a bad --version.",
    )
    parser.add_argument("name", metavar="NAME", help=f"model to export: {', '.join(MODELS)}")
    parser.add_argument("out", metavar="OUT", type=Path, help="model base path to write into")
    parser.add_argument("--version", type=int, default=1, help="version number (default 1)")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="initialise weights randomly instead of downloading them (inception-v3)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tfcompare.models import MODELS, ModelError

    if args.name not in MODELS:
        print(
            f"tfcompare export-model: unknown model {args.name!r}; known: {', '.join(MODELS)}",
            file=sys.stderr,
        )
        return 2
    if args.version < 1:
        print("tfcompare export-model: --version must be a positive integer", file=sys.stderr)
        return 2
    from tfcompare.models import export

    try:
        path = export(args.name, args.out, args.version, random_weights=args.random_weights)
    except ModelError as exc:
        print(f"tfcompare export-model: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0
