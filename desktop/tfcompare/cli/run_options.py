"""Arguments shared by the commands that run comparisons (run, gui, demo)."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from pathlib import Path

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import (
    DEFAULT_FORMATS,
    DEFAULT_SIZES,
    QUALITY_RANGE,
    SUPPORTED_FORMATS,
    RunSettings,
    SettingsError,
    parse_formats,
    parse_sizes,
)


class UsageError(Exception):
    """Arguments that cannot be used; ``main`` prints the message and exits with status 2."""


def usage_error(message: str) -> UsageError:
    return UsageError(message)


def add_backend_arguments(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument(
        "--backend",
        "-b",
        action="append",
        default=[],
        metavar="SPEC",
        required=required,
        help=(
            "a backend to compare, repeatable: NAME=HOST:PORT[/MODEL[:SIGNATURE]] (TF Serving), "
            "NAME=v2://HOST:PORT/MODEL[:VERSION] (Open Inference Protocol gRPC: Triton, MLServer, "
            "KServe), NAME=v2+http://… (its REST API), NAME=kserve+http://… (KServe v1) or "
            "NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL[:SIGNATURE]]; MODEL defaults to "
            "'default'; the signature and input are discovered from the model's metadata. "
            "Per-backend options follow as ,KEY=VALUE: protocol=, metrics=URL|off, "
            "metrics-header=NAME:VALUE, preprocess=PRESET, crop=FRACTION, labels=FILE, host=HOST, "
            "input=bytes|DTYPE:HxWxC[:nchw] (what the model takes, for v2/kserve+http servers "
            "whose metadata does not say: KServe v1, KServe Python models)"
        ),
    )
    p.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="[NAME=]URL|off",
        help=(
            "where the servers' Prometheus metrics are read (server time per variant), "
            "repeatable: URL for every backend, NAME=URL for one, 'off' for none. By default they "
            "are found where each server publishes them: TF Serving on the REST port (8501 beside "
            "gRPC 8500, or the REST backend's own port; the service's http port for k8s:// "
            "backends) at /monitoring/prometheus/metrics; MLServer and Triton on the port after "
            "gRPC (8082, 8002) or two after HTTP; KServe's model server on its HTTP port; all at "
            "/metrics"
        ),
    )
    p.add_argument(
        "--rest",
        action="store_true",
        help="talk to the backends over TF Serving's REST API (port 8501) instead of gRPC",
    )
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="extra request metadata for every backend, e.g. an auth header (never saved)",
    )
    p.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="CA certificate (PEM): talk TLS to the backends (gRPC and REST)",
    )
    p.add_argument(
        "--metrics-header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help=(
            "a header for the metrics pages only (never saved). A backend's own --header goes to "
            "its metrics page only when that page is the backend's own origin over TLS"
        ),
    )
    p.add_argument(
        "--host-header",
        metavar="HOST",
        help="the Host header sent to the backends (ingress routing, e.g. Knative/Istio URLs)",
    )
    add_model_input_arguments(p)


def add_model_input_arguments(p: argparse.ArgumentParser) -> None:
    """How images become the tensor a tensor-input model takes, and its class names."""
    from tfcompare.imaging.preprocess import DESCRIPTIONS, preset_names

    presets = "; ".join(f"{k}: {DESCRIPTIONS[k]}" for k in preset_names())
    p.add_argument(
        "--preprocess",
        metavar="PRESET",
        choices=preset_names(),
        help=(
            "value scaling for models that take an image tensor (a backend's ,preprocess= wins): "
            f"{presets}. Default: auto for float inputs, raw for integer inputs"
        ),
    )
    p.add_argument(
        "--crop",
        type=float,
        metavar="FRACTION",
        help=(
            "centre crop before resizing to a tensor model's size, e.g. 0.875 (224 of 256); "
            "default: the whole image"
        ),
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help=(
            "class names for models that answer class ids or score vectors: one per line, a JSON "
            "list or a JSON {id: name} object (a backend's ,labels= wins; default: ImageNet)"
        ),
    )


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes",
        metavar="PX,PX,...",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="size boxes in pixels, comma separated (default %(default)s); the original is always sent",
    )
    p.add_argument(
        "--formats",
        metavar="FMT,FMT,...",
        default=",".join(DEFAULT_FORMATS),
        help=f"encodings, comma separated, from {','.join(SUPPORTED_FORMATS)} (default %(default)s)",
    )
    add_quality_arguments(p)
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        metavar="N",
        help="warm-up requests per variant, not counted (default %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        default=3,
        help="measured requests per variant (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="deadline per request in seconds (default %(default)s)",
    )


def add_quality_arguments(p: argparse.ArgumentParser, *, old_alias: bool = False) -> None:
    """``--jpeg-quality`` and ``--webp-quality``: one spelling in every command that encodes
    variants. ``old_alias``: ``--quality Q`` (both at once) still works, unlisted."""
    p.add_argument(
        "--jpeg-quality",
        type=int,
        metavar="Q",
        default=90,
        help=f"JPEG quality {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]} (default %(default)s)",
    )
    p.add_argument(
        "--webp-quality",
        type=int,
        metavar="Q",
        default=90,
        help=f"WebP quality {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]} (default %(default)s)",
    )
    if old_alias:
        p.add_argument("--quality", type=int, default=None, help=argparse.SUPPRESS)


def qualities_from_args(args: argparse.Namespace) -> tuple[int, int]:
    """(JPEG, WebP) quality; the old ``--quality`` sets both. UsageError outside the range."""
    old = getattr(args, "quality", None)
    jpeg = old if old is not None else args.jpeg_quality
    webp = old if old is not None else args.webp_quality
    low, high = QUALITY_RANGE
    for option, value in (("--jpeg-quality", jpeg), ("--webp-quality", webp)):
        if not low <= value <= high:
            raise usage_error(f"{option} must be between {low} and {high}, not {value}")
    return jpeg, webp


def add_turns_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--one-at-a-time",
        action="store_true",
        help=(
            "backends take turns, one image variant at a time, instead of being measured at once "
            "(use when the backends share the same machine's cores)"
        ),
    )


OPTION = {"timeout_s": "--timeout"}  # RunSettings fields whose option is not --field-name


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    """The run settings the options give; RunSettings' own messages, each naming its option."""
    try:
        return RunSettings(
            sizes=parse_sizes(args.sizes),
            formats=parse_formats(args.formats),
            jpeg_quality=args.jpeg_quality,
            webp_quality=args.webp_quality,
            warmup=args.warmup,
            repeats=args.repeats,
            timeout_s=args.timeout,
            concurrent=not getattr(args, "one_at_a_time", False),
        )
    except SettingsError as exc:
        options = exc.messages(lambda field, _: OPTION.get(field, "--" + field.replace("_", "-")))
        raise usage_error("; ".join(options)) from None


