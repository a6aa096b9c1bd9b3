"""The engine overlays run the image servegate builds, with the flags the loopback runs use,
and keep the gpu overlay's GPU requests, placement, Service and probes."""

from __future__ import annotations

from typing import Any

import pytest
from manifest_units import ROOT, rendered

from servegate.cluster.node import images
from servegate.cluster.node.engineproc import OVERLAY_FLAGS

UNITS = {"vllm-deployment": "vllm", "vllm-statefulset": "llm-server", "rag-system": "llm-service"}


def _workload(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    kinds = ("Deployment", "StatefulSet")
    (w,) = [o for o in objs if o["kind"] in kinds and o["metadata"]["name"] == name]
    return w


def _flags(args: list[str]) -> dict[str, str]:
    """``--name value`` pairs and bare ``--name`` switches (llama-server's own parser takes
    no ``--name=value``: each flag must be a separate item)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        assert args[i].startswith("--") and "=" not in args[i], args[i]
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]], i = args[i + 1], i + 2
        else:
            out[args[i]], i = "", i + 1
    return out


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_engine_overlay_matches_gpu_but_for_the_server(unit: str) -> None:
    engine = rendered(ROOT / unit / "overlays" / "engine")
    gpu = rendered(ROOT / unit / "overlays" / "gpu")
    e, g = _workload(engine, UNITS[unit]), _workload(gpu, UNITS[unit])
    es, gs = e["spec"]["template"]["spec"], g["spec"]["template"]["spec"]
    for key in ("affinity", "tolerations", "nodeSelector"):
        assert es.get(key) == gs.get(key), key
    (ec,) = [c for c in es["containers"] if c["name"] == "vllm"]
    (gc,) = [c for c in gs["containers"] if c["name"] == "vllm"]
    for res in ("requests", "limits"):
        assert ec["resources"][res]["nvidia.com/gpu"] == gc["resources"][res]["nvidia.com/gpu"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert ec[probe] == gc[probe], probe
    assert ec["ports"] == gc["ports"]
    assert [o for o in engine if o["kind"] == "Service"] == [
        o for o in gpu if o["kind"] == "Service"
    ]


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_engine_overlay_runs_the_built_image_with_the_loopback_flags(unit: str) -> None:
    w = _workload(rendered(ROOT / unit / "overlays" / "engine"), UNITS[unit])
    (c,) = [c for c in w["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
    assert c["image"] == images.ENGINE and c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"] == images.ENGINE_CONFIG.entrypoint
    flags = _flags(c["args"])
    assert flags["--model"] == images.ENGINE_MODEL
    assert (flags["--host"], flags["--port"]) == ("0.0.0.0", "8000")
    # OVERLAY_FLAGS is "--name value" pairs, except the bare "--metrics"
    pairs = [f for f in OVERLAY_FLAGS if f != "--metrics"]
    loopback = dict(zip(pairs[::2], pairs[1::2], strict=True))
    for name in ("--alias", "--parallel", "--ctx-size", "--threads", "--threads-batch"):
        assert flags[name] == loopback[name], name
    assert "--metrics" in flags
