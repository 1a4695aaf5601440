"""Process entry for ``tfcompare serve``: load, warm up, listen, print READY, stop on a signal.

Parents learn the chosen ports from the single stdout line
``READY grpc=HOST:PORT rest=HOST:PORT`` (``rest=-`` without REST); logs go to stderr.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn


@dataclass
class ServeOptions:
    model: str
    port: int = 8500
    rest_port: int | None = None
    model_name: str | None = None
    threads: int | None = None
    host: str = "127.0.0.1"
    tensor_content: bool = False
    exit_with_parent: bool = False
    version_labels: dict[str, int] = field(default_factory=dict)
    workers: int = 16
    tls_cert: str | None = None
    tls_key: str | None = None
    require_header: tuple[str, str] | None = None
    rest_max_body_mb: float = 256
    rest_read_timeout: float = 30
    rest_max_connections: int = 256
    rest_api_timeout_ms: int = 30000  # TF Serving's --rest_api_timeout_in_ms
    max_in_flight_mb: float = 1024  # request data worked on at once (gRPC), buffered (REST)
    verbose: bool = False
    request_log: str | None = None  # test mode: the server's own time of every request
    enable_batching: bool = False
    batching_parameters: str | None = None  # TF Serving's batching parameters text file


def _log(message: str) -> None:
    print(f"tfcompare serve: {message}", file=sys.stderr, flush=True)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _watch_parent(stop: threading.Event) -> None:
    """Stop when the parent process goes away (re-parented to init or a subreaper).

    A polling thread rather than PR_SET_PDEATHSIG: the latter fires when the *thread* that forked
    us exits, which kills servers started from short-lived worker threads by mistake.
    """
    parent = os.getppid()

    def watch() -> None:
        while not stop.is_set():
            if os.getppid() != parent:
                _log("parent process exited; shutting down")
                stop.set()
                return
            time.sleep(0.2)

    if parent <= 1:
        stop.set()
        return
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _stale_build_hint(base: Path, message: str) -> str:
    """For a model tfcompare built itself with an earlier release whose export TF Serving could
    not run: how to have it built again."""
    from tfcompare import paths
    from tfcompare.localserve.servable import MISSING_VARIABLE

    if MISSING_VARIABLE not in message or base.resolve().parent != paths.models_dir().resolve():
        return ""
    return (
        f"\n{base.name} was built by an earlier tfcompare: remove {base} and it is built "
        "again on the next start"
    )


def _start(options: ServeOptions, base: Path | None) -> tuple | None:
    """Import TensorFlow, load the model, listen and warm up: (gRPC server, REST server or None,
    READY line), or None after logging why not."""
    import tensorflow as tf

    from tfcompare.localserve.quiet import quiet_python_logs

    if not options.verbose:
        quiet_python_logs()
    if options.threads:
        # Must happen before the first op creates TensorFlow's thread pools.
        tf.config.threading.set_intra_op_parallelism_threads(options.threads)
        tf.config.threading.set_inter_op_parallelism_threads(options.threads)

    from tfcompare.localserve.grpc_service import make_server
    from tfcompare.localserve.http_server import RestLimits, start_rest, tls_context
    from tfcompare.localserve.rest import RestApi
    from tfcompare.localserve.servable import Servable, ServingFault
    from tfcompare.models import ModelError, resolve_model

    if base is None:
        try:
            # a registered name, built once, in a process of its own: the build runs eager ops,
            # whose thread pools this process must not start beside its session's
            base = resolve_model(options.model, in_process=False)
        except ModelError as exc:
            _log(str(exc))
            return None
    name = options.model_name or Path(base).resolve().name
    from tfcompare.localserve.model_names import model_name_problem

    problem = model_name_problem(name)
    if problem is not None:  # a name from the model's folder
        _log(f"cannot serve under the folder's name: {problem} (give one with --model-name)")
        return None
    if options.request_log:
        from tfcompare.localserve.metrics import enable_request_log

        try:
            enable_request_log(options.request_log)
        except OSError as exc:
            _log(f"cannot write the request log {options.request_log}: {exc.strerror or exc}")
            return None
    started = time.perf_counter()
    try:
        servable = Servable.load(name, Path(base), options.version_labels)
    except ServingFault as fault:
        _log(fault.message)
        return None
    except Exception as exc:  # corrupt/incompatible SavedModel: TF and protobuf raise many types
        _log(f"cannot load the SavedModel under {base}: {type(exc).__name__}: {exc}")
        return None
    if options.enable_batching and not _start_batching(servable, options):
        return None
    tls = rest_tls = None
    if options.tls_cert or options.tls_key:
        if not (options.tls_cert and options.tls_key):
            _log("--tls-key and --tls-cert go together: give both or neither")
            return None
        try:
            tls = (Path(options.tls_key).read_bytes(), Path(options.tls_cert).read_bytes())
            rest_tls = tls_context(options.tls_cert, options.tls_key)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            _log(f"cannot read the TLS key/certificate: {exc}")
            return None
    try:
        server, grpc_port = make_server(
            servable,
            options.host,
            options.port,
            tensor_content=options.tensor_content,
            workers=options.workers,
            tls=tls,
            require_header=options.require_header,
            in_flight_bytes=int(options.max_in_flight_mb * 2**20),
        )
    except OSError as exc:
        _log(str(exc))
        return None
    server.start()  # GetModelStatus answers LOADING until warm-up is done
    try:
        count = servable.warm_up()
    except ServingFault as fault:
        _log(f"warm-up failed: {fault.message}{_stale_build_hint(Path(base), fault.message)}")
        server.stop(0)
        return None
    for note in servable.warmup_notes:
        _log(f"warm-up: {note}")
    rest = None
    rest_text = "-"
    if options.rest_port is not None:
        limits = RestLimits(
            max_body=int(options.rest_max_body_mb * 2**20),
            read_timeout=options.rest_read_timeout,
            max_connections=options.rest_max_connections,
            buffered_bodies=int(options.max_in_flight_mb * 2**20),
        )
        try:
            api = RestApi(servable, timeout_ms=options.rest_api_timeout_ms)
            rest = start_rest(
                api,
                options.host,
                options.rest_port,
                workers=options.workers,
                limits=limits,
                tls=rest_tls,
                require_header=options.require_header,
            )
        except OSError as exc:
            _log(str(exc))
            server.stop(0)
            return None
        rest_text = _address(options.host, rest.port)
    _log(
        f"serving {name} version {servable.version} from {base} "
        f"(loaded and warmed up with {count} request(s) in {time.perf_counter() - started:.1f} s, "
        f"threads={options.threads or 'default'})"
    )
    return server, rest, f"READY grpc={_address(options.host, grpc_port)} rest={rest_text}"


def _start_batching(servable, options: ServeOptions) -> bool:
    from tfcompare.localserve import batching

    text = ""
    if options.batching_parameters:
        try:
            text = Path(options.batching_parameters).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            _log(f"cannot read the batching parameters file {options.batching_parameters}: {exc}")
            return False
    try:
        # TF Serving defaults num_batch_threads to the machine's cores; --threads stands for the
        # pod's CPUs
        cores = options.threads or os.cpu_count() or 1
        params = batching.parse_batching_parameters(text, cores=cores)
    except batching.BatchingConfigError as exc:
        _log(f"{options.batching_parameters}: {exc}")
        return False
    unbatched = servable.enable_batching(params, batching.BatchingMetrics(batching_registry()))
    _log(
        f"batching on: max_batch_size={params.max_batch_size} "
        f"batch_timeout_micros={params.batch_timeout_micros} "
        f"max_enqueued_batches={params.max_enqueued_batches} "
        f"num_batch_threads={params.num_batch_threads}"
        + (f" (not batched, fixed 0th dimension: {', '.join(unbatched)})" if unbatched else "")
    )
    return True


def batching_registry():
    """The server's metrics registry (shared with the request metrics)."""
    from tfcompare.localserve.metrics import REGISTRY

    return REGISTRY


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit, as servers do (nginx's
    worker_rlimit_nofile, Go's runtime since 1.19): every connection holds a file descriptor,
    and a soft limit of 1024 lets a thousand idle connections shut everyone else out. Returns
    the soft limit in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            return want
        except (ValueError, OSError):
            pass
    return soft


def serve(options: ServeOptions) -> int:
    """Run the server until SIGTERM/SIGINT (or parent death); returns the exit status."""
    raise_fd_limit()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if options.exit_with_parent:
        _watch_parent(stop)

    from tfcompare.localserve.model_names import model_name_problem
    from tfcompare.models import MODELS, ModelError, resolve_model

    problem = model_name_problem(options.model_name) if options.model_name is not None else None
    if problem is not None:
        _log(f"--model-name: {problem}")
        return 1
    base: Path | None = None
    try:
        if options.model not in MODELS or Path(options.model).exists():
            base = resolve_model(options.model)  # a directory: check it before loading TensorFlow
    except ModelError as exc:
        _log(str(exc))
        return 1

    from tfcompare.localserve.quiet import filtered_stderr

    if not options.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr(not options.verbose):
        started = _start(options, base)
    if started is None:
        # A start that failed after loading TensorFlow leaves its threads and gRPC's behind; the
        # interpreter's teardown can abort under them ("FATAL: exception not rethrown").
        _leave(1)
    server, rest, ready = started
    if not stop.is_set():  # a SIGTERM or parent death during start-up: never claim READY
        print(ready, flush=True)
    while not stop.wait(0.5):
        pass
    _log("stopping")
    if rest is not None:
        rest.close()
    server.stop(grace=1).wait(2)
    _leave(0)


def _leave(status: int) -> NoReturn:
    """Exit without the interpreter's teardown (slow with TensorFlow loaded, and unsafe with its
    threads still running); nothing is left to flush but stdout and stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
