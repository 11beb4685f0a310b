"""A real Kubernetes API server for tests (see cluster.py and scripts/ensure-kube-apiserver)."""
