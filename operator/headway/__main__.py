"""The ``headway`` command: ``operator`` runs the operator, ``crds DIR`` writes the CRDs,
``vocabulary PATH`` the console page's copy of Headway's words."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="headway")
    commands = parser.add_subparsers(dest="command", required=True)
    crds = commands.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("directory", type=Path)
    words = commands.add_parser(
        "vocabulary", help="write the console page's copy of Headway's words (TypeScript)"
    )
    words.add_argument("path", type=Path)
    install = commands.add_parser("install-crds", help="apply the CRDs and wait until established")
    install.add_argument("--kubeconfig", default=None)
    test = commands.add_parser("selftest", help="run one tiny Execution to success (helm test)")
    test.add_argument("--namespace", required=True)
    test.add_argument("--name", default="headway-selftest")
    test.add_argument("--image", default="busybox:1.37")
    test.add_argument("--command-json", default='["true"]', help="the task's command, JSON")
    test.add_argument("--timeout", type=float, default=180)
    test.add_argument("--kubeconfig", default=None)
    web = commands.add_parser("console", help="serve the web console (acts as each user)")
    web.add_argument("--port", type=int, default=8080)
    web.add_argument("--host", default="0.0.0.0", help="address to listen on")
    web.add_argument("--api-server", default=None, help="the API server's URL (in a pod)")
    web.add_argument("--ca-file", default=None, help="the CA that signs the API server's cert")
    web.add_argument("--kubeconfig", default=None, help="else: where the API server is")
    web.add_argument("--secure-cookies", action="store_true", help="behind TLS")
    op = commands.add_parser("operator", help="run the operator in the foreground")
    op.add_argument(
        "--namespace", action="append", default=[], help="watch only these (default: all)"
    )
    op.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, in-cluster, ~/.kube")
    hooks = op.add_argument_group("admission webhooks")
    hooks.add_argument("--webhook-port", type=int, default=None, help="serve webhooks here")
    hooks.add_argument(
        "--webhook-host", default="127.0.0.1", help="(local) the API server's way in"
    )
    hooks.add_argument("--webhook-cert-dir", type=Path, default=None, help="(local) certificates")
    hooks.add_argument("--webhook-bind", default="0.0.0.0", help="(cluster) address to listen on")
    hooks.add_argument("--webhook-service", default=None, help="(cluster) the webhook Service")
    hooks.add_argument("--webhook-configuration", default=None, help="(cluster) its configs")
    hooks.add_argument("--webhook-tls-secret", default=None, help="(cluster) TLS Secret")
    hooks.add_argument("--audit-secret", default=None, help="(cluster) audit key Secret")
    hooks.add_argument("--cert-manager", action="store_true", help="(cluster) TLS by cert-manager")
    ha = op.add_argument_group("leader election and metrics")
    ha.add_argument("--leader-election-lease", default=None, help="Lease name; off if unset")
    ha.add_argument("--lease-duration", type=int, default=15, help="seconds")
    ha.add_argument("--metrics-port", type=int, default=None, help="/metrics /healthz /readyz")
    ha.add_argument("--metrics-bind", default="0.0.0.0")
    clean = op.add_argument_group("clean-up defaults (an Execution's own spec wins)")
    clean.add_argument(
        "--ttl-after-finished",
        type=int,
        default=None,
        help="delete Succeeded Executions this many seconds after they ended",
    )
    clean.add_argument(
        "--ttl-after-failure",
        type=int,
        default=None,
        help="the same for Failed, Blocked and Stopped ones (default: kept)",
    )
    clean.add_argument("--job-retention", choices=["All", "Failed"], default="All",
                       help="Failed: delete succeeded attempts' Jobs once recorded")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "crds":
        from headway.models.crd import write_all

        for path in write_all(args.directory):
            print(path)
        return 0
    if args.command == "vocabulary":
        from headway.core.vocabulary import typescript

        args.path.write_text(typescript())
        return 0
    if args.command == "install-crds":
        from headway.shell.install import install_crds
        from headway.shell.kube import Kube

        install_crds(Kube(args.kubeconfig))
        return 0
    if args.command == "console":
        from headway.console.server import run as serve_console
        from headway.shell.kube import Kube, Server

        # Only where the API server is and how to trust it: never the console's credentials.
        in_pod = os.environ.get("KUBERNETES_SERVICE_HOST")
        if args.api_server:
            server = Server(args.api_server, args.ca_file)
        elif in_pod and not args.kubeconfig:
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            server = Server(f"https://{in_pod}:{port}", args.ca_file)
        else:
            server = Server.of(Kube(args.kubeconfig))
        serve_console(server, args.host, args.port, args.secure_cookies)
        return 0
    if args.command == "selftest":
        import json

        from headway.shell.kube import Kube
        from headway.shell.selftest import selftest

        command = json.loads(args.command_json)
        kube = Kube(args.kubeconfig)
        return selftest(kube, args.namespace, args.name, args.image, command, args.timeout)
    from headway.handlers.main import run

    return run(operator_options(args))


def operator_options(args: argparse.Namespace) -> Any:
    """The operator's options from its command line and the pod's environment."""
    from headway.core.cleanup import Cleanup
    from headway.handlers.admission import InCluster, Webhooks
    from headway.handlers.main import Options
    from headway.runtime.leader import Election

    namespace = os.environ.get("POD_NAMESPACE") or _own_namespace()
    webhooks = None
    if args.webhook_port is not None:
        cluster = None
        if args.webhook_service:
            cluster = InCluster(
                namespace=namespace,
                service=args.webhook_service,
                tls_secret=args.webhook_tls_secret or f"{args.webhook_service}-tls",
                audit_secret=args.audit_secret or f"{args.webhook_service}-audit",
                configuration=args.webhook_configuration or args.webhook_service,
                cert_manager=args.cert_manager,
                bind=args.webhook_bind,
            )
        webhooks = Webhooks(args.webhook_port, args.webhook_host, args.webhook_cert_dir, cluster)
    election = None
    if args.leader_election_lease:
        identity = os.environ.get("POD_NAME") or socket.gethostname()
        election = Election(namespace, args.leader_election_lease, identity, args.lease_duration)
    metrics = (args.metrics_bind, args.metrics_port) if args.metrics_port is not None else None
    cleanup = Cleanup(args.ttl_after_finished, args.ttl_after_failure, args.job_retention)
    return Options(args.namespace, args.kubeconfig, webhooks, election, metrics, cleanup)


def _own_namespace() -> str:
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.exists() else "default"


def entry() -> None:
    """The ``headway`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
