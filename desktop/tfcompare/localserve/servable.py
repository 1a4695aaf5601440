"""One loaded model version and TF Serving's request semantics around it.

Errors are raised as :class:`ServingFault` carrying the gRPC status code TF Serving would use, so
the gRPC and REST front ends report the same thing (REST maps the code to an HTTP status).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from tfcompare.localserve import metrics
from tfcompare.localserve.model_names import model_name_problem
from tfcompare.localserve.tensors import (
    NUMPY_DTYPES,
    count_only,
    dtype_string,
    shape_problem,
    to_array,
)
from tfcompare.models import versions

if TYPE_CHECKING:
    from tfcompare.localserve.batching import Batcher

# a signature's run: (inputs by alias, timeout in ms or None) → outputs by alias
SignatureRun = Callable[[Mapping[str, np.ndarray], int | None], dict[str, np.ndarray]]

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
    functions: Mapping[str, SignatureRun]
    labels: dict[str, int] = field(default_factory=dict)
    state: int = START
    batcher: Batcher | None = None  # when batching is on
    batched: frozenset[str] = frozenset()  # signatures whose inputs can be batched
    warmup_notes: list[str] = field(default_factory=list)  # generated warm-ups left out
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
        """Run the signature on request TensorProtos; returns (signature name, output arrays) or
        raises ServingFault.

        The checks and their messages are TF Serving's Predict (``PreProcessPrediction`` in
        tensorflow_serving/servables/tensorflow/predict_util.cc, which calls
        ``saved_model::GetInputValues`` in tensorflow/cc/saved_model/util.cc), in its order.
        ``timeout_ms`` bounds the model run, as TF Serving bounds its session run by the gRPC
        deadline (``--enforce_session_run_timeout``); a batched run is not cut short."""
        name, sig = self.signature(signature_name)
        _verify_inputs_size(sig, inputs)
        arrays: dict[str, np.ndarray] = {}
        unfed: dict[str, int] = {}  # inputs TensorFlow would fill, then refuse for their dtype
        for alias in sorted(sig.inputs):
            proto = inputs.get(alias)
            if proto is None:
                proto = _default_input(sig, alias, inputs)
            problem = shape_problem(proto)
            if problem and count_only(proto) and proto.dtype != sig.inputs[alias].dtype:
                # Tensor::FromProto fills a short typed field; the session then refuses the
                # dtype, which is the answer TF Serving gives
                unfed[alias] = proto.dtype
                continue
            if problem:
                # predict_util.cc / util.cc: "tensor parsing error: <alias>" (+ why, here)
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {alias}: {problem}"
                )
            try:
                arrays[alias] = to_array(proto)
            except (ValueError, TypeError, tf.errors.OpError) as exc:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {alias}: {exc}"
                ) from exc
        unused = sorted(set(inputs) - set(sig.inputs))
        if inputs and unused:  # reachable only with signature defaults (util.cc)
            raise ServingFault(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Inputs contains invalid name. Used request inputs: "
                f"{','.join(sorted(set(inputs) & set(sig.inputs)))}, request input: "
                f"{','.join(sorted(inputs))}",
            )
        if unfed:
            check_feeds(sig, {**arrays, **dict.fromkeys(unfed)}, unfed)
        return name, self._checked_run(name, sig, arrays, output_filter, timeout_ms)

    def predict_arrays(
        self,
        signature_name: str,
        arrays: Mapping[str, np.ndarray],
        output_filter: Iterable[str] = (),
        timeout_ms: int | None = None,
    ) -> tuple[str, dict[str, np.ndarray]]:
        """:meth:`predict` for inputs already parsed into arrays (the REST API, which has made
        them in the signature's dtypes): the same checks from the input count on."""
        name, sig = self.signature(signature_name)
        _verify_inputs_size(sig, arrays)
        kwargs = {}
        for alias in sorted(sig.inputs):
            if alias in arrays:
                kwargs[alias] = arrays[alias]
            else:
                proto = _default_input(sig, alias, arrays)
                kwargs[alias] = to_array(proto)
        return name, self._checked_run(name, sig, kwargs, output_filter, timeout_ms)

    def _checked_run(
        self,
        name: str,
        sig: meta_graph_pb2.SignatureDef,
        arrays: dict[str, np.ndarray],
        output_filter: Iterable[str],
        timeout_ms: int | None,
    ) -> dict[str, np.ndarray]:
        wanted: list[str] = []
        for key in output_filter:
            if key not in sig.outputs:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"output tensor alias not found in signature: {key} Outputs "
                    f"expected to be in the set {{{','.join(sorted(sig.outputs))}}}.",
                )
            if key in wanted:
                raise ServingFault(
                    grpc.StatusCode.INVALID_ARGUMENT, f"duplicate output tensor alias: {key}"
                )
            wanted.append(key)
        check_feeds(sig, arrays)
        outputs = self.run(name, arrays, timeout_ms)
        if wanted:
            outputs = {k: outputs[k] for k in wanted}
        return outputs

    def run(
        self, name: str, kwargs: dict[str, np.ndarray], timeout_ms: int | None = None
    ) -> dict[str, np.ndarray]:
        """One request's model run (through the batcher when batching is on), recorded as
        TF Serving's runtime_latency: like its session run, it includes the batch queue."""
        if self.state != AVAILABLE:  # warm-up runs are not requests
            return self.call(name, kwargs)
        start = metrics.now_us()
        if self.batcher is not None and name in self.batched:
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
        names = {
            n: {k: t.name for k, t in sig.inputs.items()} for n, sig in self.signature_defs.items()
        }
        self.batcher = Batcher(options, self.call, ServingFault, metrics, names)
        self.batched = frozenset(usable)
        return sorted(n for n in self.functions if n not in usable and not n.startswith("__"))

    # ----------------------------------------------------------------------------- warm-up

    def warm_up(self) -> int:
        """Run the model's warm-up records (assets.extra/tf_serving_warmup_requests) or one
        generated request per signature, then mark the version AVAILABLE.

        A failing record fails the load, as in TF Serving. Generated requests are tfcompare's own
        (TF Serving only replays records): an image-bytes signature gets an 8 × 8 PNG and must
        answer it; a tensor signature gets zeros of its shape (see :func:`warmup_inputs`), and one
        whose graph refuses them is left cold and named in ``warmup_notes``."""
        count = 0
        self.warmup_notes = []
        records = self.base / str(self.version) / "assets.extra" / "tf_serving_warmup_requests"
        if records.is_file():
            count = self._replay(records)
        if count == 0:
            for name, sig in self.signature_defs.items():
                if name not in self.functions or name.startswith("__"):
                    continue
                inputs = warmup_inputs(sig)
                if inputs is None:
                    self.warmup_notes.append(
                        f"{name}: no warm-up (an input of unknown rank or type)"
                    )
                    continue
                if all(t.dtype == types_pb2.DT_STRING for t in sig.inputs.values()):
                    self.call(name, inputs)
                    count += 1
                    continue
                try:
                    self.call(name, inputs)
                    count += 1
                except ServingFault as fault:
                    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in sorted(inputs.items()))
                    first = fault.message.splitlines()[0] if fault.message else ""
                    self.warmup_notes.append(f"{name}: zeros ({shapes}) refused: {first}")
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


