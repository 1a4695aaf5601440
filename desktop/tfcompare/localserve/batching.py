"""Server-side batching like TF Serving's ``--enable_batching`` (its BatchingSession).

Concurrent Predict calls for the same signature wait in a queue; a batch thread takes up to
``max_batch_size`` of them (waiting at most ``batch_timeout_micros`` after the oldest arrived),
concatenates their inputs along the 0th dimension (inputs whose other dimensions differ fail the
batch, or are padded with ``pad_variable_length_inputs``), pads to the next
``allowed_batch_sizes`` entry with copies of the last task's first row (as TF Serving does), runs the model once and hands each caller its
slice of the outputs. When ``max_enqueued_batches`` × ``max_batch_size`` tasks are already waiting,
a new one is refused with UNAVAILABLE and TF Serving's message.

Parameters come from TF Serving's batching parameters text format (``BatchingParameters`` in
``servables/tensorflow/session_bundle_config.proto``), parsed by protobuf's own text parser.
Metrics keep TF Serving's names (``batching_session.cc``, ``batching_util.cc``): the queuing
latency histogram (µs, ``Exponential(100, 1.2, 52)``, label ``thread_pool_name``), the wrapped run
counter, and the input/processed batch sizes and padding. TF Serving keeps the last three as
percentile samplers; here they are histograms under the same names.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import grpc
import numpy as np
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


class BatchingConfigError(ValueError):
    """A batching parameters file that cannot be used (message for the user)."""


def _parameters_class():
    """``tensorflow.serving.BatchingParameters`` built from its field list (the pip packages do
    not ship session_bundle_config.proto), in a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    f = descriptor_pb2.FileDescriptorProto(
        name="tfcompare/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    msg = f.message_type.add(name="BatchingParameters")
    fd = descriptor_pb2.FieldDescriptorProto
    for number, (name, kind) in enumerate(
        (
            ("max_batch_size", ".google.protobuf.Int64Value"),
            ("batch_timeout_micros", ".google.protobuf.Int64Value"),
            ("max_enqueued_batches", ".google.protobuf.Int64Value"),
            ("num_batch_threads", ".google.protobuf.Int64Value"),
            ("thread_pool_name", ".google.protobuf.StringValue"),
            ("allowed_batch_sizes", None),
            ("pad_variable_length_inputs", None),
            ("enable_large_batch_splitting", ".google.protobuf.BoolValue"),
            ("max_execution_batch_size", ".google.protobuf.Int64Value"),
        ),
        start=1,
    ):
        if kind:
            msg.field.add(
                name=name,
                number=number,
                type=fd.TYPE_MESSAGE,
                type_name=kind,
                label=fd.LABEL_OPTIONAL,
            )
        elif name == "allowed_batch_sizes":
            msg.field.add(name=name, number=number, type=fd.TYPE_INT64, label=fd.LABEL_REPEATED)
        else:
            msg.field.add(name=name, number=number, type=fd.TYPE_BOOL, label=fd.LABEL_OPTIONAL)
    pool.Add(f)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


@dataclass(frozen=True)
class BatchingOptions:
    """Defaults are TF Serving's when a parameter is left out of the file."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 4
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    @property
    def queue_capacity(self) -> int:
        return self.max_enqueued_batches * self.max_batch_size

    def padded_size(self, n: int) -> int:
        for size in self.allowed_batch_sizes:
            if size >= n:
                return size
        return n


def parse_batching_parameters(text: str, *, cores: int = 4) -> BatchingOptions:
    """TF Serving's batching parameters text format → options (raises BatchingConfigError)."""
    params = _parameters_class()()
    try:
        text_format.Parse(text, params)
    except text_format.ParseError as exc:
        raise BatchingConfigError(f"not a batching parameters file: {exc}") from None
    values = {
        name: getattr(params, name).value
        for name in (
            "max_batch_size",
            "batch_timeout_micros",
            "max_enqueued_batches",
            "num_batch_threads",
            "thread_pool_name",
        )
        if params.HasField(name)
    }
    options = replace(
        BatchingOptions(num_batch_threads=cores),
        **values,
        allowed_batch_sizes=tuple(int(v) for v in params.allowed_batch_sizes),
        pad_variable_length_inputs=bool(params.pad_variable_length_inputs),
    )
    problems = []
    if options.max_batch_size < 1:
        problems.append("max_batch_size must be at least 1")
    if options.num_batch_threads < 1:
        problems.append("num_batch_threads must be at least 1")
    if options.max_enqueued_batches < 1:
        problems.append("max_enqueued_batches must be at least 1")
    if options.batch_timeout_micros < 0:
        problems.append("batch_timeout_micros must not be negative")
    sizes = options.allowed_batch_sizes
    if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != options.max_batch_size):
        problems.append(
            "allowed_batch_sizes must increase and end with max_batch_size "
            f"({options.max_batch_size})"
        )
    if problems:
        raise BatchingConfigError("; ".join(problems))
    return options


