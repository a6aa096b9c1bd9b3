"""servegate's TTFT and generation time against llama-server's own timings, per request.

Starts the built engine on loopback (``servegate engine build`` first), or measures the one
at ``--url`` (a cluster Service through ``servegate``'s port-forward or ClusterIP), runs a
servegate load profile ``--repeat`` times and prints, per run, the p50/p99 of servegate's
time minus the engine's (servegate.metrics.engine_check), then the median and spread of the
runs' p50s. The baseline, measured in the same run against the same server, is the
round trip of ``GET /health`` (no model work): the HTTP floor of any difference.

    .venv/bin/python bench/engine_agreement.py [--repeat 3] [--level 3] [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from servegate.cluster.node import enginebuild
from servegate.cluster.node.engineproc import EngineProcess
from servegate.metrics.engine_check import EngineAgreement, agreement
from servegate.metrics.io import read_records
from servegate.metrics.stats import summarize

PROFILE = """\
kind: Profile
name: engine-agreement
api: chat
stream: true
model: llm
load: {{type: closed}}
shape: {{type: steady, level: {level}, duration: {seconds}s}}
warmup: 0s
prompt: {{dist: uniform, mean: 64, min: 32, max: 96}}
output: {{dist: constant, mean: 32}}
ignore_eos: true
seed: {seed}
workers: 1
connections: {{mode: per-request}}
"""


def _run(url: str, tmp: Path, level: int, seconds: int, seed: int) -> EngineAgreement:
    prof = tmp / f"p{seed}.yaml"
    prof.write_text(PROFILE.format(level=level, seconds=seconds, seed=seed))
    out = tmp / f"r{seed}"
    argv = [sys.executable, "-m", "servegate", "run", "--profile", str(prof), "--url", url]
    subprocess.run(
        [*argv, "--results", str(out), "--server-metrics", "off"],
        check=True,
        capture_output=True,
    )
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    a = agreement(read_records(run_dir))
    if a is None:
        raise SystemExit(f"{url}: no response carried the engine's timings")
    return a


def _health_ms(url: str, n: int = 200) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url + "/health", timeout=10) as r:
            r.read()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _measure(url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sg-engine-agree-") as tmp:
        runs = []
        for i in range(args.repeat):
            a = _run(url, Path(tmp), args.level, args.seconds, seed=i + 1)
            runs.append(a)
            t, g, e = a.ttft_minus_prompt_ms, a.gen_minus_predicted_ms, a.e2e_minus_engine_ms
            print(
                f"run {i + 1}: n={a.requests:4d}  TTFT-prompt p50 {t.p50:7.2f} p99 {t.p99:7.2f}  "
                f"gen-predicted p50 {g.p50:7.2f} p99 {g.p99:7.2f}  "
                f"e2e-engine p50 {e.p50:7.2f} p99 {e.p99:7.2f} ms  "
                f"violations {len(a.violations)} token mismatches {len(a.token_mismatches)}",
                flush=True,
            )
        h = summarize(_health_ms(url))  # 200 round trips
        p50s = [r.ttft_minus_prompt_ms.p50 or 0.0 for r in runs]
        p99s = [r.ttft_minus_prompt_ms.p99 or 0.0 for r in runs]
        print(
            f"TTFT-prompt over {len(runs)} runs: p50 median {statistics.median(p50s):.2f} ms "
            f"(min {min(p50s):.2f}, max {max(p50s):.2f}); p99 median "
            f"{statistics.median(p99s):.2f} ms (min {min(p99s):.2f}, max {max(p99s):.2f})"
        )
        print(
            f"baseline GET /health round trip: p50 {h.p50:.2f} ms, p99 {h.p99:.2f} ms, n={h.count}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or "").split("\n")[0])
    ap.add_argument("--url", help="an engine already running (default: start one on loopback)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--level", type=int, default=3, help="concurrent users (slots: 4)")
    ap.add_argument("--seconds", type=int, default=20)
    args = ap.parse_args()
    if args.url:
        _measure(args.url.rstrip("/"), args)
        return
    build = enginebuild.cached()
    if build is None:
        raise SystemExit("llama-server is not built: servegate engine build")
    with EngineProcess(build) as eng:
        _measure(eng.base_url, args)


if __name__ == "__main__":
    main()