def backends_from_args(args: argparse.Namespace, settings: RunSettings) -> list[BackendSpec]:
    from tfcompare.serving.backend_spec import check_crop, check_host
    from tfcompare.serving.protocols import TF_SERVING_GRPC, TF_SERVING_REST
    from tfcompare.targets import TargetError, parse_header

    try:
        headers = [parse_header(h) for h in args.header]
    except TargetError as exc:
        raise usage_error(f"--header: {exc}") from None
    try:
        metrics_headers = [parse_header(h) for h in getattr(args, "metrics_header", [])]
    except TargetError as exc:
        raise usage_error(f"--metrics-header: {exc}") from None
    try:
        crop = check_crop(getattr(args, "crop", None))
    except ValueError as exc:
        raise usage_error(f"--crop: {exc}") from None
    try:
        host = check_host(getattr(args, "host_header", None))
    except ValueError as exc:
        raise usage_error(f"--host-header: {exc}") from None
    specs = []
    contexts = None
    if any("k8s://" in text for text in args.backend):
        from tfcompare.cluster.kube import context_names

        contexts = context_names()  # k8s://A/B/C is CONTEXT/NAMESPACE/SERVICE when A is one
    for text in args.backend:
        try:
            spec = BackendSpec.parse(
                text,
                protocol=(TF_SERVING_REST if args.rest else TF_SERVING_GRPC).name,
                timeout_s=settings.timeout_s,
                contexts=contexts,
            )
        except ValueError as exc:
            raise usage_error(str(exc)) from None
        from dataclasses import replace

        specs.append(
            replace(
                spec,
                headers=tuple(headers),
                tls_ca=args.tls_ca,
                metrics_headers=spec.metrics_headers or tuple(metrics_headers),
                host_header=spec.host_header or host,
                preprocess=spec.preprocess or getattr(args, "preprocess", None),
                crop=spec.crop if spec.crop is not None else crop,
                labels=spec.labels or getattr(args, "labels", None),
            )
        )
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise usage_error(f"backend names must be unique: {', '.join(dupes)}")
    from tfcompare.serving.labels import LabelsError, load_labels

    for spec in specs:
        if spec.labels:
            try:
                load_labels(spec.labels)
            except LabelsError as exc:
                raise usage_error(f"backend {spec.name}: {exc}") from None
    return apply_metrics_args(specs, getattr(args, "metrics", []))