WARMUP_IMAGE_SIDE = 224  # an unknown height/width in a generated warm-up request


def warmup_inputs(sig: meta_graph_pb2.SignatureDef) -> dict[str, np.ndarray] | None:
    """A generated warm-up request for a signature, or None when one cannot be made.

    DT_STRING inputs get an 8 × 8 PNG per element. Numeric inputs get zeros of the declared
    shape: an unknown 0th (batch) dimension is 1; in a 4-D input the unknown spatial dimensions
    are 224 (NHWC, or NCHW when only the 2nd dimension is known and small, as channels are);
    in a 3-D input whose last dimension is known the unknown ones are 224 (H, W, C); any other
    unknown dimension is 1."""
    inputs = {}
    for key, info in sig.inputs.items():
        shape = info.tensor_shape
        if shape.unknown_rank:
            return None
        sizes = [d.size for d in shape.dim]
        if info.dtype == types_pb2.DT_STRING:
            rows = [1 if s < 0 else s for s in sizes]
            array = np.empty(int(np.prod(rows, dtype=np.int64)), dtype=object)
            array[:] = [_blank_png()] * array.size
            inputs[key] = array.reshape(rows)
            continue
        np_dtype = NUMPY_DTYPES.get(info.dtype)
        if np_dtype is None:
            return None
        spatial: set[int] = set()
        if len(sizes) == 4:
            channels_first = sizes[1] > 0 and sizes[1] <= 4 and sizes[3] < 0
            spatial = {2, 3} if channels_first else {1, 2}
        elif len(sizes) == 3 and sizes[2] > 0:
            spatial = {0, 1}
        filled = [
            s if s >= 0 else (WARMUP_IMAGE_SIDE if i in spatial else 1) for i, s in enumerate(sizes)
        ]
        inputs[key] = np.zeros(filled, dtype=np_dtype)
    return inputs


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


