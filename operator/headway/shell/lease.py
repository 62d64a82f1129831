"""The Lease that elects the one replica that reconciles (``core.lease`` decides)."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from headway.core.lease import LeaseView, next_move
from headway.models.base import parse_time
from headway.shell.kube import Kube, KubeError, path_of

JSON = dict[str, Any]
log = logging.getLogger("headway.lease")
MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"  # MicroTime, as the Lease API wants it


def _micro(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime(MICRO)


def view_of(lease: JSON) -> LeaseView:
    spec = lease.get("spec") or {}
    return LeaseView(
        holder=spec.get("holderIdentity"),
        renewed=parse_time(spec.get("renewTime")),
        duration_seconds=int(spec.get("leaseDurationSeconds") or 15),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


class LeaseClient:
    """Holds (or waits for) one Lease under one identity."""

    def __init__(self, kube: Kube, namespace: str, name: str, me: str, duration: int) -> None:
        self.kube, self.namespace, self.name, self.me = kube, namespace, name, me
        self.duration = duration

    def try_hold(self, now: datetime.datetime) -> bool:
        """True when we hold the Lease after this call. Every write carries the version
        read: a replica that lost the race gets a conflict and simply waits."""
        path = path_of("coordination.k8s.io/v1", "leases", self.namespace, self.name)
        try:
            lease = self.kube.find(path)
            if lease is None:
                self.kube.create(path.rsplit("/", 1)[0], self._lease(None, now, 0))
                log.info("took the lease %s/%s as %s", self.namespace, self.name, self.me)
                return True
            seen = view_of(lease)
            move = next_move(seen, self.me, now)
            if move == "wait":
                return False
            transitions = seen.transitions + (1 if move == "acquire" else 0)
            body = self._lease(lease, now, transitions)
            if move == "renew":
                body["spec"]["acquireTime"] = (lease.get("spec") or {}).get("acquireTime")
            self.kube.replace(path, body)
            if move == "acquire":
                log.info(
                    "took the lease %s/%s over from %s", self.namespace, self.name, seen.holder
                )
            return True
        except KubeError as error:
            if error.status != 409:
                log.warning("lease %s/%s: %s", self.namespace, self.name, error)
            return False

    def release(self) -> None:
        """Give the Lease up on a clean shutdown, so another replica takes over at once."""
        path = path_of("coordination.k8s.io/v1", "leases", self.namespace, self.name)
        try:
            lease = self.kube.find(path)
            if lease is None or view_of(lease).holder != self.me:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["renewTime"] = None
            self.kube.replace(path, lease)
        except KubeError as error:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, error)

    def _lease(self, old: JSON | None, now: datetime.datetime, transitions: int) -> JSON:
        body: JSON = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.me,
                "leaseDurationSeconds": self.duration,
                "acquireTime": _micro(now),
                "renewTime": _micro(now),
                "leaseTransitions": transitions,
            },
        }
        if old is not None:
            body["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return body
