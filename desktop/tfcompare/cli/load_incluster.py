"""``tfcompare load --in-cluster``: the sweep run by load agents in a Kubernetes Job next to the
backends (see ``tfcompare.load.incluster``), or ``--dry-run -o yaml`` to review what it creates."""

from __future__ import annotations

import argparse
import sys

from tfcompare.cli.run_options import usage_error
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


def in_cluster_options(args):
    """The agents' Job as the options ask for it (``InCluster``; raises UsageError)."""
    from tfcompare.load.incluster import InCluster

    if args.start_lead < 0:
        raise usage_error("--start-lead must be 0 or more")
    return InCluster(
        agents=args.agents,
        namespace=args.namespace,
        image=args.agent_image,
        start_lead_s=args.start_lead,
    )


def dry_run(job) -> int:
    """``--dry-run -o yaml``: the ConfigMap and Job that ``job`` would create, printed; nothing
    is created (signatures are still read once through a port-forward)."""
    from tfcompare.cli.load_cmd import sweep_failure
    from tfcompare.cluster.cluster_errors import ClusterError
    from tfcompare.cluster.kube import resolve_context
    from tfcompare.cluster.loadjob import to_yaml
    from tfcompare.load.incluster import job_objects
    from tfcompare.load.pipeline import NothingToMeasure, sweep_targets
    from tfcompare.load.prepare import PrepareError

    opts = job.in_cluster
    print("connecting to the cluster…", file=sys.stderr, flush=True)

    def say(text: str) -> None:
        print(f"note: {one_line(text)}", file=sys.stderr)

    try:
        with sweep_targets(job, say) as (targets, _variants):
            namespace = opts.namespace or resolve_context(opts.context).namespace
            objects = job_objects(job.plan, targets, opts, namespace, "dry-run")
    except (PrepareError, NothingToMeasure, ClusterError) as exc:
        return sweep_failure(exc, "load")
    if objects.secret is not None:
        print("note: the Secret carries the --header values; they are not printed", file=sys.stderr)
    print(to_yaml(objects.listed(redacted=True)), end="")
    return 0
