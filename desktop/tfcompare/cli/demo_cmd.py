"""``tfcompare demo``: real backends, a real model and real photos with one command, no cluster."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from tfcompare.cli.gui_cmd import parse_size
from tfcompare.cli.run_options import (
    add_model_input_arguments,
    add_settings_arguments,
    check_stdout_outputs,
    output_option_help,
    settings_from_args,
    table_stream,
    usage_error,
    write_outputs,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="start local backends (1 thread vs all cores; bytes vs tensor input) and compare "
        "them on sample photos",
        description=(
            "Builds EfficientNet-Lite0 (a real ImageNet classifier, from the weights installed "
            "with tfcompare;\nfirst use only, no network) and starts local TF-Serving-compatible "
            "backends of it on free\nloopback ports: one limited to 1 thread, one using all cores "
            "and also serving REST, and the\nsame network taking a decoded tensor on all cores "
            "(the client decodes, crops, resizes and\nscales: preprocess tf, crop 0.875). Then it "
            "opens the window with them and the sample photos\nloaded; with --no-gui (or without "
            "a display) it runs the comparison in the terminal and prints\nthe summary. The "
            "backends stop when the window closes or the demo exits."
        ),
        epilog=(
            "examples:\n"
            "  tfcompare demo\n"
            "  tfcompare demo --no-gui --sizes 512,256 --json demo.json\n"
            "  tfcompare demo --no-gui --save demo.tfcs && tfcompare report demo.tfcs --out demo.html\n"
            "  tfcompare demo --capacity --no-gui\n\n"
            "Exit status 0 when the demo ran (or the window was closed), 1 when the model, the "
            "backends or the window\ncould not start or an output could not be written, 2 for "
            "unusable arguments (also when none of the\n--images could be used), 130 when "
            "interrupted."
        ),
    )
    p.add_argument(
        "--no-gui",
        action="store_true",
        help="run the comparison in the terminal and print the summary table",
    )
    p.add_argument(
        "--images",
        nargs="+",
        metavar="IMAGE",
        help="image files or folders to use instead of the sample photos",
    )
    p.add_argument(
        "--json",
        metavar="OUT",
        help=output_option_help(
            "write every measured request and the summary as JSON (implies --no-gui)"
        ),
    )
    p.add_argument(
        "--csv",
        metavar="OUT",
        help=output_option_help("write one row per measured request as CSV (implies --no-gui)"),
    )
    p.add_argument(
        "--save",
        metavar="SESSION.tfcs",
        help="save the comparison as a session file (implies --no-gui); "
        "'tfcompare report' turns it into a page",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_DIR",
        help="model to serve: a registered name or a TF Serving model base path "
        "(default efficientnet-lite0)",
    )
    p.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="window mode: run the comparison, save a screenshot of the window, exit",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        metavar="WxH",
        help="window size, e.g. 1600x1000 (with --screenshot: the picture's size)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument(
        "--capacity",
        action="store_true",
        help="capacity mode: also start a batching backend (all cores, TF Serving's "
        "batching) and sweep concurrency 1, 2, 4 … up to twice the cores on each of the three in "
        "turn (the others idle meanwhile) with the photos' 512 px JPEGs in 4 s windows "
        "(throughput vs p99; about 2-3 minutes on 2 cores); the window opens on its Capacity "
        "tab (with --screenshot: after the sweep)",
    )
    add_settings_arguments(p)
    add_model_input_arguments(p)
    p.add_argument(
        "--at-once",
        action="store_true",
        help=(
            "measure the backends at the same time; by default they take turns, because the demo's "
            "backends share this machine's cores and would slow each other down"
        ),
    )
    p.set_defaults(func=run)


def _display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _window_entry():
    """``run_gui`` when the desktop window is installed, else None (headless fallback)."""
    try:
        from tfcompare.gui.app import run_gui
    except ModuleNotFoundError as exc:
        if exc.name in ("tfcompare.gui.app", "PySide6", "pyqtgraph"):
            return None
        raise
    return run_gui


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tfcompare.cli.run_cmd import collect_images
    from tfcompare.demo import (
        DEMO_MODEL,
        DemoError,
        LocalBackends,
        capacity_plan,
        default_plan,
        ensure_model,
        sample_images,
    )

    check_stdout_outputs(args)
    settings = replace(settings_from_args(args), concurrent=args.at_once)
    with_inputs = _model_inputs(args)
    if args.screenshot and (args.no_gui or args.json or args.csv or args.save):
        raise usage_error("--screenshot renders the window: drop --no-gui/--json/--csv/--save")
    try:
        images = collect_images(args.images) if args.images else sample_images()
    except DemoError as exc:
        print(f"tfcompare demo: {exc}", file=sys.stderr)
        return 1
    model = args.model or DEMO_MODEL
    model_name = Path(model).name if Path(model).exists() else model

    want_gui = not (args.no_gui or args.json or args.csv or args.save)
    run_gui = None
    if want_gui:
        run_gui = _window_entry()
        if run_gui is None:
            print(
                "tfcompare demo: the desktop window is not available in this installation; "
                "running in the terminal",
                file=sys.stderr,
            )
        elif not _display_available() and not args.screenshot:
            print(
                "tfcompare demo: no display found; running in the terminal (use --no-gui to "
                "skip this check)",
                file=sys.stderr,
            )
            run_gui = None
        elif not args.screenshot:
            from tfcompare.desktop_check import window_problem

            problem = window_problem()
            if problem:  # before any backend starts: Qt would end the process on its own
                print(
                    f"tfcompare demo: cannot open the window: {problem} "
                    "(tfcompare demo --no-gui runs it in the terminal)",
                    file=sys.stderr,
                )
                return 1

    # SIGTERM/SIGHUP unwind normally so the backends are stopped (SIGKILL: --exit-with-parent).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        base = ensure_model(model)
        # the tensor-input twin exists for the demo's own model only
        plan = capacity_plan() if args.capacity else default_plan(tensor=model == DEMO_MODEL)
        with LocalBackends(base, model_name, plan) as backends:
            specs = with_inputs(backends.start())
            print(
                "backends ready: "
                + ", ".join(f"{s.name}={s.target} ({s.protocol})" for s in specs)
                + " pids="
                + ",".join(map(str, backends.pids())),
                file=sys.stderr,
                flush=True,
            )
            if args.capacity and run_gui is None:
                return _headless_capacity(args, images, with_inputs(backends.specs(rest=False)))
            if run_gui is not None:
                print(
                    f"opening the window with {len(images)} image(s); press Run to compare",
                    file=sys.stderr,
                    flush=True,
                )
                capacity = None
                if args.capacity:
                    from tfcompare.load.load_plan import DEMO_VARIANTS, demo_plan

                    capacity = (demo_plan(), DEMO_VARIANTS)
                    specs = with_inputs(backends.specs(rest=False))
                return int(
                    run_gui(
                        [str(p) for p in images],
                        specs,
                        settings=settings,
                        screenshot=args.screenshot,
                        size=args.size,
                        autorun=bool(args.screenshot),
                        on_close=backends.stop,
                        capacity=capacity,
                    )
                    or 0
                )
            return _headless(args, images, specs, settings)
    except DemoError as exc:
        print(f"tfcompare demo: {exc}", file=sys.stderr)
        return 1


def _model_inputs(args):
    """A function giving the demo's backends --preprocess/--crop/--labels (for a model of your
    own; a backend's own setting, the demo's tensor backend's, wins); the options are checked
    before any backend starts (UsageError)."""
    from dataclasses import replace

    from tfcompare.serving.backend_spec import check_crop
    from tfcompare.serving.labels import LabelsError, load_labels

    if args.labels:
        try:
            load_labels(args.labels)
        except LabelsError as exc:
            raise usage_error(str(exc)) from None
    try:
        crop = check_crop(args.crop)
    except ValueError as exc:
        raise usage_error(f"--crop: {exc}") from None

    def apply(specs):
        return [
            replace(
                s,
                preprocess=s.preprocess or args.preprocess,
                crop=s.crop if s.crop is not None else crop,
                labels=s.labels or args.labels,
            )
            for s in specs
        ]

    return apply


def _headless_capacity(args, images, specs) -> int:
    from tfcompare.cli.load_cmd import sweep_in_terminal
    from tfcompare.load.load_plan import DEMO_VARIANTS, demo_plan
    from tfcompare.load.pipeline import SweepJob

    print(
        f"capacity sweep of {len(specs)} backends on {len(images)} image(s)…",
        file=sys.stderr,
        flush=True,
    )
    return sweep_in_terminal(
        args, SweepJob(demo_plan(), tuple(specs), tuple(images), DEMO_VARIANTS)
    )


def _headless(args, images, specs, settings) -> int:
    from tfcompare.cli.run_cmd import measure_in_terminal, no_usable_image
    from tfcompare.runner.run_formats import summary_table

    print(
        f"comparing {len(specs)} backends on {len(images)} image(s)…", file=sys.stderr, flush=True
    )
    try:
        result = measure_in_terminal(specs, settings, images, quiet=args.quiet)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    print(summary_table(result), file=table_stream(args), flush=True)
    unusable = no_usable_image(result, "demo")
    written = write_outputs(result, "demo", json=args.json, csv=args.csv, save=args.save)
    return 2 if unusable else written
