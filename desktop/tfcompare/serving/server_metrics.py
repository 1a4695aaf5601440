"""TF Serving's Prometheus metrics: the names it exports, reading a page, and the server time of a
block of requests from the deltas of two scrapes.

Facts from TF Serving's source (``servables/tensorflow/util.cc``, ``util/prometheus_exporter.cc``,
``model_servers/prediction_service_impl.cc``, ``model_servers/http_server.cc``): metric paths such as
``/tensorflow/serving/request_latency`` are exported with every non-alphanumeric character turned
into ``:``; ``request_latency{model_name,API,entrypoint}`` and ``runtime_latency{model_name,API,
runtime}`` are histograms in microseconds with buckets ``Exponential(10, 1.8, 33)`` plus +Inf;
request latency is recorded only for successful requests, with API ``Predict`` / entrypoint ``GRPC``
over gRPC and API ``predict`` / entrypoint ``REST`` over REST; the runtime latency (the model run
alone, API ``Predict`` on both) carries runtime ``TF1`` or ``TFRT``. The exporter prints ``_sum``
with six significant digits. Parsing uses ``prometheus_client``'s text parser.
"""

from __future__ import annotations

import http.client
import math
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tfcompare.serving.base import BodyTooLarge, read_body

METRICS_PATH = "/monitoring/prometheus/metrics"
# A metrics page is read whole; a TF Serving with many models writes a few MB.
MAX_PAGE_BYTES = 32 << 20
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
RUNTIME_LATENCY = ":tensorflow:serving:runtime_latency"
GRAPH_RUNS = ":tensorflow:core:graph_runs"
GRAPH_RUN_TIME = ":tensorflow:core:graph_run_time_usecs"
FAMILIES = (REQUEST_COUNT, REQUEST_LATENCY, RUNTIME_LATENCY, GRAPH_RUNS, GRAPH_RUN_TIME)


def _latency_buckets() -> tuple[float, ...]:
    """``monitoring::Buckets::Exponential(10, 1.8, 33)`` as the exporter prints the limits (six
    significant digits); TF adds DBL_MAX, exported as ``+Inf``."""
    bounds, bound = [], 10.0
    for _ in range(33):
        bounds.append(float(f"{bound:.6g}"))
        bound *= 1.8
    return tuple(bounds)


LATENCY_BUCKETS_US = _latency_buckets()
# (API label of request_latency, entrypoint) per protocol; runtime_latency uses "Predict" for both.
PREDICT_LABELS = {"grpc": ("Predict", "GRPC"), "rest": ("predict", "REST")}
RUNTIME_API = "Predict"
# Block scrapes ask for just the totals they read, the ``name[]`` filter of prometheus_client's
# exporters (tfcompare serve); TF Serving answers 400 to any query string, so it gets the plain path.
TOTALS_QUERY = urlencode(
    [
        ("name[]", f"{fam}{suffix}")
        for fam in (REQUEST_LATENCY, RUNTIME_LATENCY)
        for suffix in ("_sum", "_count")
    ]
)
IMPRECISE_SHARE = 0.05  # rounding of the server's totals beyond this share of a delta: not exact

Labels = frozenset[tuple[str, str]]


class MetricsError(Exception):
    """A metrics page could not be read; the message is meant for the user."""


@dataclass(frozen=True)
class Snapshot:
    """The cumulative values of one scrape: ``histograms[family][labels] = (count, sum)`` and
    ``counters[family][labels] = value``, for the families tfcompare reads."""

    histograms: Mapping[str, Mapping[Labels, tuple[float, float]]] = field(default_factory=dict)
    counters: Mapping[str, Mapping[Labels, float]] = field(default_factory=dict)
    families: frozenset[str] = frozenset()  # every family name on the page

    def total(self, family: str, **match: str) -> tuple[float, float]:
        """(count, sum) over the histogram series whose labels include ``match``."""
        count = total = 0.0
        for labels, (c, s) in self.histograms.get(family, {}).items():
            if all((k, v) in labels for k, v in match.items()):
                count += c
                total += s
        return count, total

    def counter(self, family: str, **match: str) -> float:
        return sum(
            v
            for labels, v in self.counters.get(family, {}).items()
            if all((k, v2) in labels for k, v2 in match.items())
        )

    @property
    def is_tf_serving(self) -> bool:
        return any(name.startswith(":tensorflow:") for name in self.families)


