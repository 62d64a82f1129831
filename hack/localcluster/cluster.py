"""Start and stop the local cluster: ``python -m localcluster up|down|status``.

``up`` is idempotent: credentials are made once, and a component whose pid is
alive is left running. ``down`` stops, by pid, every process ``up`` started,
and the kubelets stop the pods' processes they started.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from headway import certs as pki
from localcluster import kubeconfig
from localcluster.layout import ADMIN_USER, HOST, REPO_ROOT, TEST_USERS, Layout

BUILD_SCRIPT = REPO_ROOT / "hack" / "build-k8s.sh"
VERSIONS = dict(
    line.split("=", 1)
    for line in (REPO_ROOT / "hack" / "versions.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Node failure is detected quickly so that node-loss tests finish in seconds, not minutes.
NODE_MONITOR_GRACE = "20s"
DEFAULT_TOLERATION_SECONDS = "20"
READY_TIMEOUT = float(os.environ.get("HEADWAY_CLUSTER_READY_TIMEOUT", "120"))


class ClusterError(RuntimeError):
    """The local cluster could not be started; the message says why."""


def binaries() -> Path:
    """Build (or find in the cache) the Kubernetes binaries; return their directory."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        raise ClusterError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    return Path(result.stdout.strip().splitlines()[-1])


# --- credentials --------------------------------------------------------------------------


def _tokens(layout: Layout) -> dict[str, str]:
    """user -> bearer token, from the API server's token file."""
    tokens: dict[str, str] = {}
    for line in layout.token_file.read_text().splitlines():
        token, user = line.split(",")[:2]
        tokens[user] = token
    return tokens


def ensure_credentials(layout: Layout) -> None:
    """Create the CA, certificates, tokens and kubeconfigs unless they exist."""
    layout.pki.mkdir(parents=True, exist_ok=True)
    if not (layout.pki / "ca.crt").exists():
        now = datetime.datetime.now(datetime.UTC)
        ca = pki.new_ca("headway-local-ca", now)
        ca.write(layout.pki, "ca")
        pki.issue(
            ca,
            "kube-apiserver",
            now,
            server=True,
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=(HOST, "10.96.0.1"),
        ).write(layout.pki, "apiserver")
        pki.issue(
            ca, "kube-apiserver-kubelet-client", now, client=True, organizations=("system:masters",)
        ).write(layout.pki, "apiserver-kubelet-client")
        pki.issue(ca, "front-proxy-client", now, client=True).write(
            layout.pki, "front-proxy-client"
        )
        for component in ("kube-controller-manager", "kube-scheduler"):
            pki.issue(
                ca, component, now, server=True, dns_names=("localhost",), ip_addresses=(HOST,)
            ).write(layout.pki, component)
        private, public = pki.new_signing_key()
        (layout.pki / "sa.key").write_bytes(private)
        (layout.pki / "sa.pub").write_bytes(public)
    ca = pki.KeyPair.read(layout.pki, "ca")
    for node in layout.node_names():
        if not (layout.pki / f"kubelet-{node}.crt").exists():
            pki.issue(
                ca,
                f"system:node:{node}",
                datetime.datetime.now(datetime.UTC),
                server=True,
                organizations=("system:nodes",),
                dns_names=(node, "localhost"),
                ip_addresses=(HOST,),
            ).write(layout.pki, f"kubelet-{node}")
    identities = _identities(layout)
    if not layout.token_file.exists() or set(_tokens(layout)) != set(identities):
        known = _tokens(layout) if layout.token_file.exists() else {}
        lines = []
        for user, groups in identities.items():
            token = known.get(user) or secrets.token_hex(24)
            lines.append(
                f'{token},{user},{user},"{",".join(groups)}"'
                if groups
                else f"{token},{user},{user}"
            )
        layout.token_file.write_text("\n".join(lines) + "\n")
        layout.token_file.chmod(0o600)
    tokens = _tokens(layout)

    def write(path: Path, user: str) -> None:
        kubeconfig.write(path, layout.server, ca.cert_pem, user, tokens[user])

    write(layout.kubeconfig, ADMIN_USER)
    for user in TEST_USERS:
        write(layout.user_kubeconfig(user), user)
    write(layout.internal / "controller-manager.kubeconfig", "system:kube-controller-manager")
    write(layout.internal / "scheduler.kubeconfig", "system:kube-scheduler")
    for node in layout.node_names():
        write(layout.internal / f"kubelet-{node}.kubeconfig", f"system:node:{node}")


def _identities(layout: Layout) -> dict[str, tuple[str, ...]]:
    """Every token identity and its groups. Test users get no group beyond
    ``system:authenticated`` (added by the API server), hence no permissions."""
    identities: dict[str, tuple[str, ...]] = {
        ADMIN_USER: ("system:masters",),
        "system:kube-controller-manager": (),
        "system:kube-scheduler": (),
    }
    for node in layout.node_names():
        identities[f"system:node:{node}"] = ("system:nodes",)
    for user in TEST_USERS:
        identities[user] = ()
    return identities


# --- processes ----------------------------------------------------------------------------


