"""One loaded model version and TF Serving's request semantics around it.

Errors are raised as :class:`ServingFault` carrying the gRPC status code TF Serving would use, so
the gRPC and REST front ends report the same thing (REST maps the code to an HTTP status).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from tfcompare.localserve import metrics
from tfcompare.localserve.model_names import model_name_problem
from tfcompare.localserve.tensors import shape_problem, to_array
from tfcompare.models import versions

DEFAULT_SIGNATURE = "serving_default"
MISSING_VARIABLE = (
    "\n(the SavedModel's graph reads a variable that loading it does not restore; TF Serving fails "
    "the same way. A Keras 3 model saved inside a tf.Module with tf.saved_model.save does this: "
    "export it with model.export() or keras.export.ExportArchive instead)"
)
# ModelVersionStatus.State values (tensorflow_serving/apis/get_model_status.proto)
START, LOADING, AVAILABLE, UNLOADING, END = 10, 20, 30, 40, 50


class ServingFault(Exception):
    """A request TF Serving would refuse: gRPC status code + message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_requested_name(name: str) -> None:
    """INVALID_ARGUMENT for a requested model name the server would never serve (see
    ``tfcompare.localserve.model_names``)."""
    problem = model_name_problem(name)
    if problem is not None:
        raise ServingFault(grpc.StatusCode.INVALID_ARGUMENT, problem)