def _wanted(line: str, names: tuple[str, ...], types: tuple[str, ...]) -> bool:
    """Lines worth parsing: the TYPE lines and the ``_sum``/``_count``/counter samples of the
    families read (bucket lines are skipped: a block's mean needs only the totals)."""
    if line.startswith("#"):
        return line.startswith(types)
    if not line.startswith(names):
        return False
    return "_bucket" not in line.split("{", 1)[0]


def parse_metrics(text: str, *, families: Iterable[str] = FAMILIES) -> Snapshot:
    """Read a Prometheus text page with ``prometheus_client``'s parser; raises MetricsError."""
    names = tuple(families)
    types = tuple(f"# TYPE {n}" for n in names)
    lines = text.splitlines()
    kept = "\n".join(line for line in lines if _wanted(line, names, types)) + "\n"
    histograms: dict[str, dict[Labels, list[float]]] = {}
    counters: dict[str, dict[Labels, float]] = {}
    seen = {
        line.split(" ", 3)[2]
        for line in lines
        if line.startswith("# TYPE ") and line.count(" ") > 2
    }
    try:
        for fam in text_string_to_metric_families(kept):
            if fam.name not in names:
                continue
            for sample in fam.samples:
                labels = frozenset((k, v) for k, v in sample.labels.items() if k != "le")
                if fam.type == "histogram":
                    if sample.name.endswith("_count"):
                        histograms.setdefault(fam.name, {}).setdefault(labels, [0.0, 0.0])[0] = (
                            sample.value
                        )
                    elif sample.name.endswith("_sum"):
                        histograms.setdefault(fam.name, {}).setdefault(labels, [0.0, 0.0])[1] = (
                            sample.value
                        )
                elif not sample.name.endswith("_created"):
                    counters.setdefault(fam.name, {})[labels] = sample.value
    except ValueError as exc:
        raise MetricsError(f"not a Prometheus metrics page ({exc})") from None
    return Snapshot(
        histograms={f: {k: (v[0], v[1]) for k, v in d.items()} for f, d in histograms.items()},
        counters=counters,
        families=frozenset(seen),
    )


# --------------------------------------------------------------------------- deltas


@dataclass(frozen=True)
class BlockTime:
    """Server-side means over one block of requests (see ``tfcompare.results.ServerTime``)."""

    counted: int | None
    server_ms: float | None
    runtime_ms: float | None
    exact: bool
    note: str = ""


def _rounding_us(value: float) -> float:
    """Worst rounding of a total as the page printed it. TF Serving's exporter prints six
    significant digits (totals below 10^6 µs are whole microseconds and exact); exporters that
    print every digit (prometheus_client, the local backend's) round only at the last digit the
    value has, so the smaller of the two bounds applies."""
    if value < 1e6 or not math.isfinite(value):
        return 0.0
    six_digits = 0.5 * 10 ** (math.floor(math.log10(value)) - 5)
    last_digit = 0.5 * 10.0 ** Decimal(repr(value)).normalize().as_tuple().exponent
    return min(six_digits, last_digit)


