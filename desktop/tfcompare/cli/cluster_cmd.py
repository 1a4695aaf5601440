"""``tfcompare cluster``: list kubeconfig contexts and model servers, or hold a forward open.

``cluster list`` shows each discovered server (TF Serving, Triton, MLServer services, KServe
InferenceServices) with its kind, protocol, pod readiness, CPU/GPU/memory limits and the ``k8s://``
target to pass to ``tfcompare run``; ``cluster forward`` is a kubectl-style port-forward that
follows pod restarts (handy for pointing other tools at a backend).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from tfcompare.serving.protocols import DEFAULT, PROTOCOLS

    parser = subparsers.add_parser(
        "cluster",
        help="find model servers in Kubernetes (uses your kubeconfig, like kubectl)",
        description=(
            "Kubernetes helpers. Uses KUBECONFIG / ~/.kube/config and its current context, like "
            "kubectl; no kubectl binary is needed. Backends found here are passed to 'tfcompare run' "
            "as NAME=k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT][/MODEL][,protocol=NAME]."
        ),
        epilog="examples:\n  tfcompare cluster list -n tfs\n"
        "  tfcompare run photo.jpg --backend gpu=TARGET   (a TARGET the list printed)\n\n"
        "Exit status 0 on success, 1 when the kubeconfig, the cluster or "
        "the service cannot be reached or read, 2 for unusable arguments.",
    )
    sub = parser.add_subparsers(dest="cluster_command", metavar="ACTION")
    ls = sub.add_parser(
        "list",
        help="list model servers (TF Serving, Triton, MLServer, KServe) with readiness and limits",
        description=(
            "Services whose pods run TF Serving, Triton or MLServer (by image, labels such as "
            "app.kubernetes.io/name=tensorflow-serving, or their ports: 8500/8501, 8000/8001/8002, "
            "8080/8081/8082) and KServe InferenceServices, with the server KIND, the PROTOCOL a "
            "backend uses, ready/total pods, the first pod's resource limits (CPU, memory, "
            "nvidia.com/gpu), the model its pods declare, what the model takes (INPUT: encoded "
            "bytes, or a tensor such as float32 224×224×3 NHWC, asked through a port-forward) "
            "and the TARGET to paste after 'tfcompare run --backend NAME=' (model and "
            ",protocol= included)."
        ),
    )
    ls.add_argument(
        "--no-inputs",
        action="store_true",
        help="do not ask each ready server what its model takes (no port-forwards; quicker)",
    )
    ls.add_argument("--context", help="kubeconfig context (default: the current one)")
    ls.add_argument("--namespace", "-n", help="namespace (default: the context's namespace)")
    ls.add_argument("--all-namespaces", "-A", action="store_true", help="look in every namespace")
    ls.set_defaults(func=run_list)
    ctx = sub.add_parser(
        "contexts",
        help="list the kubeconfig's contexts",
        description=(
            "The contexts of KUBECONFIG / ~/.kube/config (the current one starred), their cluster "
            "and default namespace. A context other than the current one is named in targets as "
            "k8s://CONTEXT/NAMESPACE/SERVICE or with 'cluster list --context CONTEXT'."
        ),
    )
    ctx.set_defaults(func=run_contexts)
    fwd = sub.add_parser(
        "forward",
        help="forward a service to 127.0.0.1 and keep it open, reconnecting on pod restarts",
        description=(
            "Forward a model server's service to a free port on 127.0.0.1 until interrupted (Ctrl+C), "
            "like 'kubectl port-forward', but following pod restarts: when the pod goes away the "
            "service is resolved to another ready pod and the same local port keeps working. "
            "Prints the local address and each change."
        ),
        epilog=(
            "example:\n"
            "  tfcompare cluster forward k8s://tfs/tfs-gpu\n"
            "  # k8s://tfs/tfs-gpu -> 127.0.0.1:41234 (pod port 8500, forwarding to pod tfs-gpu-…)\n"
            "  grpcurl -plaintext 127.0.0.1:41234 list\n"
            "  tfcompare cluster forward k8s://ml/triton --protocol v2 --metrics\n"
            "  curl 127.0.0.1:41235/metrics   # Triton's metrics page (port 8002)\n\n"
            "Exit status 0 when stopped with Ctrl+C, 1 when the kubeconfig, the cluster or the "
            "service cannot be reached\nor read, 2 for unusable arguments."
        ),
    )
    fwd.add_argument(
        "target",
        metavar="k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT]",
        help="the service to forward, as in a backend spec (see 'tfcompare cluster list')",
    )
    fwd.add_argument(
        "--protocol",
        choices=tuple(PROTOCOLS),
        default=DEFAULT,
        help=f"which service port to pick when none is given: the port this protocol's server "
        f"uses (default {DEFAULT})",
    )
    fwd.add_argument(
        "--metrics",
        action="store_true",
        help="forward the protocol's metrics port instead (TF Serving's REST port, Triton 8002, "
        "MLServer 8082; reached on the pods when the service does not expose it)",
    )
    fwd.set_defaults(func=run_forward)
    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _table(rows: list[list[str]]) -> str:
    from tfcompare.terminal import one_line

    rows = [[one_line(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def run_list(args: argparse.Namespace) -> int:
    from tfcompare.cluster import ClusterError
    from tfcompare.cluster.discovery import discover
    from tfcompare.cluster.kube import resolve_context

    try:
        ctx = resolve_context(args.context)
        # without --context the targets stay short (k8s://NS/SVC) and follow the current context
        found = discover(args.context, args.namespace, all_namespaces=args.all_namespaces)
    except ClusterError as exc:
        print(f"tfcompare cluster list: {exc}", file=sys.stderr)
        return 1
    services = found.services
    where = (
        "all namespaces" if args.all_namespaces else f"namespace {args.namespace or ctx.namespace}"
    )
    if not services:
        print(f"no model servers in {where} (context {ctx.name})")
        for note in found.notes:
            print(f"note: {note}")
        return 0
    print(f"context {ctx.name}, {where}: {len(services)} model server(s)")
    inputs = {} if args.no_inputs else _model_inputs(services)
    rows = [
        ["NAMESPACE", "NAME", "KIND", "PROTOCOL", "READY", "PORT", "MODEL", "LIMITS", "INPUT"]
        + ["TARGET"]
    ]
    notes = []
    for s in services:
        port = s.port_for() if s.protocols else None
        rows.append(
            [
                s.namespace,
                s.name,
                s.kind,
                s.protocol_labels,
                s.readiness,
                str(port.port) if port else "-",
                s.model or "?",
                s.limits.text,
                inputs.get((s.namespace, s.name), "-"),
                s.backend_target() if s.protocols else "-",
            ]
        )
        if s.note:
            notes.append(f"{s.namespace}/{s.name}: {s.note}")
    print(_table(rows))
    if any(len(s.protocols) > 1 for s in services):
        print(
            "PROTOCOL lists what each server can be measured over, the first in TARGET; "
            "another: change ,protocol= (the port follows it)"
        )
    for note in notes + [f"note: {n}" for n in found.notes]:
        print(note)
    return 0


INPUT_PROBE_S = 10.0  # the most one server's "what does the model take" may take


def _model_inputs(services) -> dict[tuple[str, str], str]:
    """What each ready server's model takes (``encoded bytes``, ``float32 224×224×3 NHWC``),
    asked in parallel through a port-forward each (the same probe as a run's check); ``?`` with
    the reason's first words when it cannot be asked."""
    from concurrent.futures import ThreadPoolExecutor

    from tfcompare.runner.probe import probe_backend
    from tfcompare.serving.backend_spec import BackendSpec

    def ask(s) -> str:
        try:
            spec = BackendSpec.parse(f"probe={s.backend_target()}", timeout_s=INPUT_PROBE_S)
        except ValueError:
            return "?"
        status = probe_backend(spec)
        if status.signature is not None:
            return status.signature.input_text.removeprefix("takes ")
        return "? (" + (status.text.split(" · ")[-1][:40] or "not reachable") + ")"

    asked = [s for s in services if s.protocols and s.ready > 0]
    if not asked:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(asked))) as pool:
        answers = list(pool.map(ask, asked))
    return {(s.namespace, s.name): a for s, a in zip(asked, answers, strict=True)}


