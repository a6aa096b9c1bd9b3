"""The study glue: verdict wording, consistency of the document, the Markdown table."""

from __future__ import annotations

import math

from servegate.config.prices import GpuPrice
from servegate.sim.settings import SimSettings
from servegate.utilisation.capacity import Lengths, RequestMix
from servegate.utilisation.policy import Policy
from servegate.utilisation.study import StudyInput, run_study, to_markdown, verdict
from servegate.utilisation.trace import TraceShape


def test_verdict_places_each_reading() -> None:
    static = {"gpu_util_busy": 0.5, "batch_occupancy": 0.9, "capacity_util": 0.3}
    auto = {"gpu_util_busy": 0.85, "batch_occupancy": 0.95, "capacity_util": 0.5}
    v = verdict(static, auto)
    assert v["dcgm_busy"]["static_idle_vs_40_60"] == "within"
    assert v["dcgm_busy"]["autoscaled_util_vs_80_90"] == "within"
    assert v["batch_occupancy"]["static_idle_vs_40_60"] == "below"
    assert v["batch_occupancy"]["autoscaled_util_vs_80_90"] == "above"
    assert v["capacity"]["static_idle_vs_40_60"] == "above"
    assert v["capacity"]["autoscaled_util_vs_80_90"] == "below"


def test_small_study_is_consistent_and_deterministic() -> None:
    sim = SimSettings(max_num_seqs=32, kv_cache_tokens=40_000, decode_base_s=0.01)
    inp = StudyInput(
        sim=sim,
        mix=RequestMix(prompt=Lengths(200, 20), output=Lengths(60, 10)),
        shape=TraceShape(peak_rps=60.0, seed=1),
        policy=Policy(max_replicas=2),
        price=GpuPrice(usd_per_hour=2.0, source="test"),
        gpu_product="GPU",
        seconds_per_rate=30.0,
    )
    doc = run_study(inp)
    assert doc == run_study(inp)
    assert doc["policy"]["max_replicas"] == doc["static_replicas"]  # raised to static's size
    for f in doc["results"].values():
        assert math.isclose(f["usd"], 2.0 * f["gpu_hours"])
        assert math.isclose(f["gpu_util_busy"] + f["idle_fraction"], 1.0)
    md = to_markdown(doc)
    assert "| GPU-hours |" in md and "80-90%" in md
    assert f"static holds {doc['static_replicas']} GPUs" in md
