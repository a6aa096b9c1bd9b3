"""Histogram semantics and the exposition: vLLM and DCGM names, parseable text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from servegate.sim.metrics import Hist, LiveState, SimMetrics

EXPECTED = {
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:time_per_output_token_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
    "vllm:prompt_tokens",
    "vllm:generation_tokens",
    "vllm:request_success",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
}


def test_hist_le_semantics_and_weighted_observe() -> None:
    h = Hist((0.1, 1.0))
    h.observe(0.1)  # exactly on a bound counts in that bucket
    h.observe(0.5, n=3)
    h.observe(5.0)
    assert h.cumulative() == [("0.1", 1.0), ("1.0", 4.0), ("+Inf", 5.0)]
    assert h.count == 5 and h.total == 0.1 + 1.5 + 5.0


def test_exposition_names_labels_and_values() -> None:
    live = LiveState(running=8, waiting=3, kv_usage=0.25)
    m = SimMetrics("my-model", 16, 1000.0, 4000.0, lambda: live)
    m.request_done("stop", prompt=10, generated=5, e2e=0.7)
    m.ttft.observe(0.05)
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    assert set(families) >= EXPECTED
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    lab = (("model_name", "my-model"),)
    assert samples[("vllm:num_requests_running", lab)] == 8
    assert samples[("vllm:num_requests_waiting", lab)] == 3
    assert samples[("vllm:kv_cache_usage_perc", lab)] == 0.25
    assert samples[("vllm:prompt_tokens_total", lab)] == 10
    assert samples[("vllm:generation_tokens_total", lab)] == 5
    assert samples[("vllm:time_to_first_token_seconds_count", lab)] == 1
    ok = (("finished_reason", "stop"), ("model_name", "my-model"))
    assert samples[("vllm:request_success_total", ok)] == 1
    util = [s for s in families["DCGM_FI_DEV_GPU_UTIL"].samples]
    fb = [s for s in families["DCGM_FI_DEV_FB_USED"].samples]
    assert util[0].value == 50  # 8 of 16 sequences
    assert fb[0].value == 1000 + 0.25 * 4000
    assert util[0].labels["gpu"] == "0"
