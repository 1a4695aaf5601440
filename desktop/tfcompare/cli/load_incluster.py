"""``tfcompare load --in-cluster``: the sweep run by load agents in a Kubernetes Job next to the
backends (see ``tfcompare.load.incluster``), or ``--dry-run -o yaml`` to review what it creates."""

from __future__ import annotations

import argparse
import sys

from tfcompare.cli.run_options import in_worker_thread, usage_error
from tfcompare.terminal import one_line


def add_in_cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "in the cluster",
        "Run the sweep from inside Kubernetes: a Job of --agents pods sends the load straight to "
        "each k8s:// backend's service (no port-forward in the measured path); their per-window "
        "results come back through the pods' logs and are merged. See k8s/README.md for the RBAC.",
    )
    g.add_argument(
        "--in-cluster",
        action="store_true",
        help="run the load from a Kubernetes Job next to the backends",
    )
    g.add_argument(
        "--agents",
        type=int,
        default=2,
        metavar="N",
        help="load agents (pods); each level's load is split between them (default 2)",
    )
    g.add_argument(
        "--namespace",
        "-n",
        metavar="NS",
        help="namespace of the Job (default: the context's namespace)",
    )
    g.add_argument(
        "--agent-image",
        type=_image,
        metavar="IMAGE",
        help="the load-agent image (docker/load-agent.Dockerfile; default "
        "tfcompare-load-agent:latest)",
    )
    g.add_argument(
        "--start-lead",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds from the last agent ready to the first level: the kubelet "
        "delivers the published start time within its sync period (default 60)",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="with --in-cluster: print the ConfigMap and Job instead of creating them",
    )
    g.add_argument(
        "--output", "-o", choices=("yaml",), default="yaml", help="--dry-run output format (yaml)"
    )


def _image(text: str) -> str:
    from tfcompare.cluster.loadjob import check_image_reference

    try:
        return check_image_reference(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def measure_in_cluster(args, plan, specs, payloads, info, notes=()) -> int:
    from tfcompare.cli.load_cmd import progress_printer, write_capacity_outputs
    from tfcompare.cli.run_options import table_stream
    from tfcompare.cluster.cluster_errors import ClusterError
    from tfcompare.cluster.kube import resolve_context
    from tfcompare.cluster.loadjob import to_yaml
    from tfcompare.load.capacity_text import capacity_table
    from tfcompare.load.incluster import (
        InCluster,
        agents_plan,
        in_cluster_targets,
        job_objects,
        run_in_cluster,
    )

    opts = InCluster(
        agents=args.agents,
        namespace=args.namespace,
        image=args.agent_image,
        start_lead_s=args.start_lead,
    )
    try:
        agents_plan(plan, opts.agents)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    if args.start_lead < 0:
        raise usage_error("--start-lead must be 0 or more")
    direct = [s.name for s in specs if not s.is_k8s]
    if direct:
        print(
            f"note: {', '.join(map(one_line, direct))}: HOST:PORT as given must be reachable from the agents' "
            "pods",
            file=sys.stderr,
        )
    print("connecting to the cluster…", file=sys.stderr, flush=True)
    try:
        targets, problems = in_cluster_targets(specs, payloads, info)
        for text in problems:
            print(one_line(text), file=sys.stderr)
        if not targets:
            print("tfcompare load: no backend could be measured", file=sys.stderr)
            return 1
        if args.dry_run:
            namespace = opts.namespace or resolve_context(None).namespace
            objects = job_objects(plan, targets, opts, namespace, "dry-run")
            if objects.secret is not None:
                print(
                    "note: the Secret carries the --header values; they are not printed",
                    file=sys.stderr,
                )
            print(to_yaml(objects.listed(redacted=True)), end="")
            return 0
        result = in_worker_thread(
            lambda cancel: run_in_cluster(
                plan, targets, opts, on_event=progress_printer(args), cancel=cancel, variants=info
            ),
            name="tfcompare-load",
            grace_s=60,
        )
    except ClusterError as exc:
        if "1 MiB" in str(exc):
            raise usage_error(str(exc)) from None
        print(f"tfcompare load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cancelled: the Job and its pods were deleted", file=sys.stderr)
        return 130
    result.messages[:0] = [*notes, *problems]
    print(capacity_table(result), file=table_stream(args), flush=True)
    return write_capacity_outputs(result, args)