def apply_metrics_args(specs: list[BackendSpec], values: list[str]) -> list[BackendSpec]:
    """``--metrics`` values onto the specs: ``NAME=URL|off`` for one backend, ``URL|off`` for
    every backend; a metrics source given in the backend spec itself wins."""
    from dataclasses import replace

    from tfcompare.serving.backend_spec import check_metrics_source

    everyone: str | None = None
    per_backend: dict[str, str] = {}
    names = {s.name for s in specs}
    for value in values:
        name, sep, source = value.partition("=")
        if sep and name in names and "://" not in name:
            target = name
        elif sep and "://" not in name:
            raise usage_error(f"--metrics {value!r}: there is no backend named {name!r}")
        else:
            target, source = None, value
        try:
            source = check_metrics_source(source)
        except ValueError as exc:
            raise usage_error(f"--metrics: {exc}") from None
        if target is None:
            everyone = source
        else:
            per_backend[target] = source
    return [
        s if s.metrics else replace(s, metrics=per_backend.get(s.name, everyone)) for s in specs
    ]


STDOUT = "-"  # --json - / --csv -: the output goes to standard output, the table to stderr


def output_option_help(what: str) -> str:
    return f"{what} ('-': to standard output; the table then goes to stderr)"


def check_stdout_outputs(args, options=("json", "csv")) -> None:
    """Refuse two of these outputs to standard output at once (raises UsageError)."""
    both = [f"--{o.replace('_', '-')}" for o in options if getattr(args, o, None) == STDOUT]
    if len(both) > 1:
        many = "both" if len(both) == 2 else "all"
        names = f"{', '.join(both[:-1])} and {both[-1]}"
        raise usage_error(f"{names} cannot {many} be '-' (standard output)")


def table_stream(args):
    """Where the command's table goes: stderr when an output goes to standard output."""
    import sys

    to_stdout = STDOUT in (getattr(args, "json", None), getattr(args, "csv", None))
    return sys.stderr if to_stdout else sys.stdout


def write_text_outputs(outputs, command: str) -> int:
    """Write each ``(path, make_text)`` whose path is given ('-': standard output); 0, or 1 with
    a message on failure."""
    import sys

    for path, make_text in outputs:
        if not path:
            continue
        if path == STDOUT:
            from tfcompare.terminal import data_stdout

            out = data_stdout()
            out.write(make_text())
            out.flush()
            continue
        try:
            Path(path).write_text(make_text(), encoding="utf-8", newline="")
        except OSError as exc:
            print(
                f"tfcompare {command}: error: cannot write {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        print(f"wrote {path}", file=sys.stderr)
    return 0


def write_outputs(
    result,
    command: str,
    *,
    json: str | None = None,
    csv: str | None = None,
    save: str | None = None,
) -> int:
    """Write ``--json``/``--csv``/``--save`` outputs of a run or session; 0, or 1 with a message
    on failure."""
    import sys

    from tfcompare.runner.run_formats import csv_text, run_json

    failed = write_text_outputs(
        ((json, lambda: run_json(result)), (csv, lambda: csv_text(result))), command
    )
    if failed:
        return failed
    if save:
        from tfcompare.session import SessionError, save_session

        try:
            save_session(save, result)
        except SessionError as exc:
            print(f"tfcompare {command}: error: {exc}", file=sys.stderr)
            return 1
        print(f"saved session {save}", file=sys.stderr)
    return 0


def in_worker_thread(
    work: Callable[[threading.Event], object], *, name: str, grace_s: float = 30.0
):
    """Run ``work(cancel)`` in a thread so that Ctrl-C or a signal turned into SystemExit reaches
    the main thread at once; the work is then cancelled (given ``grace_s`` to wind down) and the
    exception re-raised. Returns what ``work`` returned, or raises what it raised."""
    cancel = threading.Event()
    finished = threading.Event()
    results: list[object] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(work(cancel))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
        finally:
            finished.set()

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    # An Event, not Thread.join: a KeyboardInterrupt that lands inside join() can leave the
    # thread marked as finished while it still runs (CPython 3.11), and the work's clean-up
    # (closing connections, deleting a Kubernetes Job) would then race the interpreter's exit.
    try:
        while not finished.wait(0.2):
            pass
    except BaseException:
        cancel.set()
        finished.wait(grace_s)
        raise
    if errors:
        raise errors[0]
    return results[0]
