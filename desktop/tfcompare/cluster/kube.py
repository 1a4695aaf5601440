"""kubeconfig handling the way kubectl does it: ``KUBECONFIG`` (several files joined by the path
separator, merged), else ``~/.kube/config``; the current context unless one is named; in a pod
without a kubeconfig, the in-cluster service account.

``KUBECONFIG`` is read at call time (the client library reads it once, at import).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tfcompare.cluster.cluster_errors import ClusterError

IN_CLUSTER = "in-cluster"
REQUEST_TIMEOUT = (5.0, 20.0)  # (connect, read) seconds for every REST call


@dataclass(frozen=True)
class ContextInfo:
    name: str
    cluster: str
    namespace: str  # the context's default namespace ("default" when not set)
    current: bool


def kubeconfig_files() -> list[Path]:
    value = os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in value.split(os.pathsep) if p] if value else []
    return paths or [Path("~/.kube/config").expanduser()]


def context_names() -> frozenset[str] | None:
    """The kubeconfig's context names, read cheaply (its YAML only, without the client library):
    what tells ``k8s://CONTEXT/NAMESPACE/SERVICE`` from ``k8s://NAMESPACE/SERVICE/MODEL``.
    None when no kubeconfig can be read."""
    import yaml

    names: set[str] = set()
    found = False
    for path in kubeconfig_files():
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        found = True
        contexts = doc.get("contexts") if isinstance(doc, dict) else None
        for entry in contexts if isinstance(contexts, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                names.add(entry["name"])
    return frozenset(names) if found else None


def _existing_config() -> str | None:
    files = [p for p in kubeconfig_files() if p.is_file()]
    return os.pathsep.join(str(p) for p in files) if files else None


def _in_cluster() -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and Path("/var/run/secrets/kubernetes.io/serviceaccount/token").is_file()
    )


def _no_config() -> ClusterError:
    where = ", ".join(str(p) for p in kubeconfig_files())
    return ClusterError(
        f"no kubeconfig found (looked at {where}): set KUBECONFIG or create ~/.kube/config "
        "(e.g. with your cloud provider's 'get-credentials' command)"
    )


def list_contexts() -> list[ContextInfo]:
    """All contexts of the merged kubeconfig, the current one marked."""
    config_file = _existing_config()
    if config_file is None:
        if _in_cluster():
            return [ContextInfo(IN_CLUSTER, IN_CLUSTER, _in_cluster_namespace(), True)]
        raise _no_config()
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts(config_file=config_file)
    except config.ConfigException as exc:
        raise ClusterError(f"cannot use the kubeconfig {config_file}: {exc}") from None
    active_name = (active or {}).get("name")
    return [
        ContextInfo(
            name=c["name"],
            cluster=str((c.get("context") or {}).get("cluster", "")),
            namespace=str((c.get("context") or {}).get("namespace") or "default"),
            current=c["name"] == active_name,
        )
        for c in contexts or []
    ]


def _in_cluster_namespace() -> str:
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.is_file() else "default"


def resolve_context(context: str | None) -> ContextInfo:
    """The named context (or the current one), with a clear error when it does not exist."""
    contexts = list_contexts()
    if context is None:
        for c in contexts:
            if c.current:
                return c
        if len(contexts) == 1:
            return contexts[0]
        raise ClusterError("the kubeconfig has no current context: pass one (--context NAME)")
    for c in contexts:
        if c.name == context:
            return c
    names = ", ".join(c.name for c in contexts) or "none"
    raise ClusterError(f"no context {context!r} in the kubeconfig (contexts: {names})", 404)


def is_current(context: str) -> bool:
    """Whether ``context`` is the kubeconfig's current context (False when that cannot be read)."""
    try:
        return any(c.current and c.name == context for c in list_contexts())
    except ClusterError:
        return False


def api_client(context: str | None = None):
    """A fresh ``kubernetes.client.ApiClient`` for the context (not shared between threads that
    port-forward: the client's port-forward temporarily swaps the ApiClient's transport)."""
    from kubernetes import client, config

    ctx = resolve_context(context)
    configuration = client.Configuration()
    try:
        if ctx.name == IN_CLUSTER and _existing_config() is None:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=_existing_config(),
                context=ctx.name,
                client_configuration=configuration,
                persist_config=False,
            )
    except (config.ConfigException, OSError, ValueError) as exc:
        raise ClusterError(f"cannot use kubeconfig context {ctx.name!r}: {exc}") from None
    configuration.retries = 1
    return client.ApiClient(configuration=configuration)


def server_of(api) -> str:
    """The API server URL an ApiClient talks to (for messages)."""
    return str(getattr(api.configuration, "host", "") or "")
