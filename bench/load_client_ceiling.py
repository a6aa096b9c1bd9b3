"""Requests/s one worker process sustains with servegate's client vs Locust's HttpUser client.

servegate's workers send through geventhttpclient (what FastHttpUser uses) with the full
record path (body build, SSE/JSON parsing, RequestRecord). The baseline is python-requests,
the client behind Locust's HttpUser, doing the same POST and JSON parse with no record. Both
run in a gevent child process against the same simulator, alternating, several trials each.

    .venv/bin/python bench/load_client_ceiling.py [--seconds 4] [--trials 3] [--concurrency 32]

Prints req/s per trial, the median and the spread (min-max) per client, and the ratio.
On a 2-core machine the simulator shares the CPU, so figures are a floor, not the ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys


def child(url: str, kind: str, seconds: float, concurrency: int) -> None:
    from gevent import monkey

    monkey.patch_all()
    import time

    import gevent
    import orjson
    import requests

    from servegate.config.profile import Profile
    from servegate.load.prompts import Prompt
    from servegate.load.worker import Transport, send

    profile = Profile.model_validate(
        {
            "kind": "Profile",
            "name": "bench",
            "api": "completions",
            "stream": False,
            "model": "sim-model",
            "load": {"type": "closed"},
            "shape": {"type": "steady", "level": concurrency, "duration": seconds},
            "prompt": {"mean": 8},
            "output": {"mean": 1},
            "timeout": 30,
        }
    )
    prompt = Prompt(text="hello world how are you", tokens=5, max_tokens=1, group=None)
    done = [0, 0]  # ok, failed
    deadline = time.perf_counter() + seconds

    if kind == "servegate":
        transport = Transport(url, concurrency + 1, 30.0)

        def loop() -> None:
            while time.perf_counter() < deadline:
                rec = send(transport, profile, "completions", prompt, "b")
                done[0 if rec.error is None else 1] += 1
    else:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
        session.mount("http://", adapter)
        body = orjson.dumps({"model": "sim-model", "prompt": prompt.text, "max_tokens": 1})

        def loop() -> None:
            while time.perf_counter() < deadline:
                r = session.post(
                    url + "/v1/completions", data=body, headers={"Content-Type": "application/json"}
                )
                ok = r.status_code == 200 and bool(orjson.loads(r.content).get("choices"))
                done[0 if ok else 1] += 1

    start = time.perf_counter()
    gevent.joinall([gevent.spawn(loop) for _ in range(concurrency)])
    elapsed = time.perf_counter() - start
    print(f"{done[0] / elapsed:.1f} {done[1]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--child", nargs=2, metavar=("URL", "KIND"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.seconds, args.concurrency)
        return
    from servegate.sim.process import SimProcess

    rates: dict[str, list[float]] = {"requests (HttpUser)": [], "servegate (geventhttpclient)": []}
    kinds = {"requests (HttpUser)": "requests", "servegate (geventhttpclient)": "servegate"}
    with SimProcess(latency_model="distribution", ttft_mean_s=0.0, itl_mean_s=0.0) as sim:
        for trial in range(args.trials):
            for label, kind in kinds.items():
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        sim.base_url,
                        kind,
                        "--seconds",
                        str(args.seconds),
                        "--concurrency",
                        str(args.concurrency),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                rate, failed = float(out[0]), int(out[1])
                rates[label].append(rate)
                print(f"trial {trial + 1} {label:30s} {rate:8.1f} req/s  failed {failed}")
    for label, xs in rates.items():
        print(
            f"{label:30s} median {statistics.median(xs):8.1f} req/s"
            f"  spread {min(xs):.1f}-{max(xs):.1f}"
        )
    base = statistics.median(rates["requests (HttpUser)"])
    fast = statistics.median(rates["servegate (geventhttpclient)"])
    print(f"ratio servegate / requests: {fast / base:.2f}x")


if __name__ == "__main__":
    main()
