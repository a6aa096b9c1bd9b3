"""Reading public LLM request traces into (arrival second, prompt tokens, output tokens).

Formats (units as their publishers document them):

- ``azure``: Azure LLM inference trace CSV (2023 and 2024), columns ``TIMESTAMP`` (a UTC
  date-time with up to 7 fractional digits), ``ContextTokens``, ``GeneratedTokens``.
- ``burstgpt``: BurstGPT CSV, columns ``Timestamp`` (seconds from the trace start),
  ``Request tokens``, ``Response tokens`` (plus Model, Total tokens, Log Type, unused).
  Rows with 0 response tokens (failed requests in the trace) are skipped.
- ``mooncake``: Mooncake JSONL, ``timestamp`` (milliseconds from the trace start),
  ``input_length``, ``output_length`` (``hash_ids``, the shared-prefix blocks, unused).

Times are made relative to the first entry, entries before ``start`` seconds dropped, gaps
multiplied by ``time_scale``, and the list cut at ``max_requests``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from servegate.config.workload import Trace
from servegate.errors import UserError


@dataclass(frozen=True, slots=True)
class TraceEntry:
    t: float  # seconds since the replay starts
    prompt_tokens: int
    output_tokens: int


def parse_azure_time(text: str) -> float:
    """Seconds since the epoch of '2023-11-16 18:15:46.6805900' (any number of fraction digits)."""
    whole, _, frac = text.strip().partition(".")
    try:
        dt = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a date-time: {text!r}") from None
    if frac and not frac.isdigit():
        raise ValueError(f"not a date-time: {text!r}")
    return dt.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _int(value: object, what: str) -> int:
    try:
        n = int(float(str(value)))
    except ValueError:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if n < 0:
        raise ValueError(f"{what} is negative: {n}")
    return n


def _csv_rows(path: Path, need: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: no column {', '.join(repr(c) for c in missing)}")
        yield from enumerate(reader, 2)


def _raw(path: Path, fmt: str) -> Iterator[tuple[float, int, int]]:
    if fmt == "azure":
        for n, row in _csv_rows(path, ("TIMESTAMP", "ContextTokens", "GeneratedTokens")):
            try:
                yield (
                    parse_azure_time(row["TIMESTAMP"]),
                    _int(row["ContextTokens"], "ContextTokens"),
                    _int(row["GeneratedTokens"], "GeneratedTokens"),
                )
            except ValueError as exc:
                raise UserError(f"{path}:{n}: {exc}") from None
    elif fmt == "burstgpt":
        cols = ("Timestamp", "Request tokens", "Response tokens")
        for n, row in _csv_rows(path, cols):
            try:
                t = float(row["Timestamp"])
                p = _int(row["Request tokens"], "Request tokens")
                o = _int(row["Response tokens"], "Response tokens")
            except ValueError as exc:
                raise UserError(f"{path}:{n}: {exc}") from None
            if o > 0:
                yield t, p, o
    else:
        with path.open("rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = orjson.loads(line)
                    if not isinstance(doc, dict):
                        raise ValueError("not a JSON object")
                    yield (
                        float(doc["timestamp"]) / 1000.0,
                        _int(doc["input_length"], "input_length"),
                        _int(doc["output_length"], "output_length"),
                    )
                except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                    raise UserError(f"{path}:{n}: {exc}") from None
                except KeyError as exc:
                    raise UserError(f"{path}:{n}: no field {exc}") from None


def read_trace(tr: Trace) -> list[TraceEntry]:
    path = Path(tr.path)
    if not path.is_file():
        raise UserError(f"trace.path: {path}: no such file")
    try:
        raw = sorted(_raw(path, tr.format), key=lambda e: e[0])  # stable: ties keep file order
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    if not raw:
        raise UserError(f"{path}: no requests in the trace")
    t0 = raw[0][0] + tr.start
    out: list[TraceEntry] = []
    for t, p, o in raw:
        if t < t0:
            continue
        if tr.max_requests is not None and len(out) >= tr.max_requests:
            break
        p = max(1, min(p, tr.max_prompt_tokens or p))
        o = max(1, min(o, tr.max_output_tokens or o))
        out.append(TraceEntry(t=(t - t0) * tr.time_scale, prompt_tokens=p, output_tokens=o))
    if not out:
        raise UserError(f"{path}: no requests after start: {tr.start:g} s")
    return out
