"""``tfcompare load``: capacity sweeps (throughput vs latency) against TF Serving backends."""

from __future__ import annotations

import argparse
import math
import sys

from tfcompare.cli.run_options import (
    add_backend_arguments,
    add_quality_arguments,
    backends_from_args,
    check_stdout_outputs,
    in_worker_thread,
    output_option_help,
    qualities_from_args,
    table_stream,
    usage_error,
)
from tfcompare.terminal import one_line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load",
        help="capacity sweep: throughput vs p99 latency per backend under growing load",
        description=(
            "Sweep load levels against each backend (one backend at a time) for each chosen image\n"
            "variant: closed loop (--concurrency: requests in flight) or open loop (--rate: Poisson\n"
            "arrivals per second). Each level is measured in windows until the last 3 agree within\n"
            "±10 % on throughput and p99 (--stability), up to --max-windows; unstable and\n"
            "client-bound levels are reported as such. Prints the level table, the sustained\n"
            "req/s at p99 ≤ --latency-limit (the highest stable level within it) and the knee\n"
            "(where more load stops buying throughput) per backend × variant, and equivalents\n"
            "(from the sustained figures; none from a figure whose higher levels never became\n"
            "stable). Server time is the server's mean per request, shown beside the mean latency."
        ),
        epilog=(
            "example:\n"
            "  tfcompare load photos/cat.jpg --backend gpu=10.0.0.5:8500/resnet \\\n"
            "      --backend cpu=10.0.0.6:8500/resnet --concurrency 1,2,4,8 --latency-limit 100 \\\n"
            "      --json capacity.json\n\n"
            "Exit status 0 when the sweep ran (levels that failed are shown), 1 when nothing could\n"
            "be measured, 2 for unusable arguments, 130 when interrupted."
        ),
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders (recursed)")
    add_backend_arguments(p)
    p.add_argument(
        "--variants",
        metavar="KEY,KEY",
        help="variants to load: 'original' and/or SIZE-FORMAT, e.g. 512-jpeg or 512-png; "
        "the window's names (512 jpg) work too (default original,512-jpeg, or the "
        "largest smaller JPEG when no image is larger than 512 px: variants are never "
        "upscaled)",
    )
    loop = p.add_mutually_exclusive_group()
    loop.add_argument(
        "--concurrency",
        metavar="N,N,...",
        help="closed loop: requests in flight per backend (default 1,2,4,8,16,32)",
    )
    loop.add_argument(
        "--rate", metavar="R,R,...", help="open loop: Poisson arrivals, requests per second"
    )
    p.add_argument(
        "--window-s",
        type=float,
        default=5.0,
        metavar="S",
        help="measurement window in seconds (default %(default)s)",
    )
    p.add_argument(
        "--stability",
        type=float,
        default=10.0,
        metavar="PCT",
        help="windows agree when within ±PCT %% on throughput and p99 (default %(default)s)",
    )
    p.add_argument(
        "--max-windows",
        type=int,
        default=10,
        metavar="N",
        help="windows per level at most; then the level is reported unstable (default %(default)s)",
    )
    p.add_argument(
        "--latency-limit",
        type=float,
        default=None,
        metavar="MS",
        help="p99 limit: a backend's sweep stops after a level above it; the sustained "
        "req/s is the highest stable throughput within it, the knee the level where more load "
        "stops buying throughput (default: none, no limit)",
    )
    p.add_argument(
        "--max-errors",
        type=int,
        default=100,
        metavar="N",
        help="a backend's sweep stops after a level with more errors (default %(default)s)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop the whole sweep after S seconds",
    )
    p.add_argument(
        "--max-requests",
        type=int,
        default=None,
        metavar="N",
        help="end each level after N requests",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="deadline per request (default %(default)s)",
    )
    add_quality_arguments(p, old_alias=True)
    p.add_argument(
        "--json",
        metavar="OUT",
        help=output_option_help("write every level (windows, histograms, knees) as JSON"),
    )
    p.add_argument(
        "--csv", metavar="OUT", help=output_option_help("write one row per level as CSV")
    )
    p.add_argument("--save", metavar="SESSION.tfcs", help="save the sweep as a session file")
    p.add_argument(
        "--agent",
        metavar="PLAN_DIR",
        help="run a plan directory headless and print one JSON line per window "
        "(in-cluster load agents)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no per-window progress lines")
    from tfcompare.cli.load_incluster import add_in_cluster_arguments

    add_in_cluster_arguments(p)
    p.set_defaults(func=run)


