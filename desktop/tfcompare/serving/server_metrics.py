"""Servers' Prometheus metrics: the names they export, reading a page, and the server time of a
block of requests from the deltas of two scrapes. One ``MetricsFormat`` per server in
``FORMATS`` (TF Serving's here; Triton's in ``triton_metrics``, MLServer's and KServe's model
server's in ``oip_metrics``), chosen by what the page holds.

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

import math
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.serving.http import BodyTooLarge, HttpProtocolError, pool_for

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
RUNTIME_API = "Predict"
# (API, entrypoint) of request_latency for a Predict over gRPC: each TF Serving protocol object
# carries its own (``predict_labels``)
_GRPC_PREDICT = ("Predict", "GRPC")
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


def parse_metrics(text: str, *, families: Iterable[str] | None = None) -> Snapshot:
    """Read a Prometheus text page with ``prometheus_client``'s parser (the families every
    registered format reads, unless told); raises MetricsError."""
    names = tuple(families if families is not None else all_families())
    types = tuple(f"# TYPE {n}" for n in names)
    # the exposition format ends lines with \n only: str.splitlines() would also break inside a
    # label value at U+2028, \x1c…, and one crafted model name would then spoil the whole page
    lines = [line.rstrip("\r") for line in text.split("\n")]
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
                labels = frozenset(
                    (k, v) for k, v in sample.labels.items() if k not in ("le", "quantile")
                )
                if fam.type in ("histogram", "summary"):
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
    """Server-side means over one block of requests (see ``tfcompare.results.ServerTime``):
    ``server_ms`` the request as the server handled it, ``runtime_ms`` the model run alone,
    ``queue_ms`` the wait before it (servers that report it)."""

    counted: int | None
    server_ms: float | None
    runtime_ms: float | None
    exact: bool
    note: str = ""
    queue_ms: float | None = None


def _rounding_us(value: float) -> float:
    """Worst rounding of a total as the page printed it. TF Serving's exporter prints six
    significant digits (totals below 10^6 µs are whole microseconds and exact); exporters that
    print every digit (prometheus_client, the local backend's) round only at the last digit the
    value has, so the smaller of the two bounds applies."""
    if value < 1e6 or not math.isfinite(value):
        return 0.0
    six_digits = 0.5 * 10 ** (math.floor(math.log10(value)) - 5)
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # "n", "N" or "F" only for NaN and infinities
    last_digit = 0.5 * 10.0**exponent
    return min(six_digits, last_digit)


class MetricsFormat:
    """One server's metrics: the families it reads, how its page is recognised and how a block's
    server time comes out of two scrapes. Registered in ``FORMATS``."""

    name: str = "?"
    families: tuple[str, ...] = ()
    #: the sample names a block's scrape asks for (the ``name[]`` filter of exporters built on
    #: prometheus_client; servers that ignore the filter send the whole page)
    totals: tuple[str, ...] = ()

    def recognises(self, snapshot: Snapshot) -> bool:
        raise NotImplementedError

    def block_time(
        self, before: Snapshot, after: Snapshot, spec: BackendSpec, sent: int
    ) -> BlockTime:
        raise NotImplementedError


class TfServingMetrics(MetricsFormat):
    """TF Serving's ``request_latency`` (per API and entrypoint) and ``runtime_latency``."""

    name = "TF Serving"
    families = FAMILIES
    totals = tuple(
        f"{fam}{suffix}"
        for fam in (REQUEST_LATENCY, RUNTIME_LATENCY)
        for suffix in ("_sum", "_count")
    )

    def recognises(self, snapshot: Snapshot) -> bool:
        return any(name.startswith(":tensorflow:") for name in snapshot.families)

    def block_time(
        self, before: Snapshot, after: Snapshot, spec: BackendSpec, sent: int
    ) -> BlockTime:
        labels = getattr(spec.protocol_info, "predict_labels", _GRPC_PREDICT)
        return block_time(before, after, spec.model or "default", labels, sent)


FORMATS: list[MetricsFormat] = [TfServingMetrics()]


def register(fmt: MetricsFormat) -> None:
    """Add a server's format to ``FORMATS`` (done by the module that defines it, which this
    module imports at its end: whichever of the two is imported first, both are complete)."""
    if not any(type(f) is type(fmt) for f in FORMATS):
        FORMATS.append(fmt)


def all_families() -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for fmt in FORMATS for f in fmt.families))


def format_of(snapshot: Snapshot) -> MetricsFormat | None:
    """The registered format whose metrics the page holds, or None."""
    return next((fmt for fmt in FORMATS if fmt.recognises(snapshot)), None)


