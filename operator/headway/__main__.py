"""``python -m headway operator`` runs the operator; ``python -m headway crds DIR`` writes the CRDs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="headway")
    commands = parser.add_subparsers(dest="command", required=True)
    crds = commands.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("directory", type=Path)
    operator = commands.add_parser("operator", help="run the operator in the foreground")
    operator.add_argument("--namespace", action="append", default=[],
                          help="watch only these namespaces (default: all)")
    operator.add_argument("--webhook-port", type=int, default=None,
                          help="serve the admission webhooks on this port (default: none)")
    operator.add_argument("--webhook-host", default="127.0.0.1",
                          help="address the API server uses to reach the webhooks")
    args = parser.parse_args(argv)
    if args.command == "crds":
        from headway.models.crd import write_all

        for path in write_all(args.directory):
            print(path)
        return 0
    from headway.handlers.main import run

    return run(namespaces=args.namespace, webhook_port=args.webhook_port,
               webhook_host=args.webhook_host)


if __name__ == "__main__":
    sys.exit(main())