def _verify_inputs_size(sig: meta_graph_pb2.SignatureDef, inputs: Mapping[str, object]) -> None:
    """``VerifyRequestInputsSize`` (tensorflow_serving/servables/tensorflow/predict_util.cc)."""
    sent, expected = set(inputs), set(sig.inputs)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not _defaults(sig)):
        extra, missing = sorted(sent - expected), sorted(expected - sent)
        raise ServingFault(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}})."
            f" Sent extra: {{{','.join(extra)}}}. Missing but required: "
            f"{{{','.join(missing)}}}.",
        )


def _defaults(sig: meta_graph_pb2.SignatureDef) -> Mapping[str, tensor_pb2.TensorProto]:
    """The signature's default input values (SignatureDef.defaults, TensorFlow 2.14 and later)."""
    return getattr(sig, "defaults", {})


def _default_input(
    sig: meta_graph_pb2.SignatureDef, alias: str, sent: Mapping[str, object]
) -> tensor_pb2.TensorProto:
    """The signature's default for an input the request left out, or GetInputValues' refusal
    (tensorflow/cc/saved_model/util.cc)."""
    defaults = _defaults(sig)
    if alias not in defaults:
        raise ServingFault(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Signature input alias: {alias}(feed name: {sig.inputs[alias].name}) not found in "
            f"request and no default value provided. Inputs expected to be in the request "
            f"{{{','.join(sorted(sent))}}}, or default input alias set: "
            f"{','.join(sorted(defaults))}",
        )
    return defaults[alias]


def check_feeds(
    sig: meta_graph_pb2.SignatureDef,
    arrays: Mapping[str, np.ndarray | None],
    dtypes: Mapping[str, int] | None = None,
) -> None:
    """Refuse what the session would refuse before running anything, with its message.

    A dtype that is not the placeholder's: TensorFlow's ``FunctionCallFrame::SetArgs``
    (tensorflow/core/framework/function.cc) says "Expects arg[i] to be float but double is
    provided", ``i`` counting the feeds in the session's order (sorted by tensor name); ``dtypes``
    gives the DataType of inputs not made into arrays.

    A shape of the placeholder's rank goes to the graph as in TF Serving, whose C++ session does
    not compare feed shapes: the graph's ops answer (or a size-independent graph simply runs). A
    tensor of another rank is refused here with TensorFlow's feed check message
    (``BaseSession._run`` in tensorflow/python/client/session.py): some CPU kernels abort the
    whole process on an input of the wrong rank instead of failing the request.
    """
    dtypes = dtypes or {}
    order = sorted(arrays, key=lambda k: sig.inputs[k].name)
    for index, alias in enumerate(order):
        want = sig.inputs[alias].dtype
        array = arrays[alias]
        got = dtypes[alias] if alias in dtypes or array is None else _array_dtype(array)
        if got is not None and got != want:
            raise ServingFault(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Expects arg[{index}] to be {dtype_string(want)} but {dtype_string(got)} "
                "is provided",
            )
    for alias in order:
        info, array = sig.inputs[alias], arrays[alias]
        if array is None:  # an unfed input: its dtype was refused above
            continue
        shape = info.tensor_shape
        if not shape.unknown_rank and len(shape.dim) != np.ndim(array):
            declared = [str(d.size) if d.size >= 0 else "None" for d in shape.dim]
            text = "(" + ", ".join(declared) + ("," if len(declared) == 1 else "") + ")"
            raise ServingFault(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Cannot feed value of shape {tuple(np.shape(array))!r} for Tensor {info.name}, "
                f"which has shape {text}",
            )


