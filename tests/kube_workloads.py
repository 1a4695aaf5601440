"""Jobs, ConfigMaps and pod logs for the local Kubernetes API server (tests/kube_api_server.py).

What a cluster does for a load Job, done locally and spoken over the real API:

- ConfigMaps: create / get / patch (strategic merge of ``data``/``binaryData``/metadata) / delete,
  refused above 1 MiB like the real API server; garbage-collected with the Job that owns them.
- Secrets: create / patch (metadata) / delete, likewise, never listed or read back through the
  API (the load Job's user Role has no get/list on them); a ``secret`` volume is written out with
  each key's file in the volume's ``defaultMode``.
- Jobs (``batch/v1``): creating one starts ``parallelism`` pods, each running its container's
  ``command`` + ``args`` as a local process with the pod's environment (``env``, ``HOSTNAME``, and
  ``JOB_COMPLETION_INDEX`` for Indexed Jobs, as the Job controller sets it) and each ConfigMap
  volume written out as files, rewritten in place when the ConfigMap changes, like the kubelet does.
  Pod phases go Running → Succeeded/Failed with the exit code; a failed or deleted pod is replaced
  (same index) while the Job's ``backoffLimit`` allows; ``activeDeadlineSeconds`` ends the Job.
  Deleting a Job (any propagation policy) terminates its pods' processes (SIGTERM, then SIGKILL).
- ``pods/{name}/log``: the process's stdout+stderr, streamed with ``follow=true`` until it exits.
- Services have a loopback ClusterIP (127.8.0.N); a Job's creation starts a TCP proxy per service
  port to a ready pod's backend, as kube-proxy does, so agents address backends by ClusterIP:port.

The liberties a local process forces: a mount path in the command line or environment is replaced
by the folder holding that volume's files (no mount namespace), ``tfcompare`` as the command runs
this interpreter's ``-m tfcompare``, and the pod's environment starts from this process's (PATH,
the virtualenv) without ``KUBECONFIG``: an agent cannot reach the API server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from aiohttp import web

CONFIGMAP_LIMIT = 1024 * 1024


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Workloads:
    """Attached to a KubeAPIServer as ``server.workloads``; its routes are added at start."""

    def __init__(self, server) -> None:
        self.server = server
        self.configmaps: dict[str, dict] = {}
        self.secrets: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.procs: dict[str, subprocess.Popen] = {}  # pod key -> process
        self.all_procs: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}
        self.mounts: dict[str, list[tuple[Path, dict]]] = {}  # configmap key -> (dir, volume)
        self.root = Path(tempfile.mkdtemp(prefix="tfcompare-kube-pods-"))
        self.proxies: dict[tuple[str, int], object] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ routes

    def routes(self, r) -> None:
        core, batch = "/api/v1/namespaces/{ns}", "/apis/batch/v1/namespaces/{ns}"
        r.add_post(f"{core}/configmaps", self._create_configmap)
        r.add_get(f"{core}/configmaps", self._lister(self.configmaps, "ConfigMapList", "v1"))
        r.add_get(f"{core}/configmaps/{{name}}", self._getter(self.configmaps, "configmaps"))
        r.add_patch(f"{core}/configmaps/{{name}}", self._patch_configmap)
        r.add_delete(f"{core}/configmaps/{{name}}", self._delete_configmap)
        r.add_post(f"{core}/secrets", self._create_secret)
        r.add_patch(f"{core}/secrets/{{name}}", self._patch_secret)
        r.add_delete(f"{core}/secrets/{{name}}", self._delete_secret)
        r.add_post(f"{batch}/jobs", self._create_job)
        r.add_get(f"{batch}/jobs", self._lister(self.jobs, "JobList", "batch/v1"))
        r.add_get(f"{batch}/jobs/{{name}}", self._getter(self.jobs, "jobs.batch"))
        r.add_delete(f"{batch}/jobs/{{name}}", self._delete_job)
        r.add_get(f"{core}/pods/{{name}}/log", self._pod_log)
        r.add_delete(f"{core}/pods/{{name}}", self._delete_pod)

    # ------------------------------------------------------------------ helpers

    def _status(self, code: int, reason: str, message: str) -> web.Response:
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            },
            status=code,
        )

    @staticmethod
    def _ok() -> web.Response:
        return web.json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        )

    @staticmethod
    def _meta(obj: dict, ns: str) -> dict:
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = ns
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = str(int(time.time() * 1000))
        return meta

    def _lister(self, store: dict, kind: str, api_version: str):
        async def handler(request: web.Request) -> web.Response:
            ns = request.match_info["ns"]
            items = [o for k, o in sorted(store.items()) if k.startswith(ns + "/")]
            return web.json_response(
                {"kind": kind, "apiVersion": api_version, "metadata": {}, "items": items}
            )

        return handler

    def _getter(self, store: dict, resource: str):
        async def handler(request: web.Request) -> web.Response:
            ns, name = request.match_info["ns"], request.match_info["name"]
            obj = store.get(f"{ns}/{name}")
            if obj is None:
                return self._status(404, "NotFound", f'{resource} "{name}" not found')
            return web.json_response(obj)

        return handler

    def _denied(self, verb: str, resource: str, ns: str, name: str = ""):
        return self.server._denied(verb, resource, ns, name)

    # ------------------------------------------------------------------ configmaps

    @staticmethod
    def _size(cm: dict) -> int:
        data = sum(len(k) + len(v.encode()) for k, v in (cm.get("data") or {}).items())
        binary = sum(
            len(k) + len(base64.b64decode(v)) for k, v in (cm.get("binaryData") or {}).items()
        )
        return data + binary

    async def _create_configmap(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        denied = self._denied("create", "configmaps", ns)
        if denied:
            return denied
        cm = await request.json()
        name = cm.get("metadata", {}).get("name", "")
        if self._size(cm) > CONFIGMAP_LIMIT:
            return self._status(
                422,
                "Invalid",
                f'ConfigMap "{name}" is invalid: []: Too long: '
                f"must have at most {CONFIGMAP_LIMIT} bytes",
            )
        with self._lock:
            if f"{ns}/{name}" in self.configmaps:
                return self._status(409, "AlreadyExists", f'configmaps "{name}" already exists')
            self._meta(cm, ns)
            self.configmaps[f"{ns}/{name}"] = cm
        return web.json_response(cm, status=201)

    async def _patch_configmap(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("patch", "configmaps", ns, name)
        if denied:
            return denied
        patch = await request.json()
        with self._lock:
            cm = self.configmaps.get(f"{ns}/{name}")
            if cm is None:
                return self._status(404, "NotFound", f'configmaps "{name}" not found')
            for key in ("data", "binaryData"):
                if key in patch:
                    cm.setdefault(key, {}).update(patch[key] or {})
            for key, value in (patch.get("metadata") or {}).items():
                cm["metadata"][key] = value
            self._meta(cm, ns)
            mounts = list(self.mounts.get(f"{ns}/{name}", ()))
        for folder, volume in mounts:
            self._write_volume(folder, cm, volume)
        return web.json_response(cm)

    async def _delete_configmap(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        with self._lock:
            if self.configmaps.pop(f"{ns}/{name}", None) is None:
                return self._status(404, "NotFound", f'configmaps "{name}" not found')
        return self._ok()

    @staticmethod
    def _write_volume(folder: Path, cm: dict, volume: dict) -> None:
        """The kubelet's atomic writer: every key as a file, swapped in at once."""
        files = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
        files.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
        folder.mkdir(parents=True, exist_ok=True)
        for key, content in files.items():
            tmp = folder / f".{key}.tmp"
            tmp.write_bytes(content)
            os.replace(tmp, folder / key)

    # ------------------------------------------------------------------ secrets

    async def _create_secret(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        denied = self._denied("create", "secrets", ns)
        if denied:
            return denied
        secret = await request.json()
        name = secret.get("metadata", {}).get("name", "")
        with self._lock:
            if f"{ns}/{name}" in self.secrets:
                return self._status(409, "AlreadyExists", f'secrets "{name}" already exists')
            self._meta(secret, ns)
            self.secrets[f"{ns}/{name}"] = secret
        return web.json_response(secret, status=201)

    async def _patch_secret(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("patch", "secrets", ns, name)
        if denied:
            return denied
        patch = await request.json()
        with self._lock:
            secret = self.secrets.get(f"{ns}/{name}")
            if secret is None:
                return self._status(404, "NotFound", f'secrets "{name}" not found')
            for key, value in (patch.get("metadata") or {}).items():
                secret["metadata"][key] = value
            self._meta(secret, ns)
        return web.json_response(secret)

    async def _delete_secret(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("delete", "secrets", ns, name)
        if denied:
            return denied
        with self._lock:
            if self.secrets.pop(f"{ns}/{name}", None) is None:
                return self._status(404, "NotFound", f'secrets "{name}" not found')
        return self._ok()

    @staticmethod
    def _write_secret(folder: Path, secret: dict, volume: dict) -> None:
        mode = int(volume["secret"].get("defaultMode", 0o644))
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in (secret.get("data") or {}).items():
            path = folder / key
            path.write_bytes(base64.b64decode(value))
            path.chmod(mode)

    # ------------------------------------------------------------------ jobs and pods

    async def _create_job(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        denied = self._denied("create", "jobs", ns)
        if denied:
            return denied
        job = await request.json()
        name = job.get("metadata", {}).get("name", "")
        with self._lock:
            if f"{ns}/{name}" in self.jobs:
                return self._status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
            self._meta(job, ns)
            job["status"] = {"active": 0, "succeeded": 0, "failed": 0, "startTime": _now()}
            self.jobs[f"{ns}/{name}"] = job
        await self._ensure_proxies()
        for index in range(int(job["spec"].get("parallelism", 1))):
            self._start_pod(ns, job, index)
        deadline = job["spec"].get("activeDeadlineSeconds")
        if deadline:
            timer = threading.Timer(float(deadline), self._deadline, args=(ns, name))
            timer.daemon = True
            timer.start()
        return web.json_response(job, status=201)

    async def _delete_job(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("delete", "jobs", ns, name)
        if denied:
            return denied
        with self._lock:
            job = self.jobs.get(f"{ns}/{name}")
        if job is None:
            return self._status(404, "NotFound", f'jobs.batch "{name}" not found')
        await asyncio.to_thread(self.delete_job, ns, name)
        return self._ok()

    def delete_job(self, ns: str, name: str) -> None:
        """Remove the Job, end its pods' processes and collect the ConfigMaps it owns."""
        with self._lock:
            job = self.jobs.pop(f"{ns}/{name}", None)
            if job is None:
                return
            uid = job["metadata"]["uid"]
            pods = [
                k
                for k, p in self.server.pods.items()
                if p["metadata"].get("labels", {}).get("job-name") == name
                and k.startswith(ns + "/")
            ]
            owned = [
                k
                for k, c in self.configmaps.items()
                if any(o.get("uid") == uid for o in c["metadata"].get("ownerReferences", []))
            ]
            for key in owned:
                del self.configmaps[key]
            for key in [
                k
                for k, c in self.secrets.items()
                if any(o.get("uid") == uid for o in c["metadata"].get("ownerReferences", []))
            ]:
                del self.secrets[key]
        for key in pods:
            self._end_pod(key)

    def _deadline(self, ns: str, name: str) -> None:
        with self._lock:
            job = self.jobs.get(f"{ns}/{name}")
            if job is None:
                return
            job["status"]["conditions"] = [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
            ]
            pods = [
                k
                for k, p in self.server.pods.items()
                if p["metadata"].get("labels", {}).get("job-name") == name
            ]
        for key in pods:
            self._end_pod(key, remove=False)

    def _start_pod(self, ns: str, job: dict, index: int) -> None:
        name = job["metadata"]["name"]
        pod_name = f"{name}-{index}-{uuid.uuid4().hex[:5]}"
        key = f"{ns}/{pod_name}"
        template = copy.deepcopy(job["spec"]["template"])
        labels = {
            **template.get("metadata", {}).get("labels", {}),
            "job-name": name,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": job["metadata"]["uid"],
            "batch.kubernetes.io/job-completion-index": str(index),
        }
        spec = template["spec"]
        container = spec["containers"][0]
        folder = self.root / pod_name
        replace: dict[str, str] = {}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            where = folder / mount["name"]
            where.mkdir(parents=True, exist_ok=True)
            # a configMap volume, or ConfigMaps projected into one folder (the kubelet writes
            # each source's keys there and refreshes them when a source changes)
            sources = [volume] if "configMap" in volume else []
            sources += [
                s for s in volume.get("projected", {}).get("sources", []) if "configMap" in s
            ]
            if sources:
                for source in sources:
                    cm_key = f"{ns}/{source['configMap']['name']}"
                    with self._lock:
                        cm = self.configmaps.get(cm_key)
                        self.mounts.setdefault(cm_key, []).append((where, source))
                    if cm is not None:
                        self._write_volume(where, cm, source)
            elif "secret" in volume:
                with self._lock:
                    secret = self.secrets.get(f"{ns}/{volume['secret']['secretName']}")
                if secret is not None:
                    self._write_secret(where, secret, volume)
            replace[mount["mountPath"].rstrip("/")] = str(where)
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(HOSTNAME=pod_name, JOB_COMPLETION_INDEX=str(index), PYTHONUNBUFFERED="1")
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = _rewrite(item["value"], replace)
        argv = [
            _rewrite(a, replace) for a in container.get("command", []) + container.get("args", [])
        ]
        if argv and argv[0] == "tfcompare":
            argv = [sys.executable, "-m", "tfcompare", *argv[1:]]
        log = folder / "log"
        with self.server._lock:
            self.server.pods[key] = {
                "metadata": {
                    "name": pod_name,
                    "namespace": ns,
                    "uid": str(uuid.uuid4()),
                    "labels": labels,
                    "creationTimestamp": _now(),
                    "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                    "ownerReferences": [
                        {
                            "apiVersion": "batch/v1",
                            "kind": "Job",
                            "name": name,
                            "uid": job["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": spec,
                "status": {
                    "phase": "Running",
                    "podIP": "10.1.0.9",
                    "startTime": _now(),
                    "containerStatuses": [
                        {
                            "name": container["name"],
                            "ready": True,
                            "restartCount": 0,
                            "image": container["image"],
                            "imageID": "",
                            "state": {"running": {"startedAt": _now()}},
                        }
                    ],
                },
                "_backends": {},
            }
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                start_new_session=True,
            )
        with self._lock:
            self.procs[key] = proc
            self.all_procs.append(proc)
            self.logs[key] = log
            job["status"]["active"] += 1
        threading.Thread(target=self._wait, args=(ns, key, job, index, proc), daemon=True).start()

    def _wait(self, ns: str, key: str, job: dict, index: int, proc: subprocess.Popen) -> None:
        code = proc.wait()
        with self._lock:
            self.procs.pop(key, None)
            pod = self.server.pods.get(key)
            job["status"]["active"] -= 1
            job["status"]["succeeded" if code == 0 else "failed"] += 1
            if pod is not None:
                pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
                pod["status"]["containerStatuses"][0]["ready"] = False
                pod["status"]["containerStatuses"][0]["state"] = {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "finishedAt": _now(),
                    }
                }
            alive = f"{ns}/{job['metadata']['name']}" in self.jobs and not job["status"].get(
                "conditions"
            )
            again = (
                code != 0
                and alive
                and job["status"]["failed"] <= int(job["spec"].get("backoffLimit", 6))
            )
        if again:  # the Job controller replaces a failed (or deleted) pod of this index
            time.sleep(0.3)  # the stand-in's behaviour: the controller's back-off before it does
            self._start_pod(ns, job, index)

    def _end_pod(self, key: str, *, remove: bool = True, grace_s: float = 2.0) -> None:
        with self._lock:
            proc = self.procs.get(key)
            pod = self.server.pods.get(key)
            if remove and pod is not None:  # as the API server does: marked, then stopped
                pod["metadata"]["deletionTimestamp"] = _now()
        if proc is not None and proc.poll() is None:
            with _suppress():
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if remove:
            self.server.delete_pod(*key.split("/", 1))

    async def _delete_pod(self, request: web.Request) -> web.Response:
        """Deleting a pod (an eviction does this too): its process is terminated."""
        ns, name = request.match_info["ns"], request.match_info["name"]
        if f"{ns}/{name}" not in self.server.pods:
            return self._status(404, "NotFound", f'pods "{name}" not found')
        await asyncio.to_thread(self._end_pod, f"{ns}/{name}")
        return self._ok()

    def evict(self, ns: str, name: str) -> None:
        """What a node drain or eviction does to a pod: terminated, then gone."""
        self._end_pod(f"{ns}/{name}", grace_s=0.5)

    async def _pod_log(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        denied = self._denied("get", "pods/log", ns, name)
        if denied:
            return denied
        key = f"{ns}/{name}"
        path = self.logs.get(key)
        if key not in self.server.pods or path is None:
            return self._status(404, "NotFound", f'pods "{name}" not found')
        follow = request.query.get("follow") == "true"
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        pos = 0
        with open(path, "rb") as fh:
            while True:
                fh.seek(pos)
                data = fh.read(256 * 1024)
                if data:
                    pos += len(data)
                    await resp.write(data)
                    continue
                running = key in self.procs and key in self.server.pods
                if not follow or not running:
                    if not running:  # drain what the process wrote last
                        fh.seek(pos)
                        rest = fh.read()
                        if rest:
                            await resp.write(rest)
                    break
                await asyncio.sleep(0.05)  # following the log: polling the file for more
        await resp.write_eof()
        return resp

    # ------------------------------------------------------------------ services (kube-proxy)

    async def _ensure_proxies(self) -> None:
        with self.server._lock:
            services = list(self.server.services.items())
        for key, svc in services:
            ip = svc["spec"].get("clusterIP")
            if not ip or not ip.startswith("127.8."):
                continue
            for port in svc["spec"]["ports"]:
                if (ip, port["port"]) not in self.proxies:
                    self.proxies[(ip, port["port"])] = await self._proxy(key, ip, port)

    async def _proxy(self, key: str, ip: str, port: dict):
        async def handle(reader, writer) -> None:
            target = self._endpoint(key, port)
            if target is None:
                writer.close()
                return
            host, _, tport = target.rpartition(":")
            try:
                up_r, up_w = await asyncio.open_connection(host, int(tport))
            except OSError:
                writer.close()
                return

            async def pump(src, dst) -> None:
                try:
                    while data := await src.read(256 * 1024):
                        dst.write(data)
                        await dst.drain()
                except (ConnectionError, asyncio.CancelledError):
                    pass
                with _suppress():
                    dst.close()

            await asyncio.gather(pump(reader, up_w), pump(up_r, writer))

        return await asyncio.start_server(handle, ip, port["port"])

    def _endpoint(self, key: str, port: dict) -> str | None:
        svc = self.server.services.get(key)
        if svc is None:
            return None
        ns = key.split("/", 1)[0]
        selector = ",".join(f"{k}={v}" for k, v in (svc["spec"].get("selector") or {}).items())
        for pod in self.server._pods_in(ns, selector):
            if pod["status"].get("conditions", [{}])[0].get("status") != "True":
                continue
            tp = port["targetPort"]
            if isinstance(tp, str):
                tp = next(
                    (
                        p["containerPort"]
                        for c in pod["spec"]["containers"]
                        for p in c.get("ports", [])
                        if p.get("name") == tp
                    ),
                    None,
                )
            if tp in pod["_backends"]:
                return pod["_backends"][tp]
        return None

    def close(self) -> None:
        for key in list(self.procs):
            self._end_pod(key, remove=False, grace_s=0.5)

        async def stop() -> None:
            for server in self.proxies.values():
                server.close()

        if self.server._loop is not None and self.proxies:
            asyncio.run_coroutine_threadsafe(stop(), self.server._loop).result(10)

    def running(self) -> list[subprocess.Popen]:
        return [p for p in self.all_procs if p.poll() is None]


def _rewrite(text: str, replace: dict[str, str]) -> str:
    for mount, folder in replace.items():
        if text == mount or text.startswith(mount + "/"):
            return folder + text[len(mount) :]
    return text


def _suppress():
    return contextlib.suppress(OSError)
