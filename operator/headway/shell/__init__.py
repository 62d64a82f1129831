"""The only Kubernetes I/O: load resources, read Jobs and pods, apply a plan, patch status."""