def _array_dtype(array: np.ndarray) -> int | None:
    """The DataType of a NumPy array fed to the session (None: not one this server makes)."""
    dtype = np.asarray(array).dtype
    if dtype.kind in "OSU":
        return types_pb2.DT_STRING
    for dt, np_dtype in NUMPY_DTYPES.items():
        if np_dtype == dtype:
            return dt
    try:
        return tf.dtypes.as_dtype(dtype).as_datatype_enum
    except TypeError:
        return None


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
    output tensors fetched by name in one run of the model's session (TensorFlow's C++
    ``Session::Run`` through the C API, as TF Serving calls it).

    The session runs the whole graph in one executor, the model's functions inlined. For
    EfficientNet-Lite0 on a CPU that is 3–8 % quicker than calling the signature as a
    TensorFlow 2 function (``tf.saved_model.load(...).signatures[...]``), and it is the time TF
    Serving itself would spend. Feeds go to the C API as they are: ``Session.run``'s Python-side
    conversions (a float64 array silently cast to float32) and shape checks are TensorFlow's
    Python client's, not TF Serving's, so they are left out; :func:`check_feeds` does what the
    C++ session would refuse.
    """

    def __init__(self, session: tf.compat.v1.Session, sig: meta_graph_pb2.SignatureDef) -> None:
        from tensorflow.python.client import pywrap_tf_session

        graph = session.graph
        self.inputs = sorted(sig.inputs)
        self.outputs = sorted(sig.outputs)
        self._session = session
        self._api = pywrap_tf_session
        self._feeds = [
            graph.get_tensor_by_name(sig.inputs[k].name)._as_tf_output() for k in self.inputs
        ]
        self._fetches = [
            graph.get_tensor_by_name(sig.outputs[k].name)._as_tf_output() for k in self.outputs
        ]
        session._extend_graph()  # the loaded graph is the session's (a no-op when it already is)

    def __call__(
        self, kwargs: Mapping[str, np.ndarray], timeout_ms: int | None = None
    ) -> dict[str, np.ndarray]:
        """The outputs; a run still going after ``timeout_ms`` is cancelled (DEADLINE_EXCEEDED)."""
        missing = [k for k in self.inputs if k not in kwargs]
        if missing or len(kwargs) != len(self.inputs):
            raise TypeError(f"the signature takes inputs {self.inputs}, got {sorted(kwargs)}")
        feeds = {
            t: np.ascontiguousarray(kwargs[k])
            for t, k in zip(self._feeds, self.inputs, strict=True)
        }
        options = None
        if timeout_ms is not None:
            run_options = tf.compat.v1.RunOptions(timeout_in_ms=timeout_ms)
            options = self._api.TF_NewBufferFromString(run_options.SerializeToString())
        try:
            values = self._session._call_tf_sessionrun(options, feeds, self._fetches, [], None)
        finally:
            if options is not None:
                self._api.TF_DeleteBuffer(options)
        return dict(zip(self.outputs, values, strict=True))


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
