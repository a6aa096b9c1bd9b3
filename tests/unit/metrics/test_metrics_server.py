"""Server metrics: the exposition parser and the series derived from a run's scrapes."""

from __future__ import annotations

import pytest

from servegate.metrics.run_meta import Span
from servegate.metrics.server import parse_exposition, server_series

S = 1_000_000_000

TEXT = """\
# HELP vllm:num_requests_waiting Requests waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m",pod="a"} 3.0
vllm:num_requests_waiting{model_name="m",pod="b"} 2.0
# HELP vllm:kv_cache_usage_perc KV-cache usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{pod="a"} 0.2
vllm:kv_cache_usage_perc{pod="b"} 0.4
# HELP vllm:generation_tokens Tokens generated.
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{pod="a"} 100.0
vllm:generation_tokens_total{pod="b"} 50.0
# HELP unrelated Something else.
# TYPE unrelated gauge
unrelated 9.0
"""


def test_exposition_sums_counts_and_averages_fractions() -> None:
    assert parse_exposition(TEXT) == {
        "vllm:num_requests_waiting": 5.0,
        "vllm:kv_cache_usage_perc": pytest.approx(0.3),
        "vllm:generation_tokens_total": 150.0,
    }


def test_exposition_rejects_what_is_not_prometheus_text() -> None:
    with pytest.raises(ValueError):
        parse_exposition("<html>not metrics</html>\n")


def _line(t_s: float, **values: float) -> dict[str, object]:
    names = {"gen": "vllm:generation_tokens_total", "kv": "vllm:kv_cache_usage_perc"}
    return {"wall_ns": int(100 * S + t_s * S), "values": {names[k]: v for k, v in values.items()}}


def test_series_align_on_run_start_and_counters_become_rates() -> None:
    lines = [
        {"source": "http://x/metrics", "interval_s": 1.0},
        _line(0, gen=0, kv=0.1),
        _line(1, gen=100, kv=0.2),
        {"wall_ns": 101_500_000_000, "error": "GET http://x/metrics: timed out"},
        _line(2, gen=300, kv=0.5),
        _line(4, gen=20, kv=0.0),  # the server restarted: its counter began again
    ]
    window = Span(start_ns=100 * S + S // 2, end_ns=103 * S)  # holds the scrapes at 1 s and 2 s
    s = server_series(lines, start_ns=100 * S, window=window)
    assert (s.source, s.scrapes, s.errors) == ("http://x/metrics", 5, 1)
    assert s.first_error == "GET http://x/metrics: timed out"
    assert s.t_s == [0.0, 1.0, 2.0, 4.0]
    assert s.series["generation_tokens_per_s"] == [None, 100.0, 200.0, None]
    assert s.series["kv_cache_pct"] == pytest.approx([10.0, 20.0, 50.0, 0.0])
    assert "waiting" not in s.series  # never reported by this server
    assert s.window["kv_cache_pct"].mean == pytest.approx(35.0)
    assert s.window["generation_tokens_per_s"].max == 200.0
