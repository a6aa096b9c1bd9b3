"""Mergeable latency histograms with bounded relative error, for runs spread over processes.

Backed by DDSketch (docs/metrics.md says why, against HdrHistogram). A quantile read from a
sketch is within ``relative_accuracy`` of some sample's value at that rank; merging two
sketches adds their bins, so a merged sketch is exactly the sketch of the pooled samples.
Sketches travel as a small JSON document (sparse bins), encoded by :func:`to_bytes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.store import DenseStore

from servegate.metrics.stats import QUANTILES, Dist

DEFAULT_RELATIVE_ACCURACY = 0.01
SKETCH_FORMAT = "servegate-ddsketch/1"


def new_sketch(relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> BaseDDSketch:
    return DDSketch(relative_accuracy)


def sketch_of(values: Iterable[float], relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> Any:
    s = new_sketch(relative_accuracy)
    for v in values:
        s.add(v)
    return s


def _store_bins(store: DenseStore) -> dict[str, float]:
    return {str(store.offset + i): c for i, c in enumerate(store.bins) if c}


def to_json(sketch: BaseDDSketch) -> dict[str, Any]:
    """A JSON-ready dict: relative accuracy, count, sum, min, max and the non-empty bins."""
    empty = sketch.count == 0
    return {
        "format": SKETCH_FORMAT,
        "relative_accuracy": sketch._relative_accuracy,
        "count": sketch.count,
        "sum": sketch.sum,
        "min": None if empty else sketch._min,
        "max": None if empty else sketch._max,
        "zero_count": sketch._zero_count,
        "positive": _store_bins(sketch._store),
        "negative": _store_bins(sketch._negative_store),
    }


def from_json(d: Mapping[str, Any]) -> BaseDDSketch:
    """Inverse of :func:`to_json`. Raises ``ValueError`` on anything malformed."""
    try:
        if d.get("format") != SKETCH_FORMAT:
            raise ValueError(f"not a {SKETCH_FORMAT} document")
        template = DDSketch(float(d["relative_accuracy"]))
        stores = []
        for side in ("positive", "negative"):
            store = DenseStore()
            for key, count in dict(d[side]).items():
                store.add(int(key), float(count))
            stores.append(store)
        sketch = BaseDDSketch(
            mapping=template._mapping,
            store=stores[0],
            negative_store=stores[1],
            zero_count=float(d["zero_count"]),
        )
        if abs(sketch.count - float(d["count"])) > 1e-6:
            raise ValueError("bin counts do not add up to count")
        if sketch.count:
            sketch._min = float(d["min"])
            sketch._max = float(d["max"])
        sketch._sum = float(d["sum"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed sketch: {exc!r}") from None
    return sketch


def to_bytes(sketch: BaseDDSketch) -> bytes:
    return orjson.dumps(to_json(sketch))


def from_bytes(data: bytes) -> BaseDDSketch:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"sketch is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("sketch is not a JSON object")
    return from_json(doc)


def merge(sketches: Iterable[BaseDDSketch]) -> BaseDDSketch:
    """A new sketch holding every input's samples. Inputs must share the relative accuracy."""
    items = list(sketches)
    out = new_sketch(items[0]._relative_accuracy if items else DEFAULT_RELATIVE_ACCURACY)
    for s in items:
        out.merge(s)
    return out


def dist_of(sketch: BaseDDSketch) -> Dist:
    """A :class:`Dist` read from a sketch: percentiles approximate, count/mean/min/max exact."""
    if sketch.count == 0:
        return Dist()
    return Dist(
        count=round(sketch.count),
        mean=sketch.avg,
        min=sketch._min,
        max=sketch._max,
        **{name: sketch.get_quantile_value(q) for name, q in QUANTILES.items()},
    )