def run_contexts(args: argparse.Namespace) -> int:
    from tfcompare.cluster import ClusterError, list_contexts

    try:
        contexts = list_contexts()
    except ClusterError as exc:
        print(f"tfcompare cluster contexts: {exc}", file=sys.stderr)
        return 1
    rows = [["CURRENT", "NAME", "CLUSTER", "NAMESPACE"]]
    rows += [["*" if c.current else "", c.name, c.cluster, c.namespace] for c in contexts]
    print(_table(rows))
    return 0


def run_forward(args: argparse.Namespace) -> int:
    import threading

    from tfcompare.cluster import ClusterError, open_forward
    from tfcompare.serving.backend_spec import BackendSpec

    if not args.target.startswith("k8s://"):
        print(
            f"tfcompare cluster forward: error: {args.target!r} is not a k8s:// target "
            "(expected k8s://[CONTEXT/]NAMESPACE/SERVICE[:PORT])",
            file=sys.stderr,
        )
        return 2
    spec = BackendSpec(name="forward", target=args.target, protocol=args.protocol)
    proto = spec.protocol_info
    try:
        if args.metrics:
            fwd = open_forward(spec, hints=proto.metrics_port, metrics=True)
        else:
            fwd = open_forward(spec)
    except ClusterError as exc:
        print(f"tfcompare cluster forward: {exc}", file=sys.stderr)
        return 1
    what = f"metrics: http://{fwd.address}{proto.metrics_path}; " if args.metrics else ""
    print(
        f"{args.target} -> {fwd.address} (pod port {fwd.port}, {fwd.state}); {what}Ctrl+C to stop",
        flush=True,
    )
    fwd.subscribe(lambda f: print(f"[generation {f.generation}] {f.state}", flush=True))
    try:
        threading.Event().wait()
    finally:
        fwd.close()
    return 0
