"""Run one local node: ``python -m localcluster.kubelet --node NAME ...``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from localcluster.kubelet.agent import Kubelet
from localcluster.kubelet.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m localcluster.kubelet")
    parser.add_argument("--node", required=True)
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int, help="kubelet API (logs), HTTPS")
    parser.add_argument("--control-port", required=True, type=int, help="fault-injection API, HTTP")
    parser.add_argument("--tls-cert", required=True, type=Path)
    parser.add_argument("--tls-key", required=True, type=Path)
    parser.add_argument("--client-ca", required=True, type=Path)
    parser.add_argument("--api-server-host", required=True)
    parser.add_argument("--api-server-port", required=True, type=int)
    parser.add_argument("--cpu", default="8")
    parser.add_argument("--memory", default="16Gi")
    parser.add_argument("--pods", default="110")
    parser.add_argument("--kube-version", default="v1.36.3")
    parser.add_argument("--pod-cidr", default="10.244.0.0/24", help="addresses of serving pods")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args.state_dir.mkdir(parents=True, exist_ok=True)
    kubelet = Kubelet(
        node=args.node,
        kubeconfig=args.kubeconfig,
        state_dir=args.state_dir,
        port=args.port,
        api_host=args.api_server_host,
        api_port=args.api_server_port,
        capacity={
            "cpu": args.cpu,
            "memory": args.memory,
            "pods": args.pods,
            "ephemeral-storage": "100Gi",
        },
        kube_version=args.kube_version,
        pod_cidr=args.pod_cidr,
    )
    serve(kubelet, args.port, args.control_port, args.tls_cert, args.tls_key, args.client_ca)
    kubelet.register()
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=kubelet.heartbeat_loop, daemon=True, name="heartbeat").start()
    threading.Thread(target=kubelet.sync_loop, daemon=True, name="pods").start()
    logging.getLogger("kubelet").info(
        "node %s registered; kubelet API on port %d", args.node, args.port
    )
    done.wait()
    kubelet.stop()


if __name__ == "__main__":
    main()
