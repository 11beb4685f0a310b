"""What ome mode adds between "create the InferenceService" and "the benchmark may start", and
how long its deletion takes, against the test cluster (a real API server, tests/kube, with the
harness playing OME's controller and the kubelet).

    .venv/bin/python benchmarks/ome_overhead.py [--repeats 5]

Per deployment (Llama-3.2-1B on the simulator, start-up scale 0.02), side by side in one run:
- ``engine``: the engine process started → it answered /health (the server's own start-up, what
  a kubelet and SGLang would take on a real cluster, here the simulator's);
- ``deploy``: OmeBackend.deploy from its first API call to a ready handle (create, watch to
  Ready, the Service URL's /health and /v1/models, /get_server_info);
- ``overhead`` = deploy − engine: the backend's API traffic, its watch and fault reads, the
  harness's reconcile period (0.2 s, standing in for OME's controller), and readiness checks;
- ``teardown``: delete with foreground propagation until the object is gone.

Prints a summary and writes benchmarks/results/ome_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "ome_overhead.json"
sys.path.insert(0, str(ROOT))

from pytest_autotune.backends.base import DeployContext, ServerSpec  # noqa: E402
from pytest_autotune.backends.ome import OmeBackend, OmeOptions  # noqa: E402
from pytest_autotune.values import Configuration  # noqa: E402
from tests.kube.__main__ import populate  # noqa: E402
from tests.kube.cluster import CRD_DIR, KubeCluster  # noqa: E402
from tests.kube.ome_harness import OmeHarness  # noqa: E402


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"engine": [], "deploy": [], "overhead": [],
                                       "teardown": []}
    with KubeCluster(crd_dir=CRD_DIR) as cluster, \
            tempfile.TemporaryDirectory() as work:
        api = cluster.api_client()
        populate(api)
        backend = OmeBackend(OmeOptions(kubeconfig=str(cluster.kubeconfig), access="service",
                                        runtime="srt-llama-3-2-1b-instruct"))
        with OmeHarness(api, Path(work), startup_scale=0.02) as harness:
            for i in range(args.repeats):
                config = Configuration(case="overhead", params=(("mem-fraction-static",
                                                                 0.8 + i / 1000),))
                spec = ServerSpec(case="overhead", configuration=config,
                                  model_path="meta-llama/Llama-3.2-1B-Instruct",
                                  flags=config.params, api_model_name="Llama-3.2-1B-Instruct")
                ctx = DeployContext(run_id=f"bench-{i}", artifacts=Path(work) / str(i))
                with backend.deploy(spec, ctx) as handle:
                    deploy = handle.deploy_seconds
                record: dict[str, Any] = json.loads((ctx.artifacts / "deploy.json").read_text())
                engine = harness.finished[-1]
                own = engine.healthy_at - engine.started_at
                figures["engine"].append(own)
                figures["deploy"].append(deploy)
                figures["overhead"].append(deploy - own)
                figures["teardown"].append(record["teardown_seconds"])
                print(f"#{i + 1}: deploy {deploy:.3f} s, engine {own:.3f} s, overhead "
                      f"{deploy - own:.3f} s, teardown {record['teardown_seconds']:.3f} s",
                      flush=True)
        backend.close()
        api.close()
        result = {"repeats": args.repeats, "cluster_ready_seconds": cluster.ready_seconds,
                  "crd_seconds": cluster.crd_seconds,
                  **{k: summary(v) for k, v in figures.items()}}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
