"""The seed's GPU-utilisation claim, measured on a simulated day (no cluster needed).

Setup: the simulator's 8B-like engine settings and the default price table. Assess: measure
one replica's capacity curve on the batching engine, serve a 24-hour diurnal trace with static
(sized for the peak) and autoscaled allocation, write utilisation.json/.md and check that the
figures hold together and that autoscaling saves GPU-hours without costing SLO minutes. The
seed's own numbers (40-60% idle, 80-90% utilisation) are reported with a verdict, never
asserted. Teardown: nothing runs outside this process.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from servegate.config.prices import load_prices
from servegate.paths import LOADPROFILES
from servegate.sim.settings import load_settings
from servegate.utilisation.capacity import Lengths, RequestMix
from servegate.utilisation.policy import Policy
from servegate.utilisation.study import StudyInput, replicas_figure, run_study, to_markdown
from servegate.utilisation.trace import MINUTES, TraceShape

SIM = LOADPROFILES / "sim" / "vllm-8b-like.yaml"
GPU = "NVIDIA-A100-SXM4-80GB"
# Autoscaling may cost at most this many SLO-violation minutes more than static (1% of a day).
EXTRA_VIOLATION_MINUTES = MINUTES // 100


@pytest.mark.benchmark
def test_utilisation_claim(
    sg_test_dir: Path, sg_results: Any, sg_self_consistency: Callable[[str], None]
) -> None:
    sg_self_consistency(
        "the capacity curve, the trace and both allocations come from servegate's simulator "
        "model; the figures are checked for holding together, not against a real fleet"
    )
    sim = load_settings(SIM, environ={})
    inp = StudyInput(
        sim=sim,
        mix=RequestMix(output=Lengths(sim.output_len_mean, sim.output_len_stdev)),
        shape=TraceShape(seed=sim.seed),
        policy=Policy(),
        price=load_prices().price(GPU),
        gpu_product=GPU,
    )
    doc = run_study(inp)
    (sg_test_dir / "utilisation.json").write_text(json.dumps(doc, indent=2) + "\n")
    md = to_markdown(doc)
    (sg_test_dir / "utilisation.md").write_text(md)
    print("\n" + md)
    sg_results.section(
        "utilisation-claim",
        "GPU utilisation on a simulated day: static against autoscaled",
        md,
        data=doc["results"],
        figures=[replicas_figure(doc)],
    )

    s, a = doc["results"]["static"], doc["results"]["autoscaled"]
    assert a["gpu_hours"] < s["gpu_hours"]
    assert a["slo_violation_minutes"] <= s["slo_violation_minutes"] + EXTRA_VIOLATION_MINUTES
    assert a["peak_replicas"] <= doc["policy"]["max_replicas"]
    for f in (s, a):
        assert 0.0 <= f["gpu_util_busy"] <= 1.0
        assert math.isclose(f["gpu_util_busy"], f["busy_gpu_hours"] / f["gpu_hours"])
        assert math.isclose(f["idle_fraction"], 1.0 - f["gpu_util_busy"])
        assert f["batch_occupancy"] <= f["gpu_util_busy"]  # a step needs a running sequence
        assert math.isclose(f["usd"], f["gpu_hours"] * doc["price"]["usd_per_hour"])
        assert math.isclose(f["usd_per_million_output_tokens"], f["usd"] / f["output_tokens"] * 1e6)
        assert f["served"] <= f["requests"] + 1e-6
    assert math.isclose(s["gpu_hours"], doc["static_replicas"] * 24)
    assert math.isclose(a["gpu_hours"], sum(doc["replicas_by_minute"]["autoscaled"]) / 60)
    # The same work was done both ways, so the cheaper allocation is cheaper per token.
    assert a["usd_per_million_output_tokens"] < s["usd_per_million_output_tokens"]
    assert set(doc["verdict"]) == {"dcgm_busy", "batch_occupancy", "capacity"}
