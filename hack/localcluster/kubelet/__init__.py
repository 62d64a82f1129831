"""A small kubelet of our own: registers a Node and runs each pod's containers as local
processes, reporting real pod status (see docs/local-cluster.md)."""