def block_time(
    before: Snapshot,
    after: Snapshot,
    model: str,
    labels: tuple[str, str] | str,
    sent: int,
) -> BlockTime:
    """Mean server and runtime latency of the ``sent`` successful requests made between two TF
    Serving scrapes, from the ``_count``/``_sum`` deltas for this model and ``labels`` (the
    request_latency API and entrypoint, or a protocol name: ``grpc``/``rest``)."""
    if isinstance(labels, str):
        from tfcompare.serving import protocols

        labels = getattr(protocols.get(labels), "predict_labels", _GRPC_PREDICT)
    api, entrypoint = labels
    c0, s0 = before.total(REQUEST_LATENCY, model_name=model, API=api, entrypoint=entrypoint)
    c1, s1 = after.total(REQUEST_LATENCY, model_name=model, API=api, entrypoint=entrypoint)
    r0, rs0 = before.total(RUNTIME_LATENCY, model_name=model, API=RUNTIME_API)
    r1, rs1 = after.total(RUNTIME_LATENCY, model_name=model, API=RUNTIME_API)
    block = totals_block((c0, s0), (c1, s1), sent, unit_ms=0.001, runtime=((r0, rs0), (r1, rs1)))
    if block.server_ms is None or block.note.startswith("counters reset"):
        return block
    counted = block.counted or 0
    notes = [block.note] if block.note else []
    runs = r1 - r0
    if not notes and runs and int(round(runs)) != sent:
        notes.append(f"shared: the model ran {int(round(runs))} times for {sent} requests")
    # TF Serving's exporter prints six significant digits of its totals
    rounding = _rounding_us(s0) + _rounding_us(s1)
    if rounding > IMPRECISE_SHARE * (s1 - s0):
        notes.append(
            f"imprecise: the server rounds its totals (±{rounding / counted / 1000:.2g} ms)"
        )
    return replace(block, exact=not notes, note="; ".join(notes))


def totals_block(
    before: tuple[float, float],
    after: tuple[float, float],
    sent: int,
    *,
    unit_ms: float,
    runtime: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> BlockTime:
    """A block's server time from the (count, sum) totals of one latency family before and after
    it (sums in units of ``unit_ms`` milliseconds), and optionally the model run's own totals
    (``runtime``: before, after). Servers that print every digit of their totals
    (prometheus_client's exporters) need no rounding note."""
    (c0, s0), (c1, s1) = before, after
    r0, rs0, r1, rs1 = (*runtime[0], *runtime[1]) if runtime else (0.0, 0.0, 0.0, 0.0)
    if c1 < c0 or s1 < s0 or r1 < r0:
        if c1 <= 0:
            return BlockTime(None, None, None, False, "counters reset (server restarted)")
        return BlockTime(
            int(c1),
            s1 / c1 * unit_ms,
            rs1 / r1 * unit_ms if r1 > 0 else None,
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
    runs = r1 - r0
    runtime_ms = (rs1 - rs0) / runs * unit_ms if runs > 0 else None
    note = (
        ""
        if counted == sent
        else f"shared: the server counted {counted} requests, {sent} were sent"
    )
    return BlockTime(counted, (s1 - s0) / counted * unit_ms, runtime_ms, not note, note)


# --------------------------------------------------------------------------- scraping


def same_origin(url: str, address: str, tls: bool) -> bool:
    """Whether ``url`` is the backend's own origin (scheme, host and port) at ``address``."""
    parts = urlsplit(url)
    host, _, port = address.rpartition(":")
    scheme = "https" if tls else "http"
    try:
        url_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return (
        parts.scheme == scheme
        and (parts.hostname or "").lower() == host.strip("[]").lower()
        and str(url_port) == port
    )


def metrics_headers(
    spec: BackendSpec, url: str, address: str | None
) -> tuple[tuple[str, str], ...]:
    """The headers a metrics page may get: the user's ``metrics_headers`` when given; else the
    backend's own headers only when the page is the backend's own origin over TLS — a discovered
    or named page elsewhere (another port, plain HTTP) never gets a backend's credentials."""
    if spec.metrics_headers:
        return tuple(spec.metrics_headers)
    if spec.headers and spec.tls_ca and address and same_origin(url, address, tls=True):
        return tuple(spec.headers)
    return ()


class MetricsScraper:
    """Reads one metrics URL over a keep-alive connection, each read bounded by ``timeout_s``
    from its start to its last byte; ``scrape`` is thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        tls_ca: str | None = None,
        timeout_s: float = 5.0,
    ):
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
            raise MetricsError(f"metrics URL {url!r} is not an http(s) URL")
        self.url = url
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self._pool = pool_for(
                address,
                tls_ca=tls_ca if parts.scheme == "https" else None,
                tls=parts.scheme == "https",
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise MetricsError(f"cannot read metrics from {url}: {exc}") from None
        self._headers = tuple(headers)
        self._timeout = timeout_s
        self._join = "&" if parts.query else "?"
        self._filter = self._join + TOTALS_QUERY

    def use(self, fmt: MetricsFormat) -> None:
        """Ask for ``fmt``'s totals in block scrapes (the format the page turned out to hold)."""
        if self._filter and fmt.totals:
            self._filter = self._join + urlencode([("name[]", n) for n in fmt.totals])

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
        try:
            answer = self._pool.request(
                "GET",
                path,
                headers=self._headers,
                deadline=time.monotonic() + self._timeout,
                limit=MAX_PAGE_BYTES,
            )
        except BodyTooLarge:
            raise MetricsError(
                f"{self.url} sent a page larger than {MAX_PAGE_BYTES >> 20} MB"
            ) from None
        except TimeoutError:
            raise MetricsError(f"{self.url} did not answer within {self._timeout:g} s") from None
        except (OSError, ssl.SSLError, HttpProtocolError) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise MetricsError(f"{self.url} did not answer ({why})") from None
        if answer.status != 200:
            raise MetricsError(f"{self.url} answered HTTP {answer.status}")
        return answer.body.decode("utf-8", errors="replace")

    def scrape(self, *, totals_only: bool = False) -> Snapshot:
        return parse_metrics(self.fetch(totals_only=totals_only))

    def close(self) -> None:
        self._pool.close()


# the other servers' formats register themselves (they subclass MetricsFormat, defined above)
from tfcompare.serving import triton_metrics as _triton_metrics  # noqa: E402, F401, I001
from tfcompare.serving import oip_metrics as _oip_metrics  # noqa: E402, F401