def _levels(text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise usage_error(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise usage_error(f"{what} must be positive numbers, got {text!r}")
    return values


def plan_from_args(args: argparse.Namespace):
    """(the plan, notes on how its defaults were chosen)."""
    from tfcompare.load.load_plan import DEFAULT_CONCURRENCY, LoadPlan, Mode

    notes = []
    mode: Mode
    if args.rate:
        mode, levels = "rate", _levels(args.rate, "--rate")
    else:
        mode = "concurrency"
        if args.concurrency:
            levels = _levels(args.concurrency, "--concurrency")
        elif getattr(args, "in_cluster", False):
            from tfcompare.load.incluster import default_levels_for_agents

            levels, note = default_levels_for_agents(args.agents)
            notes = [note] if note else []
        else:
            levels = DEFAULT_CONCURRENCY
        if any(int(v) != v for v in levels):
            raise usage_error("--concurrency must be whole numbers")
    try:
        plan = LoadPlan(
            mode=mode,
            levels=levels,
            window_s=args.window_s,
            stability=args.stability / 100.0,
            max_windows=args.max_windows,
            latency_limit_ms=args.latency_limit,
            max_errors=args.max_errors,
            duration_s=args.duration,
            max_requests=args.max_requests,
            timeout_s=args.timeout,
        )
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    return plan, notes


def run(args: argparse.Namespace) -> int:
    check_stdout_outputs(args)
    if args.agent:
        import os

        from tfcompare.cluster.loadjob import HEADERS_ENV
        from tfcompare.load.agent import PlanError, run_agent

        try:
            return in_worker_thread(
                lambda cancel: run_agent(
                    args.agent, cancel=cancel, headers_file=os.environ.get(HEADERS_ENV)
                ),
                name="tfcompare-load",
            )
        except PlanError as exc:
            print(f"tfcompare load: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    if not args.images:
        raise usage_error("give at least one IMAGE (or --agent PLAN_DIR)")
    if not args.backend:
        raise usage_error("give at least one --backend")
    from tfcompare.cli.load_incluster import dry_run, in_cluster_options
    from tfcompare.cli.run_cmd import collect_images
    from tfcompare.load.load_plan import DEFAULT_VARIANTS
    from tfcompare.load.pipeline import SweepJob
    from tfcompare.load.prepare import PrepareError, parse_variants
    from tfcompare.settings import RunSettings

    plan, level_notes = plan_from_args(args)
    jpeg_quality, webp_quality = qualities_from_args(args)
    specs = backends_from_args(args, RunSettings(timeout_s=args.timeout))
    images = collect_images(args.images)
    try:
        job = SweepJob(
            plan,
            tuple(specs),
            tuple(images),
            parse_variants(args.variants or DEFAULT_VARIANTS),
            default_variants=args.variants is None,
            quality=jpeg_quality,
            webp_quality=webp_quality,
            in_cluster=in_cluster_options(args) if args.in_cluster else None,
            notes=tuple(level_notes),
        )
    except (PrepareError, ValueError) as exc:
        raise usage_error(str(exc)) from None
    if job.in_cluster is not None and args.dry_run:
        return dry_run(job)
    return sweep_in_terminal(args, job)


def progress_printer(args, job):
    """What the terminal shows while ``job`` runs: its notes always (on standard error), each
    window and level unless --quiet."""
    from tfcompare.load.capacity_text import window_line
    from tfcompare.load.events import LevelDone, Stage, SweepMessage, SweepStage, WindowDone

    def on_event(event) -> None:
        if isinstance(event, SweepMessage):
            print(f"note: {one_line(event.text)}", file=sys.stderr, flush=True)
        elif isinstance(event, SweepStage):
            if event.stage is Stage.CONNECTING and job.in_cluster is not None:
                print("connecting to the cluster…", file=sys.stderr, flush=True)
        elif args.quiet:
            return
        elif isinstance(event, WindowDone):
            print(window_line(event.window), file=sys.stderr, flush=True)
        elif isinstance(event, LevelDone):
            lv = event.level
            print(
                f"{one_line(lv.backend)}/{one_line(lv.variant)} level {lv.level:g}: "
                f"{lv.throughput:.1f} req/s, "
                f"p99 {lv.percentile_ms(99) or 0:.1f} ms, "
                f"{'stable' if lv.stable else 'unstable'}"
                f"{', client-bound' if lv.client_bound else ''}",
                file=sys.stderr,
                flush=True,
            )

    return on_event


def sweep_in_terminal(args, job) -> int:
    """Run ``job`` (``tfcompare.load.pipeline``) with progress on standard error, then print the
    table and write the outputs asked for; the exit status."""
    from tfcompare.cluster.cluster_errors import ClusterError
    from tfcompare.load.capacity_text import capacity_table
    from tfcompare.load.pipeline import NothingToMeasure, run_sweep
    from tfcompare.load.prepare import PrepareError

    in_cluster = job.in_cluster is not None
    try:
        result = in_worker_thread(
            lambda cancel: run_sweep(job, on_event=progress_printer(args, job), cancel=cancel),
            name="tfcompare-load",
            grace_s=60 if in_cluster else 30,
        )
    except (PrepareError, NothingToMeasure, ClusterError) as exc:
        return sweep_failure(exc, args.command)
    except KeyboardInterrupt:
        what = "cancelled: the Job and its pods were deleted" if in_cluster else "cancelled"
        print(what, file=sys.stderr)
        return 130
    print(capacity_table(result), file=table_stream(args), flush=True)
    return write_capacity_outputs(result, args)


def sweep_failure(exc: Exception, command: str) -> int:
    """A sweep that could not run: exit status 1 with why, or a UsageError for what the
    arguments asked that cannot be done (unusable images or variants, a plan too large)."""
    from tfcompare.cluster.cluster_errors import PlanTooLarge
    from tfcompare.load.pipeline import NothingToMeasure
    from tfcompare.load.prepare import PrepareError

    if isinstance(exc, PrepareError | PlanTooLarge):
        raise usage_error(str(exc)) from None
    why = "no backend could be measured" if isinstance(exc, NothingToMeasure) else str(exc)
    print(f"tfcompare {command}: {why}", file=sys.stderr)
    return 1


def write_capacity_outputs(result, args) -> int:
    from tfcompare.cli.run_options import write_text_outputs
    from tfcompare.load.capacity_formats import capacity_csv, capacity_json, save_capacity

    failed = write_text_outputs(
        ((args.json, lambda: capacity_json(result)), (args.csv, lambda: capacity_csv(result))),
        "load",
    )
    if failed:
        return failed
    if getattr(args, "save", None):
        from tfcompare.session import SessionError

        try:
            save_capacity(args.save, result)
        except SessionError as exc:
            print(f"tfcompare load: error: {exc}", file=sys.stderr)
            return 1
        print(f"saved session {args.save}", file=sys.stderr)
    return 0 if result.levels else 1
