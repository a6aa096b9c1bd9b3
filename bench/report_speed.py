"""How long turning a run's records into its report takes, against reading those records.

A synthetic run (N streamed requests, one token per chunk, as vLLM sends them) is written
with the real RecordWriter. Each repetition times, in the same process:

- baseline: ``read_records`` alone (gzip + JSON decode + RequestRecord construction), the
  floor any report pays;
- analyze: baseline plus every figure of summary.json (no files written);
- write_report: everything, including report.md, report.html (plotly inlined) and sketches.

    .venv/bin/python bench/report_speed.py [--requests 5000] [--tokens 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from servegate.config.slo import slo_preset
from servegate.metrics.analyze import analyze
from servegate.metrics.io import RecordWriter, read_records
from servegate.metrics.record import RequestRecord
from servegate.metrics.run_meta import RunMeta, load_run_meta, write_run_meta
from servegate.report import write_report

MS = 1_000_000
S = 1_000_000_000


def make_run(d: Path, n: int, tokens: int) -> None:
    rng = random.Random(1)
    with RecordWriter(d / "records" / "w0.jsonl.gz") as w:
        for i in range(n):
            sent = i * 60 * S // n
            off = int(rng.uniform(50, 300) * MS)
            chunks = []
            for _ in range(tokens):
                chunks.append((off, 1))
                off += int(rng.uniform(5, 40) * MS)
            w.write(
                RequestRecord(
                    f"r{i}",
                    "chat",
                    True,
                    sent,
                    sent + off,
                    scheduled_ns=sent,
                    chunks=chunks,
                    status=200,
                    prompt_tokens=100,
                    completion_tokens=tokens,
                    client_tokens=tokens,
                )
            )
    write_run_meta(
        d,
        RunMeta(
            run_id="bench",
            profile_name="bench",
            endpoint="http://127.0.0.1/",
            start_ns=0,
            end_ns=61 * S,
        ),
    )


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    slo = slo_preset("mlperf-llama3.1-8b-server")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_run(d, args.requests, args.tokens)
        meta: RunMeta = load_run_meta(d)
        cases: dict[str, Callable[[], object]] = {
            "baseline read_records": lambda: list(read_records(d)),
            "analyze": lambda: analyze(read_records(d), meta, slo),
            "write_report": lambda: write_report(d, slo),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, fn in cases.items():
                times[name].append(timed(fn))
        html_mb = (d / "report.html").stat().st_size / 1e6
    n_tok = args.requests * args.tokens
    print(
        f"{args.requests} requests x {args.tokens} tokens ({n_tok} ITL-bearing chunks),"
        f" {args.runs} runs; median s [min..max], requests/s at the median"
    )
    base = statistics.median(times["baseline read_records"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"  {name:22s} {med:7.3f} s [{min(ts):.3f}..{max(ts):.3f}]"
            f"  {args.requests / med:9.0f} req/s  x{med / base:.2f} baseline"
        )
    print(f"  report.html size: {html_mb:.2f} MB")


if __name__ == "__main__":
    main()
