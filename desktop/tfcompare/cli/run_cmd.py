"""``tfcompare run``: measure images against backends from the terminal."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from tfcompare.cli.run_options import (
    add_backend_arguments,
    add_settings_arguments,
    add_turns_argument,
    backends_from_args,
    check_stdout_outputs,
    in_worker_thread,
    output_option_help,
    settings_from_args,
    table_stream,
    usage_error,
    write_outputs,
)
from tfcompare.terminal import one_line, raw


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="measure images against model servers (TF Serving, Triton, KServe, MLServer) and "
        "print a summary",
        description=(
            "Resize and re-encode every image into a ladder of variants (the original, then each\n"
            "size box as each format), send every variant to every backend (backends in parallel),\n"
            "and print latency percentiles and the quality each variant keeps against the same\n"
            "backend's answer on the original."
        ),
        epilog=(
            "example:\n"
            "  tfcompare run cat.jpg photos/ --backend gpu=127.0.0.1:8500/inception \\\n"
            "                --backend cpu8=127.0.0.1:9500/inception --json out.json\n"
            "  tfcompare run cat.jpg --backend a=k8s://tfs/tfs-a:8500/tiny   (a TARGET from\n"
            "                'tfcompare cluster list'; without /MODEL the pods' MODEL_NAME is used)\n"
            "  tfcompare run photos/ -b keras=127.0.0.1:8500/my_model --preprocess tf --labels names.txt\n"
            "                (a model taking a decoded tensor: the client crops, resizes and scales)\n"
            "  tfcompare run photos/ -b tfs=127.0.0.1:8500/m -b triton=v2://127.0.0.1:8001/m\n"
            "                (TF Serving beside a server speaking the Open Inference Protocol)\n\n"
            "Every backend is checked before the run starts: an unknown context, namespace,\n"
            "service, model or signature stops the run at once.\n\n"
            "exit status:\n"
            "  0  the run completed and every backend answered (failed requests are in the output)\n"
            "  1  some backend never answered successfully (its rows are still in the output),\n"
            "     none could be reached at the start, or an output file could not be written\n"
            "  2  unusable arguments: bad option values, missing files, no image that could be\n"
            "     used, or a backend that does not exist (unknown context, namespace, service,\n"
            "     model or signature)\n"
            "  130 cancelled (Ctrl-C)"
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders (recursed)")
    add_backend_arguments(p, required=True)
    add_settings_arguments(p)
    add_turns_argument(p)
    p.add_argument(
        "--json",
        metavar="OUT",
        help=output_option_help("write every measured request and the summary as JSON"),
    )
    p.add_argument(
        "--csv", metavar="OUT", help=output_option_help("write one row per measured request as CSV")
    )
    p.add_argument("--save", metavar="SESSION.tfcs", help="save the comparison as a session file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def collect_images(paths: list[str]) -> list[Path]:
    """Files as given plus image files found in folders. A path that does not exist is a usage error."""
    from tfcompare.imaging import iter_image_files

    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise usage_error(f"no such file or folder: {', '.join(missing)}")
    files = iter_image_files([Path(p) for p in paths])
    if not files:
        raise usage_error(f"no image files found in: {', '.join(paths)}")
    return files


class ProgressBar:
    """A one-line progress bar on stderr (a line every 10 % when stderr is not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last_draw = 0.0
        self.last_decile = -1
        self.lock = threading.Lock()

    def update(self, done: int, total: int, eta: float | None) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(done / total, 1.0)
        with self.lock:
            if self.tty:
                now = time.monotonic()
                if now - self.last_draw < 0.1 and done < total:
                    return
                self.last_draw = now
                bar = "#" * int(frac * 30)
                eta_txt = f"  ~{eta:.0f}s left" if eta is not None and done < total else ""
                raw(sys.stderr).write("\r")  # the bar's own control: back to the line's start
                sys.stderr.write(f"[{bar:<30}] {done}/{total} requests{eta_txt}   ")
                sys.stderr.flush()
            else:
                decile = int(frac * 10)
                if decile != self.last_decile:
                    self.last_decile = decile
                    sys.stderr.write(f"progress: {done}/{total} requests ({100 * frac:.0f}%)\n")

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        with self.lock:
            if self.tty:
                raw(sys.stderr).write("\r\033[K")  # clear the bar's line
            sys.stderr.write(one_line(text) + "\n")

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def measure_in_terminal(backends, settings, images, *, quiet: bool = False, connect=None):
    """Run the comparison with a progress bar and backend/image messages on stderr.

    The runner works in a thread so that Ctrl-C or a signal turned into SystemExit reaches the main
    thread at once; the run is then cancelled (its connections closed) and the exception re-raised.
    """
    from tfcompare.runner import Runner
    from tfcompare.runner.events import BackendReady, ImageFailed, PodMoved, Progress, TimingUpdated
    from tfcompare.runner.probe import ready_text

    bar = ProgressBar(enabled=not quiet)
    announced: set[tuple[str, str]] = set()

    def on_event(event) -> None:
        if isinstance(event, Progress):
            bar.update(event.done, event.total, event.eta_s)
        elif isinstance(event, ImageFailed):
            bar.message(f"image {event.problem.image}: {event.problem.message}")
        elif isinstance(event, PodMoved):
            bar.message(event.text)
        elif isinstance(event, BackendReady):
            if event.message:
                text = f"backend {event.backend}: {event.message}"
            else:
                text = f"backend {event.backend}: {ready_text(event.status, event.signature)}"
                if event.signature is not None:
                    text += f" (input '{event.signature.input_key}')"
            if (event.backend, text) not in announced:
                announced.add((event.backend, text))
                bar.message(text)
        elif isinstance(event, TimingUpdated) and event.timing.metrics_message:
            # once per backend and message ("no server metrics" is not repeated per request)
            text = f"backend {event.timing.backend}: {event.timing.metrics_message}"
            if (event.timing.backend, text) not in announced:
                announced.add((event.timing.backend, text))
                bar.message(text)

    try:
        return in_worker_thread(
            lambda cancel: Runner(
                backends, settings, **({"connect": connect} if connect else {})
            ).run(images, on_event=on_event, cancel=cancel),
            name="tfcompare-run",
            grace_s=10,
        )
    finally:
        bar.close()


def no_usable_image(result, command: str) -> bool:
    """True (after saying so on stderr) when not one image could be used: nothing was measured."""
    if result.images:
        return False
    n = len(result.problems)
    print(
        f"tfcompare {command}: error: none of the {n} image(s) could be used (see the messages "
        "above): nothing measured",
        file=sys.stderr,
    )
    return True


def check_in_terminal(backends, *, quiet: bool = False):
    """Check every backend before the run (see ``runner.preflight``); problems go to stderr."""
    from tfcompare.runner.preflight import check_backends

    if any(b.is_k8s for b in backends) and not quiet:
        # the Kubernetes client loads now (about a second), only when a k8s backend is used
        print("connecting to the cluster…", file=sys.stderr, flush=True)
    checks = check_backends(
        backends,
        on_wait=lambda spec, text: print(
            f"backend {spec.name}: {text}", file=sys.stderr, flush=True
        ),
    )
    for c in checks:
        if c.problem and not c.mistake:
            print(f"backend {one_line(c.spec.name)}: {one_line(c.problem)}", file=sys.stderr)
    return checks


def run(args: argparse.Namespace) -> int:
    from tfcompare.runner.preflight import reuse
    from tfcompare.runner.run_formats import summary_table

    check_stdout_outputs(args)
    settings = settings_from_args(args)
    backends = backends_from_args(args, settings)
    images = collect_images(args.images)
    try:
        checks = check_in_terminal(backends, quiet=args.quiet)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    mistakes = [c for c in checks if c.mistake]
    if mistakes or not any(c.usable for c in checks):
        for c in checks:
            if c.connection is not None:
                c.connection.close()
        if mistakes:
            raise usage_error("; ".join(f"backend {c.spec.name}: {c.problem}" for c in mistakes))
        print("tfcompare run: error: no backend can be reached: nothing measured", file=sys.stderr)
        return 1
    try:
        result = measure_in_terminal(
            backends, settings, images, quiet=args.quiet, connect=reuse(checks)
        )
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130

    print(summary_table(result), file=table_stream(args))
    never = [
        b.name
        for b in result.backends
        if not any(r.ok for r in result.requests if r.backend == b.name)
    ]
    if never and result.images:
        print(
            f"tfcompare run: backend(s) {', '.join(map(one_line, never))} never answered "
            "successfully",
            file=sys.stderr,
        )
    unusable = no_usable_image(result, "run")
    written = write_outputs(result, "run", json=args.json, csv=args.csv, save=args.save)
    if unusable:
        return 2
    return written or (1 if never and result.images else 0)
