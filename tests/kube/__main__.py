"""A test cluster to try ome mode by hand: the API server with OME's CRDs, base models for the
example cases' models, OME's sample SGLang runtime, and the harness playing OME's controller and
an 8-GPU node that runs the simulator.

    .venv/bin/python -m tests.kube --kubeconfig /tmp/ome.kubeconfig
    # in another terminal:
    pytest tuning_cases --autotune-mode=ome --autotune-ome-kubeconfig /tmp/ome.kubeconfig \
        --autotune-ome-access service

Ctrl-C stops it all (nothing is kept).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from .cluster import CRD_DIR, SAMPLES_DIR, KubeCluster
from .ome_harness import OmeHarness

#: ClusterBaseModels for the example cases' models (OME's names, from the model path)
MODELS = {
    "llama-3-2-1b-instruct": "meta/llama-3-2-1b-instruct",
    "llama-3-1-8b-instruct": "meta/llama-3-1-8b-instruct",
    "llama-3-1-70b-instruct": "meta/llama-3-1-70b-instruct",
}


def populate(api: Any) -> None:
    from kubernetes import client

    custom: Any = client.CustomObjectsApi(api)
    sample = yaml.safe_load((SAMPLES_DIR / "Llama-3.2-1B-Instruct.yaml").read_text())
    for name, path in MODELS.items():
        model = copy.deepcopy(sample)
        model["metadata"] = {"name": name}
        model["spec"]["storage"]["path"] = f"/raid/models/{path}"
        custom.create_cluster_custom_object("ome.io", "v1beta1", "clusterbasemodels", model)
    runtime = yaml.safe_load((SAMPLES_DIR / "llama-3-2-1b-instruct-rt.yaml").read_text())
    custom.create_cluster_custom_object("ome.io", "v1beta1", "clusterservingruntimes", runtime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kube", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, required=True,
                        help="where to copy the cluster's kubeconfig")
    parser.add_argument("--gpus", type=int, default=8, help="GPUs of the node (default: 8)")
    parser.add_argument("--sim-gpu", default="h100", help="the node's GPU kind (default: h100)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(sig, lambda *_: stop.set())
    with KubeCluster(crd_dir=CRD_DIR) as cluster, \
            tempfile.TemporaryDirectory(prefix="ome-harness-") as work:
        api = cluster.api_client()
        populate(api)
        shutil.copy(cluster.kubeconfig, args.kubeconfig)
        with OmeHarness(api, Path(work), gpus=args.gpus, sim_gpu=args.sim_gpu,
                        startup_scale=0.05):
            print(f"test cluster ready at {cluster.server} (up in {cluster.ready_seconds:.1f} s,"
                  f" CRDs in {cluster.crd_seconds:.1f} s); kubeconfig: {args.kubeconfig}\n"
                  f"  pytest tuning_cases --autotune-mode=ome --autotune-ome-kubeconfig "
                  f"{args.kubeconfig} --autotune-ome-access service\nCtrl-C stops it.",
                  flush=True)
            stop.wait()
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
