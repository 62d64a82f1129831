"""Install (create or update) the CRDs, generated from the models, and wait until served."""

from __future__ import annotations

import time

from headway.models.crd import KINDS, crd
from headway.shell.kube import Kube

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def install_crds(kube: Kube, timeout: float = 60.0) -> None:
    for kind in KINDS:
        body = crd(kind)
        name = body["metadata"]["name"]
        current = kube.find(f"{CRD_PATH}/{name}")
        if current is None:
            kube.create(CRD_PATH, body)
        else:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            kube.replace(f"{CRD_PATH}/{name}", body)
        deadline = time.monotonic() + timeout
        while not _established(kube, name):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established after {timeout:.0f}s")
            time.sleep(0.2)


def _established(kube: Kube, name: str) -> bool:
    conditions = (kube.get(f"{CRD_PATH}/{name}").get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
