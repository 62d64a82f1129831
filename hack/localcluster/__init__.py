"""The local Kubernetes cluster used for development, tests, the demo and benchmarks.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built
from their Go modules by ``hack/build-k8s.sh``) plus a small kubelet of our own
(:mod:`localcluster.kubelet`) that runs pods' containers as local processes.
"""
