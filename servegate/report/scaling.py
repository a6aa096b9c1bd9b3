"""Autoscaling time series as a report section: a plotly figure spec and a markdown table.

The figure is a plain plotly JSON spec (as the run reports build theirs), three panels on one
time axis: replicas, queue depth (and the autoscaler's own metric values), latency. Marks such
as "load start" / "load stop" are drawn as vertical lines so a reader sees the reaction time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from servegate.metrics.replica_traffic import (
    counts_recorded,
    pods_text,
    ready_seconds,
    served_per_pod,
)
from servegate.metrics.scaling import (
    REQUESTS,
    ScalingSample,
    busiest_pod_share,
    peak,
    served_unit,
)


def _line(
    name: str, xs: list[float], ys: list[Any], axis: str, shape: str = "linear"
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": name,
        "x": xs,
        "y": ys,
        "xaxis": "x",
        "yaxis": axis,
        "line": {"shape": shape},
        "marker": {"size": 4},
    }


def scaling_figure(
    samples: Sequence[ScalingSample],
    title: str,
    marks: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """A plotly figure dict (``sg_results.section(figures=[...])``) of the series."""
    xs = [round(s.t, 2) for s in samples]
    data = [
        _line("ready replicas", xs, [s.ready for s in samples], "y", "hv"),
        _line("desired replicas", xs, [s.desired for s in samples], "y", "hv"),
        _line("queue depth (sum waiting)", xs, [s.queue_depth for s in samples], "y2"),
    ]
    names = sorted({k for s in samples for k in s.metrics})
    for name in names:
        data.append(_line(f"HPA {name}", xs, [s.metrics.get(name) for s in samples], "y2"))
    for pod in sorted({p for s in samples for p in s.queue_by_pod}):
        per_pod = _line(f"waiting on {pod}", xs, [s.queue_by_pod.get(pod) for s in samples], "y2")
        per_pod["line"]["dash"] = "dot"
        per_pod["visible"] = "legendonly" if len(data) > 12 else True
        data.append(per_pod)
    data.append(_line("e2e p50 ms", xs, [s.p50_ms for s in samples], "y3"))
    data.append(_line("e2e p99 ms", xs, [s.p99_ms for s in samples], "y3"))
    layout: dict[str, Any] = {
        "title": {"text": title},
        "height": 640,
        "hovermode": "x unified",
        "xaxis": {"title": {"text": "seconds since sampling started"}, "anchor": "y3"},
        "yaxis": {"domain": [0.68, 1.0], "title": {"text": "replicas"}, "rangemode": "tozero"},
        "yaxis2": {
            "domain": [0.36, 0.64],
            "title": {"text": "queue / metric"},
            "rangemode": "tozero",
        },
        "yaxis3": {"domain": [0.0, 0.32], "title": {"text": "latency ms"}, "rangemode": "tozero"},
        "shapes": [],
        "annotations": [],
    }
    for label, t in (marks or {}).items():
        layout["shapes"].append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": t,
                "x1": t,
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dot", "width": 1},
            }
        )
        layout["annotations"].append(
            {"x": t, "y": 1.02, "xref": "x", "yref": "paper", "text": label, "showarrow": False}
        )
    return {"data": data, "layout": layout}


def _cell(v: float | int | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    return str(v) if isinstance(v, int) else f"{v:.{digits}f}"


def _pick(samples: Sequence[ScalingSample], max_rows: int) -> list[ScalingSample]:
    """Rows where replicas change first (and the ends), then evenly spaced ones, at most
    ``max_rows``; changes are thinned evenly only if they alone exceed the limit."""
    n = len(samples)
    if n <= max_rows:
        return list(samples)
    keep = {0, n - 1}
    keep.update(
        i
        for i in range(1, n)
        if (samples[i - 1].ready, samples[i - 1].desired) != (samples[i].ready, samples[i].desired)
    )
    rows = sorted(keep)
    if len(rows) > max_rows:
        stride = (len(rows) - 1) / (max_rows - 1)
        rows = sorted({rows[round(i * stride)] for i in range(max_rows)})
    else:
        spare = max_rows - len(rows)
        rest = [i for i in range(n) if i not in keep]
        stride = len(rest) / spare if spare else 0.0
        rows = sorted(keep | {rest[int(i * stride)] for i in range(spare)})
    return [samples[i] for i in rows]


def scaling_markdown(
    samples: Sequence[ScalingSample],
    marks: Mapping[str, float] | None = None,
    max_rows: int = 30,
) -> str:
    """A headline line and a table of the series (thinned to ``max_rows``)."""
    if not samples:
        return "No samples were recorded."
    head = (
        f"{len(samples)} samples over {samples[-1].t:.0f}s; peak ready replicas "
        f"{_cell(peak(samples, 'ready'))}, peak queue depth {_cell(peak(samples, 'queue_depth'))}, "
        f"peak p99 {_cell(peak(samples, 'p99_ms'))} ms."
    )
    share = busiest_pod_share(samples)
    if share is not None:
        head += f" Busiest pod's share of the queue while several pods served: {share:.0%}."
    served = counts_recorded(samples)
    if served:
        unit = served_unit(samples)
        what = "Requests completed" if unit == REQUESTS else f"Served work ({unit})"
        head += f" {what} per pod: {_served_text(samples, marks)}."
    if marks:
        head += " Marks: " + ", ".join(f"{k} at {v:.0f}s" for k, v in marks.items()) + "."
    names = sorted({k for s in samples for k in s.metrics})
    cols = ["t s", "desired", "ready", "queue", "per pod", *[f"HPA {n}" for n in names]]
    served_col = (
        f"served per pod{'' if served_unit(samples) == REQUESTS else ', ' + served_unit(samples)}"
    )
    cols += ["p50 ms", "p99 ms", *([served_col] if served else [])]
    lines = [head, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for s in _pick(samples, max_rows):
        cells = [f"{s.t:.0f}", _cell(s.desired), _cell(s.ready), _cell(s.queue_depth)]
        cells.append(" / ".join(_cell(s.queue_by_pod[p], 0) for p in sorted(s.queue_by_pod)) or "-")
        cells += [_cell(s.metrics.get(n), 2) for n in names]
        cells += [_cell(s.p50_ms, 0), _cell(s.p99_ms, 0)]
        if served:
            by_pod = s.served_by_pod
            cells.append(" / ".join(_cell(by_pod[p], 0) for p in sorted(by_pod)) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _served_text(samples: Sequence[ScalingSample], marks: Mapping[str, float] | None) -> str:
    """Each pod's completed requests and, when the load's marks are there, how long it was
    Ready while the load ran."""
    m = marks or {}
    window = (m["load start"], m["load stop"]) if {"load start", "load stop"} <= set(m) else None
    ready = None if window is None else ready_seconds(samples, *window)
    return pods_text(ready, served_per_pod(samples), served_unit(samples))
