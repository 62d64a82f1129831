"""The kubelet's two HTTP endpoints.

* The kubelet API (HTTPS, client certificates from the cluster CA, as the API
  server presents): ``/containerLogs/{ns}/{pod}/{container}`` so that
  ``kubectl logs`` works, and ``/healthz``.
* The fault-injection control API (plain HTTP on loopback), used through
  :mod:`localcluster.faults`.
"""

from __future__ import annotations

import json
import signal
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcluster.kubelet.status import HOST_IP

if TYPE_CHECKING:
    from localcluster.kubelet.agent import Kubelet

JSON = dict[str, Any]


class _Handler(BaseHTTPRequestHandler):
    kubelet: Kubelet

    def log_message(
        self, format: str, *args: Any
    ) -> None:  # quiet: the kubelet log is for the kubelet
        pass

    def _reply(self, code: int, body: JSON | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(code)
        self.send_header(
            "Content-Type", "application/json" if isinstance(body, dict) else "text/plain"
        )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class KubeletApiHandler(_Handler):
    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if parts == ["healthz"]:
            self._reply(200, "ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._reply(404, "not found")
            return
        _, namespace, pod, container = parts
        worker = self.kubelet.find_worker(namespace, pod)
        states = {s.name: s for s in worker.state.init + worker.state.main} if worker else {}
        if worker is None or container not in states:
            self._reply(404, f'container "{container}" in pod "{pod}" not found on this node')
            return
        restart = states[container].restart_count - (1 if query.get("previous") == ["true"] else 0)
        path = worker.dir / "containers" / container / str(restart) / "log"
        if not path.exists():
            self._reply(400, f'container "{container}" in pod "{pod}" has no logs yet')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        tail = int(query["tailLines"][0]) if "tailLines" in query else None
        self._stream(
            path,
            tail,
            follow=query.get("follow") == ["true"],
            done=lambda: states[container].running_since is None or worker.gone.is_set(),
        )

    def _stream(self, path: Path, tail: int | None, follow: bool, done: Any) -> None:
        with path.open("rb") as handle:
            data = handle.read()
            if tail is not None:
                data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
            self.wfile.write(data)
            while follow:
                chunk = handle.read()
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                elif done():
                    return
                else:
                    time.sleep(0.2)


class ControlHandler(_Handler):
    """POST /kill {namespace, pod, container?, signal?}; POST /partition {enabled};
    POST /images {prefix, blocked}; GET /pods."""

    def do_GET(self) -> None:
        if self.path == "/pods":
            with self.kubelet._lock:
                workers = list(self.kubelet.workers.values())
            self._reply(200, {"node": self.kubelet.node, "pods": [w.describe() for w in workers]})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"error": "body is not JSON"})
            return
        if self.path == "/kill":
            self._kill(body)
        elif self.path == "/partition":
            self.kubelet.set_partitioned(bool(body["enabled"]))
            self._reply(200, {"node": self.kubelet.node, "partitioned": bool(body["enabled"])})
        elif self.path == "/images":
            prefix = str(body["prefix"])
            if body.get("blocked", True):
                self.kubelet.blocked_images.add(prefix)
            else:
                self.kubelet.blocked_images.discard(prefix)
            self._reply(200, {"blocked": sorted(self.kubelet.blocked_images)})
        else:
            self._reply(404, {"error": "not found"})

    def _kill(self, body: JSON) -> None:
        worker = self.kubelet.find_worker(body["namespace"], body["pod"])
        if worker is None:
            self._reply(
                404,
                {"error": f"pod {body['namespace']}/{body['pod']} is not on {self.kubelet.node}"},
            )
            return
        names = [body["container"]] if body.get("container") else list(worker.processes)
        sig = signal.Signals[f"SIG{body.get('signal', 'KILL')}"]
        killed = []
        for name in names:
            process = worker.processes.get(name)
            if process and process.exit_code() is None:
                process.signal(sig)
                killed.append(name)
        if not killed:
            self._reply(409, {"error": f"no running container {names} in pod {body['pod']}"})
            return
        self._reply(200, {"killed": killed, "signal": sig.name})


def serve(
    kubelet: Kubelet, port: int, control_port: int, cert: Path, key: Path, client_ca: Path
) -> None:
    """Start both servers in daemon threads."""
    api_handler = type("Api", (KubeletApiHandler,), {"kubelet": kubelet})
    api = ThreadingHTTPServer((HOST_IP, port), api_handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    api.socket = context.wrap_socket(api.socket, server_side=True)
    control = ThreadingHTTPServer(
        (HOST_IP, control_port), type("Control", (ControlHandler,), {"kubelet": kubelet})
    )
    for server in (api, control):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