def _exponential(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """``monitoring::Buckets::Exponential`` bounds."""
    return tuple(scale * growth**i for i in range(count))


class BatchingMetrics:
    """TF Serving's batching session metrics in a prometheus_client registry."""

    def __init__(self, registry) -> None:
        from prometheus_client import Counter, Histogram

        prefix = ":tensorflow:serving:batching_session:"
        sizes = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, float("inf"))
        self.queuing_latency = Histogram(
            prefix + "queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            ("thread_pool_name",),
            buckets=(*_exponential(100, 1.2, 52), float("inf")),
            registry=registry,
        )
        self.wrapped_run_count = Counter(
            prefix + "wrapped_run_count",
            "Total count of run calls on the wrapped session",
            registry=registry,
        )
        self.input_batch_size = Histogram(
            prefix + "input_batch_size",
            "Tracks the batch size distribution on the inputs.",
            buckets=sizes,
            registry=registry,
        )
        self.processed_batch_size = Histogram(
            prefix + "processed_batch_size",
            "Tracks the batch size distribution on processing.",
            buckets=sizes,
            registry=registry,
        )
        self.padding_size = Histogram(
            prefix + "padding_size",
            "Tracks the padding size distribution on batches.",
            ("execution_batch_size",),
            buckets=sizes,
            registry=registry,
        )

    def batch(self, pool: str, rows: int, padded: int, queued_us: list[float]) -> None:
        for us in queued_us:
            self.queuing_latency.labels(pool).observe(us)
        self.wrapped_run_count.inc()
        self.input_batch_size.observe(rows)
        self.processed_batch_size.observe(padded)
        self.padding_size.labels(str(padded)).observe(padded - rows)


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]  # input key → its array (0th dimension = the task's rows)
    rows: int
    enqueued: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    outputs: dict | None = None
    fault: Exception | None = None


class _Queue:
    """One signature's queue and its batch threads."""

    def __init__(self, batcher: Batcher, key: tuple) -> None:
        self.batcher = batcher
        self.key = key
        self.tasks: collections.deque[_Task] = collections.deque()
        self.rows = 0
        self.cond = threading.Condition()
        for i in range(batcher.options.num_batch_threads):
            threading.Thread(
                target=self._loop, name=f"{batcher.options.thread_pool_name}-{i}", daemon=True
            ).start()

    def put(self, task: _Task) -> None:
        with self.cond:
            if len(self.tasks) >= self.batcher.options.queue_capacity:
                raise self.batcher.fault(grpc.StatusCode.UNAVAILABLE, QUEUE_FULL)
            self.tasks.append(task)
            self.rows += task.rows
            self.cond.notify()

    def _take(self) -> list[_Task]:
        """The next batch: as soon as it is full, or when the oldest task has waited
        ``batch_timeout_micros``."""
        opts = self.batcher.options
        timeout = opts.batch_timeout_micros / 1e6
        with self.cond:
            while not self.tasks:
                self.cond.wait()
            deadline = self.tasks[0].enqueued + timeout
            while self.tasks and self.rows < opts.max_batch_size:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self.cond.wait(left)
            batch: list[_Task] = []
            rows = 0
            while self.tasks and (not batch or rows + self.tasks[0].rows <= opts.max_batch_size):
                task = self.tasks.popleft()
                batch.append(task)
                rows += task.rows
            self.rows -= rows
            if self.tasks:
                self.cond.notify()
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self.batcher.process(self.key, batch)


