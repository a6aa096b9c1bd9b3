"""The suite's own memory over a soak: RSS of the CLI, master, workers and simulator, and the
records' bytes against the requests sent.

    .venv/bin/python bench/soak_rss.py [--duration 3600] [--rate 3] [--interval 10]

Runs ``servegate run --sim`` with loadprofiles/soak.yaml (its shape's duration and level
replaced by --duration and --rate, warm-up and cool-down scaled down for short runs) and
samples every --interval seconds, from outside the run: the resident set size of each
process of the run (psutil), the master's request count (progress.json) and the size of
the records files. Prints a table and two verdicts (servegate.load.soak): each process's
RSS at the end of the run against its level just after the warm-up (more than 10 % growth
fails), and the records' bytes per request in the two halves of the run (more than 10 %
apart fails: the records did not grow linearly with the requests). Writes every sample and
verdict as JSON (--out, default <results>/soak-rss.json). Exit 0 when both verdicts pass, 1
when one fails, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from servegate.config.profile import Profile  # noqa: E402
from servegate.load.soak import (  # noqa: E402
    RecordsVerdict,
    RssVerdict,
    Sample,
    Series,
    process_rss,
    records_bytes,
    records_verdict,
    requests_done,
    rss_verdict,
)
from servegate.procs import end  # noqa: E402

MIB = 1024 * 1024


def soak_profile(source: Path, duration: float, rate: float, workers: int) -> dict[str, Any]:
    """soak.yaml with the given duration, rate and workers (validated as a Profile)."""
    doc = yaml.safe_load(source.read_text())
    doc["name"] = "soak-rss"
    doc["shape"] = {"type": "soak", "level": rate, "duration": duration}
    doc["warmup"] = min(60.0, duration / 5)
    doc["cooldown"] = min(30.0, duration / 10)
    doc["workers"] = workers
    doc["description"] = f"{doc.get('description', '')} (bench/soak_rss.py: {rate:g} req/s)"
    Profile.model_validate(doc)
    return dict(doc)


def _run_dir(results: Path) -> Path | None:
    dirs = [d for d in results.iterdir() if d.is_dir()]
    return dirs[0] if len(dirs) == 1 else None


def _elapsed(run_dir: Path) -> float | None:
    try:
        doc = orjson.loads((run_dir / "progress.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    value = doc.get("elapsed_s") if isinstance(doc, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def watch(child: subprocess.Popen[bytes], results: Path, interval: float) -> tuple[Series, Path]:
    """Sample until ``child`` exits; time is the load's own clock (progress.json)."""
    series = Series()
    run_dir: Path | None = None
    while child.poll() is None:
        time.sleep(interval)
        run_dir = run_dir or _run_dir(results)
        if run_dir is None:
            continue
        t, done = _elapsed(run_dir), requests_done(run_dir)
        rss = process_rss(child.pid)
        if t is None or done is None or not rss:
            continue
        series.samples.append(Sample(t, rss, done, records_bytes(run_dir)))
    run_dir = run_dir or _run_dir(results)
    if run_dir is None:
        raise SystemExit(f"soak_rss: the run wrote no results under {results}")
    return series, run_dir


