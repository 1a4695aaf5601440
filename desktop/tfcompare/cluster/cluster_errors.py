"""Turn what the Kubernetes client raises into messages a user can act on.

The client reports HTTP failures as ``ApiException`` (status + a JSON ``Status`` body), WebSocket
handshake failures as ``ApiException(status=0, reason="Handshake status 403 …")`` and network
failures as urllib3 / OS errors. Callers only ever see :class:`ClusterError`.
"""

from __future__ import annotations

import ast
import json
import re

_HANDSHAKE_RE = re.compile(r"Handshake status (\d{3})")


class ClusterError(Exception):
    """A cluster operation failed; ``str(exc)`` is meant for the user. ``status`` is the HTTP status
    when the API server answered (401, 403, 404 …), 0 when it could not be reached, None otherwise."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class PlanTooLarge(ClusterError):
    """A load plan larger than a ConfigMap may hold: what was asked for cannot be run this way
    (fewer or smaller images), whatever the cluster does."""


def _status_message(body: object) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, if the body is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    # a WebSocket handshake error reads "Handshake status 403 Forbidden -+-+- {headers} -+-+- body"
    text = body.rsplit("-+-+-", 1)[-1].strip()
    if text[:2] in ("b'", 'b"'):
        try:
            raw = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return ""
        if not isinstance(raw, bytes):  # "b'…', 'more'" reads as a tuple
            return ""
        text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
        return ""
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def _unreachable(server: str, detail: str) -> ClusterError:
    return ClusterError(
        f"cannot reach the Kubernetes API server {server}: {detail}. "
        "Check the network/VPN and that the kubeconfig context points at a running cluster.",
        status=0,
    )


def _short(exc: BaseException) -> str:
    text = str(exc)
    for needle, short in (
        ("Connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("Name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("No route to host", "no route to host"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
    ):
        if needle in text:
            return short
    return text.splitlines()[0][:200] if text else type(exc).__name__


def translate(exc: BaseException, what: str, server: str = "") -> ClusterError:
    """Map an exception from the Kubernetes client to a ClusterError about ``what``
    (e.g. ``"service tfs/tfs-cpu-1"``)."""
    if isinstance(exc, ClusterError):
        return exc
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        detail = _status_message(exc.body)
        reason = str(exc.reason or "")
        if status == 0:
            m = _HANDSHAKE_RE.search(reason)
            if m:
                status = int(m.group(1))
                detail = detail or _status_message(reason)
            else:
                return _unreachable(server, _short(Exception(reason)))
        return _http_error(status, detail or reason, what, server)
    if isinstance(exc, OSError) or type(exc).__module__.startswith(("urllib3", "websocket", "ssl")):
        return _unreachable(server, _short(exc))
    return ClusterError(f"{what}: {type(exc).__name__}: {exc}")


def _http_error(status: int, detail: str, what: str, server: str) -> ClusterError:
    if status == 401:
        return ClusterError(
            f"the Kubernetes API server {server} rejected the credentials (401 Unauthorized): the "
            "kubeconfig token or certificate is missing, expired or wrong — log in to the cluster "
            "again (e.g. refresh the cloud provider's credentials)",
            status,
        )
    if status == 403:
        return ClusterError(
            f"access to {what} was denied (403 Forbidden, RBAC): {detail}. Ask a cluster admin "
            "for the missing permission (tfcompare needs get/list on services, pods, "
            "endpointslices and create on pods/portforward)",
            status,
        )
    if status == 404:
        return ClusterError(f"{what} was not found (404): {detail}", status)
    return ClusterError(f"{what}: the API server answered {status}: {detail}", status)
