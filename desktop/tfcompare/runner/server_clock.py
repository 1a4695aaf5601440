"""Per backend: where its server metrics come from, the scrapes around each block of measured
requests, and the path floor (round trip of an RPC that runs no model).

All of it happens in the backend's own worker thread, outside the timed region of any request, so
it never delays another backend's measurements.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from tfcompare.results import BackendTiming, RequestResult, ServerTime
from tfcompare.runner.aggregates import percentile
from tfcompare.serving.backend_spec import METRICS_OFF, BackendSpec

if TYPE_CHECKING:
    from tfcompare.cluster.forward import Forward
    from tfcompare.serving.server_metrics import MetricsFormat, MetricsScraper

FLOOR_AT_START = 5  # status round trips before the first image
FLOOR_PER_IMAGE = 2  # and before every later image
FLOOR_KEEP = 200  # samples kept for the p50 (memory stays bounded on long runs)
SCRAPE_FAILURES_BEFORE_OFF = 3


def metrics_target(spec: BackendSpec) -> BackendSpec | None:
    """For a ``k8s://`` backend: the same service without a port, to forward its metrics port
    to — the port its protocol's ``metrics_port`` hints name (TF Serving: the REST port;
    Triton 8002, MLServer 8082; a port the service does not expose is reached on the pods)."""
    if not spec.is_k8s or spec.metrics not in (None, ""):
        return None
    from tfcompare.cluster.target import make_target, parse_target

    t = parse_target(spec.target)
    return replace(spec, target=make_target(t.namespace, t.service, t.context))


class ServerClock:
    """The metrics source and path floor of one backend (used by its worker thread only)."""

    def __init__(self, spec: BackendSpec):
        self.spec = spec
        self.scraper: MetricsScraper | None = None  # when the backend has metrics
        self.forward: Forward | None = None  # the metrics port-forward of a k8s:// backend
        self.url: str | None = None
        self.message = ""
        self.floor_samples: list[float] = []
        self.last = None  # the snapshot that closed the previous block
        self.last_done = -1  # the run's request count when it was taken
        self._failures = 0
        self.format: MetricsFormat | None = None  # the server's, once its page was read
        self.input = ""  # what the model takes (RequestMaker.describe)

    # ------------------------------------------------------------------ metrics source

    def open(self, address: str | None) -> None:
        """Settle the metrics source: the spec's URL, ``off``, or discovered where the backend's
        protocol publishes them beside ``address`` (the client's host:port; for k8s the service's
        metrics port through a forward). The backend's credentials go to a metrics page only on
        its own origin over TLS, or as the user's ``metrics_headers``
        (``server_metrics.metrics_headers``)."""
        from tfcompare.serving.server_metrics import (
            MetricsError,
            MetricsScraper,
            format_of,
            metrics_headers,
        )

        spec = self.spec
        if spec.metrics == METRICS_OFF:
            self.message = "server metrics off"
            return
        problems: list[str] = []
        try:
            if spec.metrics:
                urls: tuple[str, ...] = (spec.metrics,)
            elif spec.is_k8s:
                urls = (self._forward_url(),)
            elif address is None:
                self.message = "no server metrics (backend not reachable)"
                return
            else:
                urls = spec.protocol_info.metrics_urls(address, bool(spec.tls_ca))
        except Exception as exc:  # a forward that cannot open: ClusterError and friends
            self.close()
            self.message = f"no server metrics ({exc})"
            return
        for url in urls:
            scraper = None
            try:
                headers = metrics_headers(spec, url, None if spec.is_k8s else address)
                scraper = MetricsScraper(
                    url, headers=headers, tls_ca=spec.tls_ca, timeout_s=min(spec.deadline_s, 10.0)
                )
                snapshot = scraper.scrape()
            except MetricsError as exc:
                if scraper is not None:
                    scraper.close()
                problems.append(str(exc))
                continue
            found = format_of(snapshot)
            if found is None:
                scraper.close()
                problems.append(f"{url} holds no metrics tfcompare reads")
                continue
            scraper.use(found)
            self.scraper, self.url, self.format = scraper, url, found
            where = url
            if self.forward is not None:  # a local relay: name what it forwards to
                where = (
                    f"{self.forward.spec.target} (metrics port {self.forward.port}, "
                    f"forwarded to {url})"
                )
            self.message = f"server metrics from {where} ({found.name})"
            return
        self.close()
        self.message = f"no server metrics ({'; '.join(problems) or 'none found'})"

    def _forward_url(self) -> str:
        from tfcompare.cluster import open_forward

        target = metrics_target(self.spec)
        assert target is not None
        proto = self.spec.protocol_info
        forward = self.forward = open_forward(target, hints=proto.metrics_port, metrics=True)
        return f"http://{forward.address}{proto.metrics_path}"

    @property
    def pod(self) -> str | None:
        return self.forward.pod if self.forward is not None else None

    def scrape(self):
        """A snapshot, or None when the metrics did not answer (after a few failures in a row the
        source is given up for this run, with a message)."""
        if self.scraper is None:
            return None
        from tfcompare.serving.server_metrics import MetricsError

        try:
            snap = self.scraper.scrape(totals_only=True)
        except MetricsError as exc:
            self._failures += 1
            if self._failures >= SCRAPE_FAILURES_BEFORE_OFF:
                self.scraper.close()
                self.scraper = None
                self.message = f"server metrics stopped answering ({exc})"
            return None
        self._failures = 0
        return snap

    def block(
        self, before, measured: list[RequestResult], image: str, variant: str, conn, generation: int
    ) -> ServerTime:
        """Scrape after a block of measured requests and derive its server time from ``before``.
        ``conn`` (the backend's Connection) tells whether its pod changed during the block."""
        after = self.last = self.scrape()
        sent = sum(1 for r in measured if r.ok)
        block = None
        notes = ["metrics did not answer after the block"]
        if after is not None and before is not None and self.format is not None:
            block = self.format.block_time(before, after, self.spec, sent)
            notes = [block.note] if block.note else []
        if conn is not None and conn.generation != generation:
            notes.append("pod restarted during the block")
        elif conn is not None and self.pod is not None and self.pod != conn.pod:
            notes.append(f"metrics from pod {self.pod}, requests to pod {conn.pod}")
        return ServerTime(
            image=image,
            variant=variant,
            backend=self.spec.name,
            sent=sent,
            counted=block.counted if block else None,
            server_ms=block.server_ms if block else None,
            runtime_ms=block.runtime_ms if block else None,
            exact=block is not None and block.exact and not notes,
            note="; ".join(notes),
            queue_ms=block.queue_ms if block else None,
        )

    def close(self) -> None:
        if self.scraper is not None:
            self.scraper.close()
        if self.forward is not None:
            self.forward.close()
            self.forward = None

    # ------------------------------------------------------------------ path floor

    def measure_floor(self, client, n: int) -> None:
        """``n`` model-status round trips (no model runs); failures are skipped."""
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                client.status()
            except Exception:  # noqa: BLE001 - a floor sample is optional
                continue
            self.floor_samples.append((time.perf_counter() - t0) * 1000.0)
        del self.floor_samples[:-FLOOR_KEEP]

    def timing(self) -> BackendTiming:
        samples = sorted(self.floor_samples)
        return BackendTiming(
            backend=self.spec.name,
            floor_ms=percentile(samples, 50) if samples else None,
            floor_samples=len(samples),
            metrics=self.url if self.scraper is not None else None,
            metrics_message=self.message,
            input=self.input,
        )