def _pid_file(layout: Layout, name: str) -> Path:
    return layout.pids / f"{name}.pid"


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of component ``name`` if it is alive, else None."""
    try:
        pid = int(_pid_file(layout, name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid):
        return None
    # A recycled pid belongs to another program: check the command line mentions us.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    return pid if str(layout.root).encode() in cmdline else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(layout: Layout, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    if running_pid(layout, name):
        return
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    with (layout.logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    _pid_file(layout, name).write_text(str(process.pid))


def _exited(layout: Layout, name: str) -> str | None:
    """Why component ``name`` counts as gone (asked twice, a moment apart, so a passing
    glimpse of /proc is not taken for a death), or None while it runs."""
    for _ in range(2):
        if running_pid(layout, name):
            return None
        time.sleep(0.5)
    try:
        pid = _pid_file(layout, name).read_text().strip()
    except FileNotFoundError:
        return "no pid file"
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        state = "no such process"
    return f"pid {pid}: {state}"


def _wait(what: str, check: Callable[[], bool], layout: Layout, log: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        gone = _exited(layout, log)
        if gone:
            tail = _tail(layout.logs / f"{log}.log")
            raise ClusterError(
                f"{log} exited before {what} ({gone}); last lines of its log:\n{tail}"
            )
        time.sleep(0.25)
    raise ClusterError(
        f"timed out after {READY_TIMEOUT:.0f}s waiting for {what}; "
        f"see {layout.logs / (log + '.log')}"
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _https_ok(url: str, layout: Layout, token: str | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _etcd_ok(layout: Layout) -> bool:
    try:
        url = f"http://{HOST}:{layout.etcd_port}/health"
        with urllib.request.urlopen(url, timeout=2) as response:
            return b'"health":"true"' in response.read()
    except (urllib.error.URLError, OSError):
        return False


def up(layout: Layout) -> None:
    """Start every component (those already running are kept) and wait until the nodes are Ready."""
    bin_dir = binaries()
    layout.root.mkdir(parents=True, exist_ok=True)
    if layout.bin_link.is_symlink() or layout.bin_link.exists():
        layout.bin_link.unlink()
    layout.bin_link.symlink_to(bin_dir)
    ensure_credentials(layout)
    p = str(layout.pki)
    comp = layout.internal
    peer = f"http://{HOST}:{layout.etcd_peer_port}"
    _start(
        layout,
        "etcd",
        [
            str(bin_dir / "etcd"),
            "--name=local",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls=http://{HOST}:{layout.etcd_port}",
            f"--advertise-client-urls=http://{HOST}:{layout.etcd_port}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--log-level=warn",
            # A throwaway development store: durability across power loss buys nothing here.
            "--unsafe-no-fsync",
        ],
    )
    _wait("etcd to be healthy", lambda: _etcd_ok(layout), layout, "etcd")
    _start(
        layout,
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://{HOST}:{layout.etcd_port}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={layout.apiserver_port}",
            f"--tls-cert-file={p}/apiserver.crt",
            f"--tls-private-key-file={p}/apiserver.key",
            f"--client-ca-file={p}/ca.crt",
            f"--token-auth-file={layout.token_file}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={p}/sa.pub",
            f"--service-account-signing-key-file={p}/sa.key",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--kubelet-client-certificate={p}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={p}/apiserver-kubelet-client.key",
            f"--kubelet-certificate-authority={p}/ca.crt",
            "--kubelet-preferred-address-types=InternalIP",
            f"--default-not-ready-toleration-seconds={DEFAULT_TOLERATION_SECONDS}",
            f"--default-unreachable-toleration-seconds={DEFAULT_TOLERATION_SECONDS}",
            # The only address is loopback, which Endpoints may not hold; pods reach the
            # API server through KUBERNETES_SERVICE_HOST, which the kubelet sets to it.
            "--endpoint-reconciler-type=none",
            # Webhooks and the service proxy go to a Service's endpoints (pod addresses),
            # as there is no kube-proxy to carry cluster IPs.
            "--enable-aggregator-routing=true",
            # Request-header authentication, as kubeadm configures it for aggregated APIs.
            f"--requestheader-client-ca-file={p}/ca.crt",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p}/front-proxy-client.crt",
            f"--proxy-client-key-file={p}/front-proxy-client.key",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ],
    )
    admin_token = _tokens(layout)[ADMIN_USER]
    _wait(
        "the API server to be ready",
        lambda: _https_ok(f"{layout.server}/readyz", layout, admin_token),
        layout,
        "kube-apiserver",
    )
    _start(
        layout,
        "kube-controller-manager",
        [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={comp}/controller-manager.kubeconfig",
            f"--authentication-kubeconfig={comp}/controller-manager.kubeconfig",
            f"--authorization-kubeconfig={comp}/controller-manager.kubeconfig",
            f"--bind-address={HOST}",
            f"--secure-port={layout.controller_manager_port}",
            f"--tls-cert-file={p}/kube-controller-manager.crt",
            f"--tls-private-key-file={p}/kube-controller-manager.key",
            f"--service-account-private-key-file={p}/sa.key",
            f"--root-ca-file={p}/ca.crt",
            f"--cluster-signing-cert-file={p}/ca.crt",
            f"--cluster-signing-key-file={p}/ca.key",
            "--use-service-account-credentials=true",
            "--controllers=*",
            "--leader-elect=false",
            f"--node-monitor-grace-period={NODE_MONITOR_GRACE}",
            "--node-monitor-period=2s",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--v=1",
        ],
    )
    _start(
        layout,
        "kube-scheduler",
        [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={comp}/scheduler.kubeconfig",
            f"--authentication-kubeconfig={comp}/scheduler.kubeconfig",
            f"--authorization-kubeconfig={comp}/scheduler.kubeconfig",
            f"--bind-address={HOST}",
            f"--secure-port={layout.scheduler_port}",
            f"--tls-cert-file={p}/kube-scheduler.crt",
            f"--tls-private-key-file={p}/kube-scheduler.key",
            "--leader-elect=false",
            "--v=1",
        ],
    )
    hack_dir = str(REPO_ROOT / "hack")
    for node in layout.node_names():
        _start(
            layout,
            f"kubelet-{node}",
            [
                sys.executable,
                "-m",
                "localcluster.kubelet",
                f"--node={node}",
                f"--kubeconfig={comp}/kubelet-{node}.kubeconfig",
                f"--state-dir={layout.node_dir(node)}",
                f"--port={layout.kubelet_port(node)}",
                f"--control-port={layout.kubelet_control_port(node)}",
                f"--tls-cert={p}/kubelet-{node}.crt",
                f"--tls-key={p}/kubelet-{node}.key",
                f"--client-ca={p}/ca.crt",
                f"--api-server-host={HOST}",
                f"--api-server-port={layout.apiserver_port}",
                f"--kube-version={VERSIONS['KUBE_VERSION']}",
                f"--pod-cidr={layout.pod_cidr(node)}",
            ],
            env={
                "PYTHONPATH": os.pathsep.join(
                    filter(
                        None, [hack_dir, str(REPO_ROOT / "operator"), os.environ.get("PYTHONPATH")]
                    )
                )
            },
        )
    for component, port in (
        ("kube-controller-manager", layout.controller_manager_port),
        ("kube-scheduler", layout.scheduler_port),
    ):
        _wait(
            f"{component} to be healthy",
            functools.partial(_https_ok, f"https://{HOST}:{port}/healthz", layout),
            layout,
            component,
        )
    for node in layout.node_names():
        _wait(
            f"node {node} to be Ready",
            functools.partial(_node_ready, layout, node, admin_token),
            layout,
            f"kubelet-{node}",
        )


def _node_ready(layout: Layout, node: str, token: str) -> bool:
    import json

    context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    request = urllib.request.Request(f"{layout.server}/api/v1/nodes/{node}")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            conditions = json.load(response).get("status", {}).get("conditions", [])
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


COMPONENT_ORDER = ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")


def down(layout: Layout) -> None:
    """Stop every component by pid: kubelets first (they stop their pods), etcd last."""
    names = [f"kubelet-{node}" for node in layout.node_names()] + list(COMPONENT_ORDER)
    if layout.pids.exists():  # kubelets of an earlier, larger cluster
        names += [p.stem for p in layout.pids.glob("kubelet-*.pid") if p.stem not in names]
    for name in names:
        pid = running_pid(layout, name)
        if pid:
            _stop(pid)
        _pid_file(layout, name).unlink(missing_ok=True)


def restart(layout: Layout, name: str, down_seconds: float = 0.0) -> None:
    """Stop component ``name`` (SIGKILL, as a crash would), keep it down for
    ``down_seconds``, then start it again and wait until the cluster is ready."""
    pid = running_pid(layout, name)
    if pid is None:
        raise ClusterError(f"{name} is not running here")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)
    _pid_file(layout, name).unlink(missing_ok=True)
    time.sleep(down_seconds)
    up(layout)


def _stop(pid: int, grace: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def status(layout: Layout) -> int:
    names = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    names += [f"kubelet-{node}" for node in layout.node_names()]
    down_count = 0
    for name in names:
        pid = running_pid(layout, name)
        down_count += pid is None
        print(f"{name:32} {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 1 if down_count else 0


def usage_hint(layout: Layout) -> str:
    users = "\n".join(f"  {u:6} {layout.user_kubeconfig(u)}" for u in TEST_USERS)
    return (
        f"Local cluster is up ({len(layout.node_names())} nodes).\n"
        f"  export KUBECONFIG={layout.kubeconfig}\n"
        f"  export PATH={layout.bin_link}:$PATH   # kubectl {layout.bin_link / 'kubectl'}\n"
        f"Test users (authenticated, no permissions until granted):\n{users}\n"
        f"Logs: {layout.logs}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    layout = Layout.default()
    if args.command == "up":
        started = time.monotonic()
        try:
            up(layout)
        except ClusterError as error:
            print(f"cluster-up failed: {error}", file=sys.stderr)
            return 1
        print(usage_hint(layout))
        print(f"Ready in {time.monotonic() - started:.1f}s")
        return 0
    if args.command == "down":
        down(layout)
        print("Local cluster stopped.")
        return 0
    return status(layout)
