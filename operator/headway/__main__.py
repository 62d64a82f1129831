"""The ``headway`` command: ``operator`` runs the operator, ``crds DIR`` writes the CRDs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="headway")
    commands = parser.add_subparsers(dest="command", required=True)
    crds = commands.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("directory", type=Path)
    install = commands.add_parser("install-crds", help="apply the CRDs and wait until established")
    install.add_argument("--kubeconfig", default=None)
    op = commands.add_parser("operator", help="run the operator in the foreground")
    op.add_argument(
        "--namespace", action="append", default=[], help="watch only these (default: all)"
    )
    op.add_argument("--webhook-port", type=int, default=None, help="serve admission webhooks here")
    op.add_argument("--webhook-host", default="127.0.0.1", help="where the API server reaches them")
    op.add_argument("--webhook-cert-dir", type=Path, default=None, help="ca.crt, tls.crt, tls.key")
    op.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, in-cluster, ~/.kube")
    args = parser.parse_args(argv)
    if args.command == "crds":
        from headway.models.crd import write_all

        for path in write_all(args.directory):
            print(path)
        return 0
    if args.command == "install-crds":
        from headway.shell.install import install_crds
        from headway.shell.kube import Kube

        install_crds(Kube(args.kubeconfig))
        return 0
    from headway.handlers.main import run

    return run(
        namespaces=args.namespace,
        webhook_port=args.webhook_port,
        webhook_host=args.webhook_host,
        webhook_dir=args.webhook_cert_dir,
        kubeconfig=args.kubeconfig,
    )


if __name__ == "__main__":
    sys.exit(main())