def _status_code(error_code: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == error_code:
            return code
    return grpc.StatusCode.UNKNOWN


@dataclass
class Servable:
    """The newest version under a model base path, loaded and warmed up."""

    name: str
    base: Path
    version: int
    signature_defs: dict[str, meta_graph_pb2.SignatureDef]
    functions: Mapping[str, object]
    labels: dict[str, int] = field(default_factory=dict)
    state: int = START
    batcher: object = None  # a localserve.batching.Batcher when batching is on
    batched: frozenset[str] = frozenset()  # signatures whose inputs can be batched
    _loaded: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, name: str, base: Path, labels: dict[str, int] | None = None) -> Servable:
        found = versions(base)
        if not found:
            raise ServingFault(
                grpc.StatusCode.NOT_FOUND,
                f"No versions of servable {name} found under base path {base}",
            )
        version = found[-1]
        path = base / str(version)
        _read_meta_graph(path)  # a clear NOT_FOUND when there is no 'serve' graph
        session, meta = _load_session(path)
        sigs = {k: v for k, v in meta.signature_def.items()}
        functions = {k: _Signature(session, v) for k, v in sigs.items() if not k.startswith("__")}
        for label, labelled in (labels or {}).items():
            if labelled != version:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"version label {label} points at version {labelled}, "
                    f"which is not loaded (serving version {version})",
                )
        return cls(
            name, base, version, sigs, functions, dict(labels or {}), LOADING, _loaded=session
        )

    # ----------------------------------------------------------------------------- lookups

    def check_spec(self, name: str, version: int | None, label: str | None) -> int:
        """Resolve a ModelSpec to the served version, or raise like TF Serving's ServerCore."""
        check_requested_name(name)
        if label:
            if label not in self.labels:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Unrecognized servable version label: {label}",
                )
            version = self.labels[label]
        if name != self.name or self.state != AVAILABLE:
            what = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise ServingFault(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {what}")
        if version is not None and version != self.version:
            raise ServingFault(
                grpc.StatusCode.NOT_FOUND,
                f"Servable not found for request: Specific({name}, {version})",
            )
        return self.version

    def signature(self, signature_name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
        name = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(name)
        if sig is None or name not in self.functions:
            raise ServingFault(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'Serving signature name: "{name}" not found in signature def',
            )
        return name, sig

    # ----------------------------------------------------------------------------- predict

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, tensor_pb2.TensorProto],
        output_filter: Iterable[str] = (),
        timeout_ms: int | None = None,
    ) -> tuple[str, dict[str, np.ndarray]]:
        """Run the signature; returns (signature name, output arrays) or raises ServingFault.

        ``timeout_ms`` bounds the model run, as TF Serving bounds its session run by the gRPC
        deadline (``--enforce_session_run_timeout``); a batched run is not cut short."""
        name, sig = self.signature(signature_name)
        expected = set(sig.inputs)
        sent = set(inputs)
        if sent != expected:
            extra, missing = sorted(sent - expected), sorted(expected - sent)
            if extra and not missing and len(sent) == len(expected):
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"input tensor alias not found in signature: {extra[0]}. "
                    f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}.",
                )
            raise ServingFault(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}})."
                f" Sent extra: {{{','.join(extra)}}}. Missing but required: "
                f"{{{','.join(missing)}}}.",
            )
        wanted = list(dict.fromkeys(output_filter))
        for key in wanted:
            if key not in sig.outputs:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"output tensor alias not found in signature: {key} Outputs "
                    f"expected to be in the set {{{','.join(sorted(sig.outputs))}}}.",
                )
        kwargs = {}
        for key, proto in inputs.items():
            want = sig.inputs[key].dtype
            if proto.dtype != want:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Expects arg[0] to be {_dtype_name(want)} but "
                    f"{_dtype_name(proto.dtype)} is provided",
                )
            problem = shape_problem(proto)
            if problem:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {key}: {problem}"
                )
            try:
                kwargs[key] = to_array(proto)
            except (ValueError, TypeError, tf.errors.OpError) as exc:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT, f"bad tensor for input {key}: {exc}"
                ) from exc
        outputs = self.run(name, kwargs, timeout_ms)
        if wanted:
            outputs = {k: outputs[k] for k in wanted}
        return name, outputs

    def run(
        self, name: str, kwargs: dict[str, np.ndarray], timeout_ms: int | None = None
    ) -> dict[str, np.ndarray]:
        """One request's model run (through the batcher when batching is on), recorded as
        TF Serving's runtime_latency: like its session run, it includes the batch queue."""
        if self.state != AVAILABLE:  # warm-up runs are not requests
            return self.call(name, kwargs)
        start = metrics.now_us()
        if name in self.batched:
            outputs = self.batcher.call(name, kwargs)
        else:
            outputs = self.call(name, kwargs, timeout_ms)
        metrics.record_runtime(self.name, metrics.now_us() - start)
        return outputs

    def call(
        self, signature_name: str, kwargs: dict[str, np.ndarray], timeout_ms: int | None = None
    ) -> dict[str, np.ndarray]:
        """Run one signature in the model's session (see :class:`_Signature`)."""
        fn = self.functions[signature_name]
        try:
            return fn(kwargs, timeout_ms)
        except tf.errors.OpError as exc:
            message = clean_message(exc.message)
            if "Could not find variable" in message:
                message += MISSING_VARIABLE
            raise ServingFault(_status_code(exc.error_code), message) from exc
        except (ValueError, TypeError) as exc:  # shape/dtype mismatch caught by the signature
            raise ServingFault(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc

    def enable_batching(self, options, metrics) -> list[str]:
        """Batch concurrent calls of every signature whose inputs all have a variable 0th
        dimension; returns the names of the signatures that cannot be batched."""
        from tfcompare.localserve.batching import Batcher

        def variable_rows(info) -> bool:
            shape = info.tensor_shape
            return shape.unknown_rank or (len(shape.dim) > 0 and shape.dim[0].size == -1)

        usable = {
            n
            for n, sig in self.signature_defs.items()
            if n in self.functions
            and sig.inputs
            and all(variable_rows(t) for t in sig.inputs.values())
        }
        self.batcher = Batcher(options, self.call, ServingFault, metrics)
        self.batched = frozenset(usable)
        return sorted(n for n in self.functions if n not in usable and not n.startswith("__"))

    # ----------------------------------------------------------------------------- warm-up

    def warm_up(self) -> int:
        """Run the model's warm-up records (assets.extra/tf_serving_warmup_requests) or one
        generated request per image-bytes signature, then mark the version AVAILABLE."""
        count = 0
        records = self.base / str(self.version) / "assets.extra" / "tf_serving_warmup_requests"
        if records.is_file():
            count = self._replay(records)
        if count == 0:
            sample = _blank_png()
            for name, sig in self.signature_defs.items():
                if name not in self.functions or name.startswith("__"):
                    continue
                if all(t.dtype == types_pb2.DT_STRING for t in sig.inputs.values()):
                    self.call(name, {k: np.array([sample], dtype=object) for k in sig.inputs})
                    count += 1
        self.state = AVAILABLE
        return count

    def _replay(self, records: Path) -> int:
        from tensorflow_serving.apis import prediction_log_pb2

        count = 0
        for raw in tf.compat.v1.io.tf_record_iterator(str(records)):
            log = prediction_log_pb2.PredictionLog.FromString(raw)
            if log.WhichOneof("log_type") != "predict_log":
                continue
            request = log.predict_log.request
            self.predict(request.model_spec.signature_name, request.inputs, request.output_filter)
            count += 1
        return count


def _blank_png() -> bytes:
    """An 8 × 8 black PNG, the generated warm-up request's image."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    return buffer.getvalue()


def clean_message(message: str) -> str:
    """TensorFlow's error text without the Python-side decoration, close to TF Serving's wording."""
    skip = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "  File ")
    lines = [line for line in message.splitlines() if line.strip() and not line.startswith(skip)]
    return "\n".join(lines) or message


def _dtype_name(dtype: int) -> str:
    try:
        return tf.dtypes.as_dtype(dtype).name
    except TypeError:
        return types_pb2.DataType.Name(dtype)


def _load_session(path: Path) -> tuple[tf.compat.v1.Session, meta_graph_pb2.MetaGraphDef]:
    """The version's 'serve' graph in a Session of its own, as TF Serving loads a SavedModel
    (its SavedModelBundle): variables restored and the init op run, with the process's thread
    counts (``tf.config.threading``, set before the first op) in the session's config."""
    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=tf.config.threading.get_intra_op_parallelism_threads(),
        inter_op_parallelism_threads=tf.config.threading.get_inter_op_parallelism_threads(),
        allow_soft_placement=True,
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        with graph.as_default():
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
    except BaseException:
        session.close()
        raise
    return session, meta


class _Signature:
    """One signature run the way TF Serving's Predict runs it: its input tensors fed and all its
    output tensors fetched by name in one ``Session.run`` on the model's graph.

    The session runs the whole graph in one executor, the model's functions inlined. For
    EfficientNet-Lite0 on a CPU that is 3–8 % quicker than calling the signature as a
    TensorFlow 2 function (``tf.saved_model.load(...).signatures[...]``), and it is the time TF
    Serving itself would spend. The fetch is prepared once (``Session.make_callable``).
    """

    def __init__(self, session: tf.compat.v1.Session, sig: meta_graph_pb2.SignatureDef) -> None:
        self.inputs = sorted(sig.inputs)
        self.outputs = sorted(sig.outputs)
        self._run = session.make_callable(
            [sig.outputs[k].name for k in self.outputs],
            feed_list=[sig.inputs[k].name for k in self.inputs],
            accept_options=True,
        )

    def __call__(
        self, kwargs: Mapping[str, np.ndarray], timeout_ms: int | None = None
    ) -> dict[str, np.ndarray]:
        """The outputs; a run still going after ``timeout_ms`` is cancelled (DEADLINE_EXCEEDED)."""
        missing = [k for k in self.inputs if k not in kwargs]
        if missing or len(kwargs) != len(self.inputs):
            raise TypeError(f"the signature takes inputs {self.inputs}, got {sorted(kwargs)}")
        feeds = [kwargs[k] for k in self.inputs]
        if timeout_ms is None:
            values = self._run(*feeds)
        else:
            values = self._run(*feeds, options=tf.compat.v1.RunOptions(timeout_in_ms=timeout_ms))
        return dict(zip(self.outputs, values))


def _read_meta_graph(path: Path) -> meta_graph_pb2.MetaGraphDef:
    pb = path / "saved_model.pb"
    model = saved_model_pb2.SavedModel()
    if pb.is_file():
        model.ParseFromString(pb.read_bytes())
    else:
        from google.protobuf import text_format

        text_format.Parse((path / "saved_model.pbtxt").read_text(), model)
    for meta in model.meta_graphs:
        if "serve" in meta.meta_info_def.tags:
            return meta
    raise ServingFault(
        grpc.StatusCode.NOT_FOUND, f"SavedModel at {path} has no MetaGraphDef with the 'serve' tag"
    )
