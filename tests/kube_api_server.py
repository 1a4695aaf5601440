"""A Kubernetes API server on 127.0.0.1 for exactly the calls tfcompare.cluster makes.

No real API server can run in the test environment, so this one speaks the wire protocol: JSON
objects and ``Status`` errors (401/403/404) for namespaces, services, pods and EndpointSlices, and
the pods/portforward WebSocket with the ``v4.channel.k8s.io`` subprotocol (per port a data and an
error channel, each opened with a frame carrying the port as 2 bytes little-endian, then data
frames prefixed by the channel byte) relayed to real TCP servers — real TF Serving backends in the
tests. KServe's ``serving.kserve.io/v1beta1`` InferenceServices are served as custom objects
(list per namespace and cluster-wide, get; 404 for the whole group while KServe is not installed,
as the API server answers for a resource it does not know). EndpointSlices are derived from services and pods like the endpointslice controller does,
so deleting or un-readying a pod behaves as in a cluster, including closing its open forwards.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

TOKEN = "tfcompare-test-token"
V4 = "v4.channel.k8s.io"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, kind: str = "", name: str = "") -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if kind or name:
        body["details"] = {"name": name, "kind": kind}
    return web.json_response(body, status=code)


def _matches(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors: ``a=b,c!=d,e`` (what the client sends)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class KubeAPIServer:
    """Start with ``start()``; objects are plain dicts as the API server would return them.
    ``pods[ns/name]["_backends"]`` maps a pod port to the ``host:port`` it is relayed to."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.namespaces: dict[str, dict] = {}
        self.services: dict[str, dict] = {}
        self.pods: dict[str, dict] = {}
        self.isvcs: dict[str, dict] = {}  # InferenceServices, "ns/name" -> object
        self.kserve_installed = False  # set by add_isvc: the CRD exists from then on
        self.forbidden: set[tuple[str, str]] = set()  # (resource, namespace or "*")
        self.slices_supported = True
        self.delay_s = 0.0  # answer every request this much later (a slow API server)
        self.forwards: dict[str, int] = {}  # pod key -> number of port-forward streams opened
        self.requests: list[str] = []
        self.answering = 0  # requests received and not yet answered (streams: until they end)
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._lock = threading.Lock()
        for ns in ("default", "kube-system"):  # every cluster has these
            self.add_namespace(ns)
        from kube_workloads import Workloads

        self.workloads = Workloads(self)  # Jobs, ConfigMaps, pod logs (see kube_workloads.py)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> KubeAPIServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # surfaced to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="kube-api-server", daemon=True).start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _start(self) -> None:
        # the real API server takes request bodies up to 3 MiB (a 1 MiB ConfigMap's binaryData is
        # base64 in JSON); aiohttp's own default is 1 MiB
        app = web.Application(middlewares=[self._auth], client_max_size=3 << 20)
        r = app.router
        r.add_get("/api/v1/namespaces", self._list_namespaces)
        r.add_get("/api/v1/namespaces/{ns}", self._get_namespace)
        r.add_get("/api/v1/services", self._list_all_services)
        r.add_get("/api/v1/namespaces/{ns}/services", self._list_services)
        r.add_get("/api/v1/namespaces/{ns}/services/{name}", self._get_service)
        r.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._get_pod)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}/portforward", self._portforward)
        r.add_get("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", self._list_slices)
        kserve = "/apis/serving.kserve.io/v1beta1"
        r.add_get(f"{kserve}/inferenceservices", self._list_all_isvcs)
        r.add_get(f"{kserve}/namespaces/{{ns}}/inferenceservices", self._list_isvcs)
        r.add_get(f"{kserve}/namespaces/{{ns}}/inferenceservices/{{name}}", self._get_isvc)
        self.workloads.routes(r)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        self.workloads.close()

        async def shutdown() -> None:
            for group in list(self._sockets.values()):
                for ws in list(group):
                    await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop = None

    def kubeconfig(
        self, path: Path, *, token: str | None = None, contexts: dict[str, str] | None = None
    ) -> Path:
        """Write a kubeconfig (JSON is valid YAML) with contexts ``{name: namespace}``; the first is current."""
        contexts = contexts or {"test": "default"}
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [
                {"name": name, "context": {"cluster": "fake", "user": "tester", "namespace": ns}}
                for name, ns in contexts.items()
            ],
            "current-context": next(iter(contexts)),
        }
        path.write_text(json.dumps(cfg))
        return path

    # ------------------------------------------------------------------ objects (any thread)

    def add_namespace(self, name: str) -> None:
        with self._lock:
            self.namespaces[name] = {
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": _now()},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }

    def add_object(self, obj: dict) -> None:
        """Add a rendered manifest object (Service / Deployment / Namespace; others ignored)."""
        kind = obj.get("kind")
        ns = obj.get("metadata", {}).get("namespace", "default")
        if kind == "Namespace":
            self.add_namespace(obj["metadata"]["name"])
        elif kind == "Deployment":  # one running, ready pod from the template, like a rollout
            tmpl = obj["spec"]["template"]
            name = f"{obj['metadata']['name']}-6d4cf56db6-x7k2p"
            self.add_pod(ns, name, tmpl["metadata"].get("labels", {}), {})
            with self._lock:
                self.pods[f"{ns}/{name}"]["spec"] = copy.deepcopy(tmpl["spec"])
        elif kind == "Service":
            self.add_service(
                ns,
                obj["metadata"]["name"],
                obj["spec"].get("ports", []),
                obj["spec"].get("selector"),
                obj["metadata"].get("labels"),
            )

    def add_service(
        self,
        ns: str,
        name: str,
        ports: list[dict],
        selector: dict | None,
        labels: dict | None = None,
        *,
        external_name: str | None = None,
    ) -> None:
        """A ClusterIP service, or with ``external_name`` an ExternalName one (no selector, no
        ClusterIP: what Knative and KServe make for a serverless InferenceService)."""
        if ns not in self.namespaces:
            self.add_namespace(ns)
        ports = [dict({"protocol": "TCP"}, **p) for p in ports]
        for p in ports:
            p.setdefault("targetPort", p["port"])
        spec = (
            {"type": "ExternalName", "externalName": external_name, "ports": ports}
            if external_name
            else None
        )
        with self._lock:
            self.services[f"{ns}/{name}"] = {
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "uid": str(uuid.uuid4()),
                    "labels": dict(labels or {}),
                    "creationTimestamp": _now(),
                },
                "spec": {
                    "ports": ports,
                    "selector": selector,
                    "type": "ClusterIP",
                    # a loopback ClusterIP: kube_workloads proxies it to the pods, like kube-proxy
                    "clusterIP": f"127.8.0.{len(self.services) + 1}",
                    "clusterIPs": [f"127.8.0.{len(self.services) + 1}"],
                },
                "status": {"loadBalancer": {}},
            }
            if spec is not None:
                self.services[f"{ns}/{name}"]["spec"] = spec

    def add_pod(
        self,
        ns: str,
        name: str,
        labels: dict[str, str],
        backends: dict[int, str],
        *,
        ready: bool = True,
        limits: dict[str, str] | None = None,
        requests: dict[str, str] | None = None,
        port_names: dict[int, str] | None = None,
        model_name: str | None = None,
        image: str = "tensorflow/serving:2.18.0",
        container: str = "serving",
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        declared_ports: list[int] | None = None,
        annotations: dict[str, str] | None = None,
        sidecars: list[dict] | None = None,
    ) -> None:
        """A pod whose ports in ``backends`` are relayed to ``host:port``. The server container
        declares ``declared_ports`` (default: those of ``backends``) with ``port_names``;
        ``model_name`` sets MODEL_NAME (TF Serving's), ``env``/``args`` anything else."""
        names = port_names or {8500: "grpc", 8501: "http"}
        declared = sorted(backends) if declared_ports is None else declared_ports
        variables = ({"MODEL_NAME": model_name} if model_name else {}) | dict(env or {})
        server = {
            "name": container,
            "image": image,
            "ports": [
                {
                    "containerPort": p,
                    "protocol": "TCP",
                    **({"name": names[p]} if p in names else {}),
                }
                for p in declared
            ],
            "resources": {k: v for k, v in (("limits", limits), ("requests", requests)) if v},
            "env": [{"name": k, "value": v} for k, v in variables.items()],
            **({"args": list(args)} if args else {}),
        }
        with self._lock:
            self.pods[f"{ns}/{name}"] = {
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "uid": str(uuid.uuid4()),
                    "labels": dict(labels),
                    "annotations": dict(annotations or {}),
                    "creationTimestamp": _now(),
                },
                "spec": {"containers": [server, *(sidecars or [])]},
                "status": self._pod_status(ready),
                "_backends": dict(backends),
            }

    @staticmethod
    def _pod_status(ready: bool) -> dict:
        flag = "True" if ready else "False"
        state = (
            {"running": {"startedAt": _now()}}
            if ready
            else {"waiting": {"reason": "ContainerCreating"}}
        )
        return {
            "phase": "Running" if ready else "Pending",
            "podIP": "10.1.0.5",
            "conditions": [
                {"type": "Ready", "status": flag, "lastTransitionTime": _now()},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": _now()},
            ],
            "containerStatuses": [
                {
                    "name": "serving",
                    "ready": ready,
                    "restartCount": 0,
                    "image": "tensorflow/serving:2.18.0",
                    "imageID": "",
                    "state": state,
                }
            ],
        }

    def set_ready(self, ns: str, name: str, ready: bool) -> None:
        with self._lock:
            self.pods[f"{ns}/{name}"]["status"] = self._pod_status(ready)

    def delete_pod(self, ns: str, name: str) -> None:
        """Remove the pod and end its port-forward streams, as the API server does when it dies."""
        key = f"{ns}/{name}"
        with self._lock:
            self.pods.pop(key, None)
            sockets = list(self._sockets.pop(key, ()))
        if self._loop is not None and sockets:

            async def close_all() -> None:
                for ws in sockets:
                    await ws.close()

            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(10)

    def forbid(self, resource: str, namespace: str = "*") -> None:
        self.forbidden.add((resource, namespace))

    # ------------------------------------------------------------------ handlers

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        self.requests.append(f"{request.method} {request.path_qs}")
        self.answering += 1
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)  # the stand-in's behaviour: a slow API server
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _status(401, "Unauthorized", "Unauthorized")
            return await handler(request)
        finally:
            self.answering -= 1

    def _denied(
        self, verb: str, resource: str, ns: str | None, name: str = ""
    ) -> web.Response | None:
        if (resource, "*") in self.forbidden or (resource, ns or "") in self.forbidden:
            what = (
                f'{resource.split("/")[0]} "{name}" is forbidden: '
                if name
                else f"{resource} is forbidden: "
            )
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            group = {
                "endpointslices": ' in API group "discovery.k8s.io"',
                "inferenceservices": ' in API group "serving.kserve.io"',
            }.get(resource, ' in API group ""')
            return _status(
                403,
                "Forbidden",
                f'{what}User "tester" cannot {verb} resource "{resource}"{group}{where}',
                resource,
                name,
            )
        return None

    @staticmethod
    def _list(kind: str, items: list[dict], api_version: str = "v1") -> web.Response:
        return web.json_response(
            {
                "kind": kind,
                "apiVersion": api_version,
                "metadata": {"resourceVersion": "1"},
                "items": items,
            }
        )

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    async def _list_namespaces(self, request: web.Request) -> web.Response:
        return self._denied("list", "namespaces", None) or self._list(
            "NamespaceList", [self._public(n) for _, n in sorted(self.namespaces.items())]
        )

    async def _get_namespace(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        denied = self._denied("get", "namespaces", None, ns)
        if denied:
            return denied
        if ns not in self.namespaces:
            return _status(404, "NotFound", f'namespaces "{ns}" not found', "namespaces", ns)
        return web.json_response(self._public(self.namespaces[ns]))

    async def _list_all_services(self, request: web.Request) -> web.Response:
        return self._denied("list", "services", None) or self._list(
            "ServiceList", [self._public(s) for _, s in sorted(self.services.items())]
        )

    async def _list_services(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        items = [
            self._public(s) for k, s in sorted(self.services.items()) if k.startswith(ns + "/")
        ]
        return self._denied("list", "services", ns) or self._list("ServiceList", items)

    def _get_one(self, request: web.Request, resource: str, store: dict) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("get", resource, ns, name)
        if denied:
            return denied
        obj = store.get(f"{ns}/{name}")
        if obj is None:
            return _status(404, "NotFound", f'{resource} "{name}" not found', resource, name)
        return web.json_response(self._public(obj))

    async def _get_service(self, request: web.Request) -> web.Response:
        return self._get_one(request, "services", self.services)

    def _no_kserve(self) -> web.Response | None:
        if self.kserve_installed:
            return None
        return web.Response(status=404, text="404 page not found\n")

    async def _list_all_isvcs(self, request: web.Request) -> web.Response:
        return (
            self._no_kserve()
            or self._denied("list", "inferenceservices", None)
            or self._list(
                "InferenceServiceList",
                [copy.deepcopy(i) for _, i in sorted(self.isvcs.items())],
                "serving.kserve.io/v1beta1",
            )
        )

    async def _list_isvcs(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        items = [copy.deepcopy(i) for k, i in sorted(self.isvcs.items()) if k.startswith(ns + "/")]
        return (
            self._no_kserve()
            or self._denied("list", "inferenceservices", ns)
            or self._list("InferenceServiceList", items, "serving.kserve.io/v1beta1")
        )

    async def _get_isvc(self, request: web.Request) -> web.Response:
        return self._no_kserve() or self._get_one(
            request, "inferenceservices.serving.kserve.io", self.isvcs
        )

    def _pods_in(self, ns: str, selector: str) -> list[dict]:
        with self._lock:
            pods = [p for k, p in sorted(self.pods.items()) if k.startswith(ns + "/")]
        return [p for p in pods if _matches(p["metadata"]["labels"], selector)]

    async def _list_pods(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        items = [self._public(p) for p in self._pods_in(ns, request.query.get("labelSelector", ""))]
        return self._denied("list", "pods", ns) or self._list("PodList", items)

    async def _get_pod(self, request: web.Request) -> web.Response:
        return self._get_one(request, "pods", self.pods)

    async def _list_slices(self, request: web.Request) -> web.Response:
        if not self.slices_supported:
            return _status(404, "NotFound", "the server could not find the requested resource")
        ns = request.match_info["ns"]
        denied = self._denied("list", "endpointslices", ns)
        if denied:
            return denied
        selector = request.query.get("labelSelector", "")
        items = []
        for key, svc in sorted(self.services.items()):
            if not key.startswith(ns + "/") or not svc["spec"].get("selector"):
                continue
            name = svc["metadata"]["name"]
            labels = {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            }
            if not _matches(labels, selector):
                continue
            items.append(self._slice_for(ns, name, svc, labels))
        return self._list("EndpointSliceList", items, "discovery.k8s.io/v1")

    def _slice_for(self, ns: str, name: str, svc: dict, labels: dict) -> dict:
        pods = self._pods_in(ns, ",".join(f"{k}={v}" for k, v in svc["spec"]["selector"].items()))
        ports = []
        for sp in svc["spec"]["ports"]:
            tp = sp["targetPort"]
            if isinstance(tp, str) and pods:
                tp = next(
                    (
                        p["containerPort"]
                        for c in pods[0]["spec"]["containers"]
                        for p in c.get("ports", [])
                        if p.get("name") == tp
                    ),
                    None,
                )
            if isinstance(tp, int):
                ports.append({"name": sp.get("name", ""), "port": tp, "protocol": "TCP"})
        endpoints = []
        for pod in pods:
            ready = pod["status"]["conditions"][0]["status"] == "True"
            endpoints.append(
                {
                    "addresses": [pod["status"]["podIP"]],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": ns,
                        "name": pod["metadata"]["name"],
                        "uid": pod["metadata"]["uid"],
                    },
                }
            )
        return {
            "metadata": {
                "name": f"{name}-abcde",
                "namespace": ns,
                "labels": labels,
                "generateName": f"{name}-",
                "creationTimestamp": _now(),
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        }

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("create", "pods/portforward", ns, name)
        if denied:
            return denied
        key = f"{ns}/{name}"
        pod = self.pods.get(key)
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found', "pods", name)
        ports = [int(p) for v in request.query.getall("ports", []) for p in v.split(",") if p]
        if not ports:
            return _status(400, "BadRequest", "at least 1 port is required")
        ws = web.WebSocketResponse(protocols=(V4,), max_msg_size=0, autoping=True)
        await ws.prepare(request)
        with self._lock:
            self.forwards[key] = self.forwards.get(key, 0) + 1
            self._sockets.setdefault(key, set()).add(ws)
        writers: list[asyncio.StreamWriter | None] = []
        pumps = []
        try:
            for i, port in enumerate(ports):
                prefix = port.to_bytes(2, "little")
                await ws.send_bytes(bytes([2 * i]) + prefix)
                await ws.send_bytes(bytes([2 * i + 1]) + prefix)
            for i, port in enumerate(ports):
                writer = None
                target = pod["_backends"].get(port)
                try:
                    if target is None:
                        raise ConnectionRefusedError("connection refused")
                    host, _, tport = target.rpartition(":")
                    reader, writer = await asyncio.open_connection(host, int(tport))
                except OSError as exc:
                    msg = (
                        f"error forwarding port {port} to pod {name}, uid {pod['metadata']['uid']}: "
                        f"failed to connect to localhost:{port} inside namespace: {exc}"
                    )
                    await ws.send_bytes(bytes([2 * i + 1]) + msg.encode())
                    writers.append(None)
                    continue
                writers.append(writer)
                pumps.append(asyncio.ensure_future(self._from_backend(reader, ws, 2 * i)))
            if all(w is None for w in writers):
                return ws
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                w = (
                    writers[channel // 2]
                    if channel % 2 == 0 and channel // 2 < len(writers)
                    else None
                )
                if w is not None and data:
                    w.write(data)
                    await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for p in pumps:
                p.cancel()
            for w in writers:
                if w is not None:
                    w.close()
            with self._lock:
                self._sockets.get(key, set()).discard(ws)
            await ws.close()
        return ws

    @staticmethod
    async def _from_backend(
        reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int
    ) -> None:
        try:
            while True:
                data = await reader.read(256 * 1024)
                if not data:
                    break
                await ws.send_bytes(bytes([channel]) + data)
        except (ConnectionError, RuntimeError):
            pass
        await ws.close()


# --------------------------------------------------------------------------- pytest helpers


class EchoServer:
    """A plain TCP echo server on 127.0.0.1 (a stand-in pod port for relay tests that need no model)."""

    def __init__(self) -> None:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def kube(tmp_path, monkeypatch):
    """A fresh API server; KUBECONFIG has contexts "test" (namespace tfs, current) and "other"."""
    server = KubeAPIServer().start()
    path = server.kubeconfig(tmp_path / "kubeconfig", contexts={"test": "tfs", "other": "default"})
    monkeypatch.setenv("KUBECONFIG", str(path))
    yield server
    server.stop()


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


TFS = {"app.kubernetes.io/name": "tensorflow-serving"}


def add_tfs_service(
    server: KubeAPIServer,
    name: str,
    ns: str = "tfs",
    *,
    grpc: str | None = None,
    rest: str | None = None,
    ready: bool = True,
    pod: str | None = None,
    limits: dict[str, str] | None = None,
    model_name: str | None = "tiny",
) -> str:
    """A TF Serving Service + one pod like the k8s/ manifests make; returns the pod name."""
    labels = {**TFS, "app.kubernetes.io/instance": name}
    server.add_service(
        ns,
        name,
        [
            {"name": "grpc", "port": 8500, "targetPort": "grpc"},
            {"name": "http", "port": 8501, "targetPort": "http"},
        ],
        {"app.kubernetes.io/instance": name},
        labels,
    )
    pod = pod or f"{name}-7d9f-x1"
    backends = {p: a for p, a in ((8500, grpc), (8501, rest)) if a}
    server.add_pod(
        ns,
        pod,
        labels,
        backends or {8500: "127.0.0.1:9"},
        ready=ready,
        limits=limits,
        model_name=model_name,
    )
    return pod