def _final_point(run_dir: Path, series: Series) -> None:
    """After the run: the master's final count and the records as closed on disk."""
    try:
        load = orjson.loads((run_dir / "load.json").read_bytes())
        done = int(load["tally"]["done"])
        t = (int(load["end_ns"]) - int(load["start_ns"])) / 1e9
    except (OSError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return
    series.samples.append(Sample(t, {}, done, records_bytes(run_dir)))


def print_table(series: Series, rows: int) -> None:
    roles = series.roles()
    head = f"{'t (s)':>8} " + " ".join(f"{r[:12]:>12}" for r in roles)
    print(head + f" {'requests':>9} {'records MiB':>11} {'B/request':>9}")
    samples = series.samples
    step = max(1, len(samples) // rows)
    picked = [*samples[::step], *([samples[-1]] if samples else [])]
    shown: set[int] = set()
    for s in picked:
        if id(s) in shown:
            continue
        shown.add(id(s))
        cells = " ".join(f"{s.rss[r] / MIB:>12.1f}" if r in s.rss else f"{'-':>12}" for r in roles)
        per = f"{s.records_bytes / s.done:>9.0f}" if s.done else f"{'-':>9}"
        print(f"{s.t_s:>8.0f} {cells} {s.done:>9} {s.records_bytes / MIB:>11.2f} {per}")
    print("(RSS in MiB)")


def print_verdicts(rss: list[RssVerdict], rec: RecordsVerdict) -> None:
    for v in rss:
        mark = "ok  " if v.passed else "FAIL"
        print(
            f"{mark} RSS {v.role:<14} post-warm-up {v.baseline / MIB:8.1f} MiB  end"
            f" {v.end / MIB:8.1f}  peak {v.peak / MIB:8.1f}  growth {v.growth:+.1%}"
        )
    mark = "ok  " if rec.passed else "FAIL"
    first = f"{rec.bytes_per_request_first:.0f}" if rec.bytes_per_request_first else "-"
    second = f"{rec.bytes_per_request_second:.0f}" if rec.bytes_per_request_second else "-"
    drift = f"{rec.drift:+.1%}" if rec.drift is not None else "-"
    r2 = f"{rec.r2:.5f}" if rec.r2 is not None else "-"
    print(
        f"{mark} records: {first} B/request in the first half, {second} in the second"
        f" (drift {drift}), R^2 of bytes vs requests {r2} {rec.reason}".rstrip()
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=3600.0, help="seconds of load")
    ap.add_argument("--rate", type=float, default=3.0, help="open-loop requests/s")
    ap.add_argument("--workers", type=int, default=2, help="Locust worker processes")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of load before the RSS baseline (default: a fifth, at most 300)",
    )
    ap.add_argument("--profile", type=Path, default=ROOT / "loadprofiles" / "soak.yaml")
    ap.add_argument("--results", type=Path, default=ROOT / "results" / "soak-rss")
    ap.add_argument("--out", type=Path, default=None, help="JSON (default <results>/soak-rss.json)")
    ap.add_argument("--rows", type=int, default=12, help="table rows")
    args = ap.parse_args(argv)
    if args.duration <= 0 or args.rate <= 0 or args.interval <= 0 or args.workers < 1:
        ap.error("--duration, --rate, --interval and --workers must be positive")
    warmup = args.warmup if args.warmup is not None else min(300.0, args.duration / 5)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results: Path = args.results / stamp
    results.mkdir(parents=True, exist_ok=False)
    profile_path = results / "soak-rss.yaml"
    doc = soak_profile(args.profile, args.duration, args.rate, args.workers)
    profile_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    runs = results / "runs"
    runs.mkdir()
    cmd = [sys.executable, "-m", "servegate", "run", "--profile", str(profile_path), "--sim"]
    cmd += ["--results", str(runs)]
    print(f"soak_rss: {' '.join(cmd)}", flush=True)
    with (results / "servegate-run.log").open("wb") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            series, run_dir = watch(child, runs, args.interval)
        except KeyboardInterrupt:
            end(child, grace=30.0)
            raise
    code = child.returncode
    _final_point(run_dir, series)
    rss = rss_verdict(series, warmup)
    rec = records_verdict(series, warmup)
    print_table(series, args.rows)
    print_verdicts(rss, rec)
    out: Path = args.out or results / "soak-rss.json"
    report = {
        "command": " ".join(["bench/soak_rss.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": sys.version},
        "duration_s": args.duration,
        "rate_rps": args.rate,
        "workers": args.workers,
        "interval_s": args.interval,
        "warmup_s": warmup,
        "run_dir": str(run_dir),
        "run_exit": code,
        "samples": [asdict(s) for s in series.samples],
        "rss": [asdict(v) for v in rss],
        "records": asdict(rec),
    }
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"soak_rss: wrote {out}")
    if code not in (0, None):
        print(f"soak_rss: servegate run exited {code}; see {results / 'servegate-run.log'}")
        return 2
    return 0 if rec.passed and rss and all(v.passed for v in rss) else 1


if __name__ == "__main__":
    raise SystemExit(main())