def block_time(
    before: Snapshot, after: Snapshot, model: str, protocol: str, sent: int
) -> BlockTime:
    """Mean server and runtime latency of the ``sent`` successful requests made between two
    scrapes, from the ``_count``/``_sum`` deltas for this model, API and entrypoint."""
    api, entrypoint = PREDICT_LABELS.get(protocol, PREDICT_LABELS["grpc"])
    c0, s0 = before.total(REQUEST_LATENCY, model_name=model, API=api, entrypoint=entrypoint)
    c1, s1 = after.total(REQUEST_LATENCY, model_name=model, API=api, entrypoint=entrypoint)
    r0, rs0 = before.total(RUNTIME_LATENCY, model_name=model, API=RUNTIME_API)
    r1, rs1 = after.total(RUNTIME_LATENCY, model_name=model, API=RUNTIME_API)
    if c1 < c0 or s1 < s0 or r1 < r0:
        # Counters went back: the server restarted in between. What it counted since the restart
        # is a lower bound on the block, not the block.
        if c1 <= 0:
            return BlockTime(None, None, None, False, "counters reset (server restarted)")
        return BlockTime(
            int(c1),
            s1 / c1 / 1000.0,
            rs1 / r1 / 1000.0 if r1 > 0 else None,
            False,
            "counters reset (server restarted): from the requests counted since",
        )
    counted = int(round(c1 - c0))
    if counted <= 0:
        note = (
            "the server counted none of these requests (wrong model name, or metrics of another "
            "server?)"
            if sent
            else "no successful request"
        )
        return BlockTime(counted, None, None, False, note)
    server_ms = (s1 - s0) / counted / 1000.0
    runs = r1 - r0
    runtime_ms = (rs1 - rs0) / runs / 1000.0 if runs > 0 else None
    notes = []
    if counted != sent:
        notes.append(f"shared: the server counted {counted} requests, {sent} were sent")
    elif runs and int(round(runs)) != sent:
        notes.append(f"shared: the model ran {int(round(runs))} times for {sent} requests")
    rounding = _rounding_us(s0) + _rounding_us(s1)
    if rounding > IMPRECISE_SHARE * (s1 - s0):
        notes.append(
            f"imprecise: the server rounds its totals (±{rounding / counted / 1000:.2g} ms)"
        )
    return BlockTime(counted, server_ms, runtime_ms, not notes, "; ".join(notes))


# --------------------------------------------------------------------------- scraping


def discovered_url(address: str, protocol: str, tls: bool = False) -> str:
    """Where a TF Serving reached at ``address`` serves its metrics: the REST port itself, or the
    REST port beside gRPC (8501 beside 8500, as TF Serving's images run it; else the next port)."""
    host, _, port = address.rpartition(":")
    number = int(port)
    if protocol != "rest":
        number = 8501 if number == 8500 else number + 1
        tls = False  # TF Serving's TLS (ssl_config_file) is for gRPC only
    return f"{'https' if tls else 'http'}://{host}:{number}{METRICS_PATH}"


class MetricsScraper:
    """Reads one metrics URL over a keep-alive connection; ``scrape`` is thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        tls_ca: str | None = None,
        timeout_s: float = 5.0,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MetricsError(f"metrics URL {url!r} is not an http(s) URL")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._https = parts.scheme == "https"
        self._ca = tls_ca
        self._headers = dict(headers)
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._filter = "&" + TOTALS_QUERY if parts.query else "?" + TOTALS_QUERY

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            ctx = ssl.create_default_context(cafile=self._ca) if self._ca else None
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ctx
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def fetch(self, *, totals_only: bool = False) -> str:
        """The page text (``totals_only``: just the sums and counts of the latency histograms
        when the server can filter); raises MetricsError."""
        if totals_only and self._filter:
            try:
                return self._get(self._path + self._filter)
            except MetricsError as exc:
                if "HTTP 4" not in str(exc):
                    raise
                self._filter = ""  # TF Serving: no query strings on its metrics path
        return self._get(self._path)

    def _get(self, path: str) -> str:
        with self._lock:
            for attempt in (0, 1):  # a kept-alive connection the server closed: one fresh try
                fresh = self._conn is None
                if fresh:
                    self._conn = self._connect()
                conn = self._conn
                try:
                    conn.request("GET", path, headers=self._headers)
                    resp = conn.getresponse()
                    body = read_body(resp, time.monotonic() + self._timeout, MAX_PAGE_BYTES)
                except BodyTooLarge:
                    conn.close()
                    self._conn = None
                    raise MetricsError(
                        f"{self.url} sent a page larger than {MAX_PAGE_BYTES >> 20} MB"
                    ) from None
                except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                    conn.close()
                    self._conn = None
                    if fresh or attempt:
                        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                        raise MetricsError(f"{self.url} did not answer ({why})") from None
                    continue
                if resp.will_close:
                    conn.close()
                    self._conn = None
                if resp.status != 200:
                    raise MetricsError(f"{self.url} answered HTTP {resp.status}")
                return body.decode("utf-8", errors="replace")
        raise AssertionError("unreachable")

    def scrape(self, *, totals_only: bool = False) -> Snapshot:
        return parse_metrics(self.fetch(totals_only=totals_only))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
