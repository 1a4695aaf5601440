"""``tfcompare serve``: a local TF-Serving-compatible backend (gRPC, optional REST)."""

from __future__ import annotations

import argparse
import sys


def _label(text: str) -> tuple[str, int]:
    label, sep, version = text.partition("=")
    if not sep or not label or not version.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=VERSION, got {text!r}")
    return label, int(version)


def _header(text: str) -> tuple[str, str]:
    from tfcompare.targets import TargetError, parse_header

    try:
        return parse_header(text)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a SavedModel like tensorflow_model_server (gRPC + optional REST)",
        description=(
            "Serve the newest version under a TF Serving model base path (MODEL/<version>/"
            "saved_model.pb), or a registered model name (tiny, inception-v3, ...) built on first "
            "use,\nspeaking TF Serving's gRPC API (and REST with --rest-port). Prints "
            "'READY grpc=HOST:PORT\nrest=HOST:PORT' on stdout once it answers requests; "
            "SIGTERM/Ctrl-C stops it."
        ),
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="model base path (MODEL/1/saved_model.pb ...) or registered model name",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8500,
        metavar="PORT",
        help="gRPC port (default 8500, TF Serving's; 0 = any free port)",
    )
    parser.add_argument(
        "--rest-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="also serve TF Serving's REST API and its Prometheus metrics (/monitoring/prometheus/metrics) on this port (0 = any free port)",
    )
    parser.add_argument(
        "--model-name",
        default=None,
        metavar="NAME",
        help="name clients use in MODEL of a backend spec (default: the model "
        "directory's name, or the registered model's name)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="TensorFlow intra- and inter-op threads (stand-in for an N-CPU pod; "
        "default: all cores)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADDR", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--tensor-content",
        action="store_true",
        help="pack numeric outputs in tensor_content, like "
        "--enable_serialization_as_tensor_content",
    )
    parser.add_argument(
        "--version-label",
        action="append",
        type=_label,
        default=[],
        metavar="LABEL=VERSION",
        help="version label clients may ask for",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the parent process dies (no orphan servers)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="serve gRPC and REST over TLS with this certificate chain (with --tls-key)",
    )
    parser.add_argument("--tls-key", metavar="PEM", help="private key for --tls-cert")
    parser.add_argument(
        "--require-header",
        type=_header,
        default=None,
        metavar="NAME:VALUE",
        help="refuse gRPC calls without this metadata (UNAUTHENTICATED) and REST "
        "requests without this header (401), like an authenticating gateway "
        "in front of TF Serving",
    )
    parser.add_argument(
        "--rest-max-body-mb",
        type=_positive,
        default=256,
        metavar="MB",
        help="largest REST request body accepted (larger: HTTP 413; default 256)",
    )
    parser.add_argument(
        "--rest-read-timeout",
        type=_positive,
        default=30,
        metavar="SECONDS",
        help="time a REST client has to send a request's head, and the longest "
        "pause while sending its body (default 30)",
    )
    parser.add_argument(
        "--rest-api-timeout-ms",
        type=_positive,
        default=30000,
        metavar="MS",
        help="longest model run for a REST request, as TF Serving's "
        "--rest_api_timeout_in_ms (longer: cancelled, HTTP 504; default "
        "30000; gRPC calls are bounded by their own deadline)",
    )
    parser.add_argument(
        "--rest-max-connections",
        type=int,
        default=256,
        metavar="N",
        help="REST connections open at once; more are answered 503 (default 256)",
    )
    parser.add_argument(
        "--max-in-flight-mb",
        type=_positive,
        default=1024,
        metavar="MB",
        help="request data worked on at once: gRPC Predict requests beyond it are answered "
        "RESOURCE_EXHAUSTED, REST bodies beyond it 503 (one request larger than it still runs "
        "alone; default 1024)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up messages (hidden by default)",
    )
    parser.add_argument(
        "--log-request-times",
        metavar="FILE",
        help="test mode: append the server's own time for every successful request "
        "to FILE (one JSON line each), to check the times read from "
        "/monitoring/prometheus/metrics (served on the REST port)",
    )
    parser.add_argument(
        "--enable-batching",
        action="store_true",
        help="batch concurrent Predict calls into one model call, like "
        "TF Serving's --enable_batching",
    )
    parser.add_argument(
        "--batching-parameters",
        metavar="FILE",
        help="TF Serving's batching parameters text file (max_batch_size, "
        "batch_timeout_micros, max_enqueued_batches, num_batch_threads, "
        "allowed_batch_sizes, pad_variable_length_inputs); implies "
        "--enable-batching. Left out: TF Serving's defaults, with "
        "num_batch_threads = --threads (else all cores)",
    )
    parser.epilog = (
        "examples:\n"
        "  tfcompare serve efficientnet-lite0 --port 8500 --rest-port 8501 --threads 1\n"
        "  tfcompare run photo.jpg --backend one=127.0.0.1:8500/efficientnet-lite0\n"
        "  tfcompare serve /models/resnet --model-name resnet --port 0 --rest-port 0\n\n"
        "Exit status 0 when stopped by Ctrl-C or SIGTERM, 1 when the model cannot be found or "
        "loaded or a port\ncannot be bound, 2 for unusable arguments."
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        print("tfcompare serve: --threads must be at least 1", file=sys.stderr)
        return 2
    if args.rest_max_connections < 1:
        print("tfcompare serve: --rest-max-connections must be at least 1", file=sys.stderr)
        return 2
    from tfcompare.localserve.main import ServeOptions, serve

    return serve(
        ServeOptions(
            model=args.model,
            port=args.port,
            rest_port=args.rest_port,
            model_name=args.model_name,
            threads=args.threads,
            host=args.host,
            tensor_content=args.tensor_content,
            exit_with_parent=args.exit_with_parent,
            version_labels=dict(args.version_label),
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            require_header=args.require_header,
            rest_max_body_mb=args.rest_max_body_mb,
            rest_read_timeout=args.rest_read_timeout,
            rest_max_connections=args.rest_max_connections,
            max_in_flight_mb=args.max_in_flight_mb,
            verbose=args.verbose,
            rest_api_timeout_ms=max(1, int(args.rest_api_timeout_ms)),
            request_log=args.log_request_times,
            enable_batching=args.enable_batching or bool(args.batching_parameters),
            batching_parameters=args.batching_parameters,
        )
    )
