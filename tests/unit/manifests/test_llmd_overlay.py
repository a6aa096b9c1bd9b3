"""The llmd overlay runs llm-d-inference-sim's image with the loopback runs' flags, and keeps
the sim overlay's Service, probes, ports, placement and GPU requests."""

from __future__ import annotations

from typing import Any

from manifest_units import ROOT, rendered

from servegate.cluster.node import images, llmdsim

UNIT = ROOT / "vllm-deployment"


def _container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (w,) = [o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "vllm"]
    (c,) = [c for c in w["spec"]["template"]["spec"]["containers"] if c["name"] == "vllm"]
    assert isinstance(c, dict)
    return c


def _pairs(flags: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``--name=value``, ``--name value`` and bare ``--switch`` as (name, value) pairs."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(flags):
        name, eq, value = flags[i].partition("=")
        assert name.startswith("--"), flags[i]
        if not eq and i + 1 < len(flags) and not flags[i + 1].startswith("--"):
            value, i = flags[i + 1], i + 1
        out.append((name, value))
        i += 1
    return out


def test_llmd_overlay_matches_sim_but_for_the_server() -> None:
    llmd, sim = rendered(UNIT / "overlays" / "llmd"), rendered(UNIT / "overlays" / "sim")
    assert sorted((o["kind"], o["metadata"]["name"]) for o in llmd) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in sim
    )
    for kind in ("Service", "ServiceMonitor", "ScaledObject"):
        assert [o for o in llmd if o["kind"] == kind] == [o for o in sim if o["kind"] == kind]
    lc, sc = _container(llmd), _container(sim)
    for key in ("ports", "startupProbe", "readinessProbe", "livenessProbe", "lifecycle"):
        assert lc[key] == sc[key], key
    for part in ("requests", "limits"):
        assert lc["resources"][part]["nvidia.com/gpu"] == sc["resources"][part]["nvidia.com/gpu"]
    (lw,) = [o for o in llmd if o["kind"] == "Deployment"]
    (sw,) = [o for o in sim if o["kind"] == "Deployment"]
    ls, ss = lw["spec"]["template"]["spec"], sw["spec"]["template"]["spec"]
    for key in ("affinity", "tolerations", "nodeSelector"):
        assert ls.get(key) == ss.get(key), key


def test_llmd_overlay_runs_the_built_image_with_the_loopback_flags() -> None:
    c = _container(rendered(UNIT / "overlays" / "llmd"))
    assert c["image"] == images.LLMD_SIM and c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"] == images.LLMD_SIM_CONFIG.entrypoint
    assert _pairs(c["args"]) == [("--port", "8000"), *_pairs(llmdsim.SERVE_FLAGS)]
    # the port the probes and the Service use is the one the server listens on
    assert c["ports"] == [{"name": "http", "containerPort": 8000}]
