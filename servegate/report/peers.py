"""What ``servegate compare`` can put on either side: servegate runs and peers' results.

- a servegate run directory or its ``summary.json``: one value per figure;
- a directory of repeats (``repeats.json``, written by ``repeats: N``): one value per repeat;
- guidellm's JSON report (``benchmarks``: a list of generative benchmarks, ``metrics`` with
  ``successful`` distributions): ``FILE#N`` picks the N-th benchmark (from 0) when it holds
  several, e.g. one per rate of a sweep;
- inference-perf's lifecycle metrics JSON (``summary_lifecycle_metrics.json`` or
  ``stage_N_lifecycle_metrics.json``: ``load_summary``, ``successes``, ``failures``).

Peers' figures are mapped onto servegate's definitions (docs/metrics.md): guidellm's
``inter_token_latency_ms`` is servegate's TPOT and its ``time_per_output_token_ms`` is NTPOT
(both per request); inference-perf's ``time_per_output_token``, ``inter_token_latency`` and
``normalized_time_per_output_token`` are TPOT, ITL and NTPOT. Seconds become milliseconds.
A figure a tool does not measure is left out (never counted as a regression).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from servegate.errors import UserError
from servegate.metrics.repeats import REPEATS_FILE, RepeatSummary
from servegate.metrics.run_meta import load_json_model
from servegate.metrics.summary import SUMMARY_FILE, Summary
from servegate.report.compare import Side, side_of

# servegate stat name -> guidellm distribution field (percentiles live under "percentiles")
_GUIDELLM_STATS = {
    "mean": "mean",
    "max": "max",
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99_9": "p999",
}
# servegate metric -> (guidellm metric, factor to milliseconds)
_GUIDELLM_LATENCY = {
    "ttft": ("time_to_first_token_ms", 1.0),
    "tpot": ("inter_token_latency_ms", 1.0),
    "ntpot": ("time_per_output_token_ms", 1.0),
    "e2e": ("request_latency", 1000.0),
}
_IPERF_STATS = {
    "mean": "mean",
    "max": "max",
    "p50": "median",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99_9": "p99.9",
}
_IPERF_LATENCY = {
    "ttft": "time_to_first_token",
    "tpot": "time_per_output_token",
    "itl": "inter_token_latency",
    "ntpot": "normalized_time_per_output_token",
    "e2e": "request_latency",
}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _dig(doc: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(p)
    return doc


def guidellm_side(doc: dict[str, Any], index: int | None, label: str) -> Side:
    benches = doc.get("benchmarks")
    if not isinstance(benches, list) or not benches:
        raise UserError(f"{label}: a guidellm report with no benchmarks")
    if index is None:
        if len(benches) > 1:
            raise UserError(
                f"{label}: {len(benches)} guidellm benchmarks; pick one with {label}#N (0-based)"
            )
        index = 0
    if not 0 <= index < len(benches):
        raise UserError(f"{label}: no benchmark #{index} (it has {len(benches)})")
    bench = benches[index]
    metrics = bench.get("metrics") if isinstance(bench, dict) else None
    if not isinstance(metrics, dict):
        raise UserError(f"{label}#{index}: a guidellm benchmark without 'metrics'")
    values: dict[str, list[float | None]] = {}
    for metric, (name, factor) in _GUIDELLM_LATENCY.items():
        dist = _dig(metrics, name, "successful")
        if not isinstance(dist, dict) or not dist.get("count"):
            continue
        for stat, field in _GUIDELLM_STATS.items():
            raw = dist.get(field) if stat in ("mean", "max") else _dig(dist, "percentiles", field)
            v = _num(raw)
            values[f"{metric}.{stat}"] = [None if v is None else v * factor]
    for key, name in (
        ("throughput.output_tokens_per_s", "output_tokens_per_second"),
        ("throughput.requests_per_s", "requests_per_second"),
    ):
        v = _num(_dig(metrics, name, "successful", "mean"))
        if v is not None:
            values[key] = [v]
    totals = metrics.get("request_totals") or {}
    ok, err = _num(totals.get("successful")), _num(totals.get("errored"))
    if ok is not None and err is not None and ok + err > 0:
        values["error_rate"] = [err / (ok + err)]
    strategy = _dig(bench, "config", "strategy") or {}
    kind = strategy.get("type_", "?") if isinstance(strategy, dict) else "?"
    rate = strategy.get("rate") if isinstance(strategy, dict) else None
    name = f"guidellm {kind}" + (f"@{rate:g}" if isinstance(rate, int | float) else "")
    return Side(f"{label}#{index}", name, "guidellm", values)


def inference_perf_side(doc: dict[str, Any], label: str) -> Side:
    succ = doc.get("successes")
    if not isinstance(succ, dict):
        raise UserError(f"{label}: an inference-perf report without 'successes'")
    values: dict[str, list[float | None]] = {}
    for metric, name in _IPERF_LATENCY.items():
        dist = _dig(succ, "latency", name)
        if not isinstance(dist, dict):
            continue
        for stat, field in _IPERF_STATS.items():
            v = _num(dist.get(field))
            values[f"{metric}.{stat}"] = [None if v is None else v * 1000.0]
    for key, name in (
        ("throughput.output_tokens_per_s", "output_tokens_per_sec"),
        ("throughput.requests_per_s", "requests_per_sec"),
    ):
        v = _num(_dig(succ, "throughput", name))
        if v is not None:
            values[key] = [v]
    ok, failed = _num(succ.get("count")), _num(_dig(doc, "failures", "count"))
    if ok is not None and failed is not None and ok + failed > 0:
        values["error_rate"] = [failed / (ok + failed)]
    rate = _num(_dig(doc, "load_summary", "requested_rate"))
    name = "inference-perf" + ("" if rate is None else f" @{rate:g} req/s")
    return Side(label, name, "inference-perf", values)


def _repeats_side(run_dir: Path, label: str) -> Side:
    rs: RepeatSummary = load_json_model(run_dir / REPEATS_FILE, RepeatSummary, "repeats")
    summaries: list[Summary] = [
        load_json_model(run_dir / r / SUMMARY_FILE, Summary, "summary") for r in rs.runs
    ]
    if not summaries:
        raise UserError(f"{run_dir / REPEATS_FILE}: no repeats listed")
    return side_of(summaries, label)


def load_side(spec: str | Path, label: str | None = None) -> Side:
    """A comparison side from a run directory, summary.json, repeats directory, or a peer's
    JSON result (``FILE#N`` picks a guidellm benchmark). One-line :class:`UserError` if bad."""
    text = str(spec)
    path, index = Path(text), None
    if "#" in text and not path.exists():
        head, _, tail = text.rpartition("#")
        if not tail.isdigit():
            raise UserError(f"{text}: expected FILE#N with N a benchmark index")
        path, index = Path(head), int(tail)
    name = label or str(path)
    if path.is_dir():
        if (path / REPEATS_FILE).exists():
            return _repeats_side(path, name)
        path = path / SUMMARY_FILE
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UserError(f"{path}: not readable JSON ({exc})") from None
    if isinstance(doc, dict) and "benchmarks" in doc:
        return guidellm_side(doc, index, name)
    if index is not None:
        raise UserError(f"{text}: #N selects a guidellm benchmark; {path} is not a guidellm report")
    if isinstance(doc, dict) and "successes" in doc and "load_summary" in doc:
        return inference_perf_side(doc, name)
    if isinstance(doc, dict) and "figures" in doc and "runs" in doc:
        return _repeats_side(path.parent, name)
    summary: Summary = load_json_model(path, Summary, "summary")
    return side_of([summary], name)