class Batcher:
    """Batches calls of ``run(signature, inputs) -> outputs``; thread-safe."""

    def __init__(
        self,
        options: BatchingOptions,
        run: Callable[[str, dict], dict],
        fault: Callable[[grpc.StatusCode, str], Exception],
        metrics: BatchingMetrics,
        tensor_names: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.options = options
        self.run = run
        self.fault = fault
        self.metrics = metrics
        # signature → input alias → the graph tensor it feeds (named in TF Serving's messages)
        self.tensor_names = tensor_names or {}
        self._queues: dict[tuple, _Queue] = {}
        self._lock = threading.Lock()

    def call(self, signature: str, inputs: dict) -> dict:
        """Blocks until this call's share of a batch has run; raises what the run raised."""
        rows = {int(t.shape[0]) if t.ndim else -1 for t in inputs.values()}
        if len(rows) != 1 or -1 in rows:
            raise self.fault(
                grpc.StatusCode.INVALID_ARGUMENT,
                "Batching Run() input tensors must have equal 0th-dimension size",
            )
        key = (signature, tuple(sorted(inputs)))
        with self._lock:
            queue = self._queues.get(key) or self._queues.setdefault(key, _Queue(self, key))
        task = _Task(inputs, rows.pop())
        queue.put(task)
        task.done.wait()
        if task.fault is not None:
            raise task.fault
        assert task.outputs is not None  # process() sets one of the two before done
        return task.outputs

    def process(self, key: tuple, batch: list[_Task]) -> None:
        signature, names = key
        start = time.perf_counter()
        rows = sum(t.rows for t in batch)
        padded = self.options.padded_size(rows)
        self.metrics.batch(
            self.options.thread_pool_name, rows, padded, [(start - t.enqueued) * 1e6 for t in batch]
        )
        try:
            merged = self._merge(signature, names, batch, padded - rows)
            outputs = self.run(signature, merged)
            offset = 0
            for task in batch:
                share = {}
                for out_key, value in outputs.items():
                    if not value.ndim or value.shape[0] != padded:
                        raise self.fault(
                            grpc.StatusCode.INTERNAL,
                            "Batched output tensor's 0th dimension does not equal the sum of the "
                            "0th dimension sizes of the input tensors",
                        )
                    share[out_key] = value[offset : offset + task.rows]
                task.outputs = share
                offset += task.rows
        except Exception as exc:  # every caller of the batch gets the failure
            for task in batch:
                task.fault = exc
        finally:
            for task in batch:
                task.done.set()

    def _merge(
        self, signature: str, names: tuple[str, ...], batch: list[_Task], padding: int
    ) -> dict[str, np.ndarray]:
        """``BatchingSession::MergeInputTensors`` (tensorflow_serving/batching/
        batching_session.cc): the tasks' inputs concatenated along the 0th dimension. Inputs of
        different shapes beyond the 0th dimension fail the whole batch (FAILED_PRECONDITION) unless
        ``pad_variable_length_inputs`` is on; then each is padded at the end of every dimension to
        the batch's largest, with its own first value (``AddPadding`` in batching_util.cc).
        ``padding`` rows up to an allowed batch size repeat the last task's first row."""
        tensor_name = self.tensor_names.get(signature, {})
        order = sorted(names, key=lambda n: tensor_name.get(n, n))
        largest: dict[str, list[int]] = {}
        if self.options.pad_variable_length_inputs:
            for name in order:
                shapes = [t.inputs[name].shape for t in batch]
                if len({len(s) for s in shapes}) == 1:
                    largest[name] = [max(sizes) for sizes in zip(*shapes, strict=True)]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in order}
        for i, task in enumerate(batch):
            for name in order:
                array = task.inputs[name]
                if name in largest:
                    array = _pad(array, largest[name], self.fault)
                elif i > 0 and array.shape[1:] != parts[name][0].shape[1:]:
                    if self.options.pad_variable_length_inputs:
                        raise self.fault(
                            grpc.StatusCode.INTERNAL,
                            "Tensor concat operation failed: Ranks of all input tensors should "
                            "match",
                        )
                    raise self.fault(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Tensors with name '{tensor_name.get(name, name)}' from different tasks "
                        "have different shapes and padding is turned off. Set "
                        "pad_variable_length_inputs to true, or ensure that all tensors with the "
                        "same name have equal dimensions starting with the first dim.",
                    )
                parts[name].append(array)
        merged = {}
        for name in order:
            tensors = parts[name]
            if padding > 0:
                tensors += [tensors[-1][:1]] * padding
            merged[name] = np.concatenate(tensors) if len(tensors) > 1 else tensors[0]
        return merged


def _pad(array: np.ndarray, sizes: list[int], fault) -> np.ndarray:
    """``AddPadding``: ``array`` grown at the end of dimensions 1… to ``sizes``, filled with its
    first value."""
    widths = [(0, 0)] + [(0, want - have) for have, want in zip(array.shape[1:], sizes[1:])]
    if not any(after for _, after in widths):
        return array
    if not 1 <= array.ndim <= 6:
        raise fault(
            grpc.StatusCode.INVALID_ARGUMENT, "Only tensors with rank from 1 to 6 can be padded."
        )
    if array.size < 1:
        raise fault(
            grpc.StatusCode.INVALID_ARGUMENT, "Got empty tensor in batch of non-empty tensors."
        )
    return np.pad(array, widths, mode="constant", constant_values=array.flat[0])
