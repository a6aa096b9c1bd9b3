"""Agreement with a peer nobody here wrote: servegate vs guidellm on the same server.

    .venv/bin/python bench/peer_guidellm.py [--rate 5] [--duration 20] [--output-tokens 64]
    .venv/bin/python bench/peer_guidellm.py --engine [--rate 4 | --streams 4] [--repeat 3]

Both tools drive the same server at the same constant open-loop rate (or fixed concurrency);
the script prints each tool's own reported figures side by side and a verdict per row against
the tolerances in TOLERANCE. The server is servegate's simulator (constant TTFT and ITL, fixed
output length with ignore_eos), or with ``--engine`` llama.cpp's llama-server on loopback
(``servegate engine build`` first; ``--url`` measures one already running, e.g. ``servegate
engine serve``). On the engine both tools read the same prompts from a JSONL data set written
afresh for every run (servegate's own prompt words, which the engine's vocabulary tokenizes
about one token per word; fresh so that no run is served from the engine's prompt cache), and
servegate opens a new connection per request (llama-server closes streamed connections,
docs/engine.md). With ``--repeat N`` the two tools alternate which runs first; the table then
shows the median of the runs and their range.

guidellm runs from its own virtualenv (.venv-peer, or the one ``SERVEGATE_PEER_VENV`` names;
see docs/peer-guidellm.md), offline: its synthetic data needs a Hugging Face tokenizer, and
this script builds a small word-level one locally from Faker's word list (Faker ships with
guidellm) instead of downloading one.

The helpers here (``run_guidellm``, ``guidellm_requests``, ``ensure_tokenizer``) are also used
by bench/loadgen_ceiling.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]

from servegate.config.profile import Profile  # noqa: E402
from servegate.load.calibration_run import pinned  # noqa: E402
from servegate.load.meta import build_run_meta  # noqa: E402
from servegate.load.prompts import PromptFactory  # noqa: E402
from servegate.load.runner import RunPlan, run_load  # noqa: E402
from servegate.metrics.analyze import analyze  # noqa: E402
from servegate.metrics.io import read_records  # noqa: E402
from servegate.metrics.stats import percentile  # noqa: E402

PEER = Path(os.environ.get("SERVEGATE_PEER_VENV") or ROOT / ".venv-peer")
GUIDELLM = PEER / "bin" / "guidellm"
OUT = ROOT / "bench" / "out"
MODEL = "sim-model"
ENGINE_MODEL = "llm"  # the engine's --alias (servegate.cluster.node.engineproc.OVERLAY_FLAGS)
# The server's own TTFT, for reference: the simulator's (recv -> first emit), or the engine's
# prompt_ms (slot start -> prompt processed) from the timings of each answer.
SERVER_TTFT: dict[str, float] = {}
DATASET_SIZE = 2000  # more than one run sends, so no prompt repeats within a run

_TOKENIZER_SCRIPT = r"""
import sys
from faker.providers.lorem.en_US import Provider
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

vocab = {"[UNK]": 0, "[PAD]": 1, "<eos>": 2}
for w in sorted(set(Provider.word_list)) + [".", ",", "!", "?", "'"]:
    for v in (w, w.capitalize()):
        vocab.setdefault(v, len(vocab))
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tok.decoder = decoders.WordPiece(prefix="##")
fast = PreTrainedTokenizerFast(
    tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="<eos>"
)
fast.save_pretrained(sys.argv[1])
"""

# Relative tolerance (and an absolute floor in the metric's unit) per compared figure.
TOLERANCE: dict[str, tuple[float, float]] = {
    "ttft_p50_ms": (0.10, 1.0),
    "ttft_p99_ms": (0.25, 3.0),
    "tpot_p50_ms": (0.10, 0.5),
    "tpot_p99_ms": (0.25, 1.0),
    "itl_p50_ms": (0.10, 0.5),
    "e2e_p50_ms": (0.10, 2.0),
    "e2e_p99_ms": (0.25, 5.0),
    "output_tok_per_s": (0.05, 0.0),
    "req_per_s": (0.05, 0.0),
}


def peer_missing() -> str | None:
    if not GUIDELLM.exists():
        return (
            f"{GUIDELLM} not found: python3 -m venv .venv-peer &&"
            " .venv-peer/bin/pip install guidellm==0.8.1 (or set SERVEGATE_PEER_VENV)"
        )
    return None


def ensure_tokenizer(directory: Path = OUT / "peer-tokenizer") -> Path:
    """A local word-level tokenizer directory that AutoTokenizer loads with no network."""
    if (directory / "tokenizer.json").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(PEER / "bin" / "python"), "-c", _TOKENIZER_SCRIPT, str(directory)],
        check=True,
        capture_output=True,
    )
    return directory


def run_guidellm(
    url: str,
    out_json: Path,
    *,
    duration: float,
    prompt_tokens: int,
    output_tokens: int,
    rate: float | None = None,
    streams: int | None = None,
    warmup: float = 0.0,
    cpus: set[int] | None = None,
    timeout: float = 600.0,
    dataset: Path | None = None,
    model: str = MODEL,
) -> dict[str, Any]:
    """One guidellm benchmark (constant rate, or fixed concurrency); its JSON report.
    ``dataset``: a JSONL file of ``prompt`` and ``output_tokens_count`` instead of
    guidellm's synthetic text."""
    data = (
        f"kind=json_file,path={dataset}"
        if dataset is not None
        else f"kind=synthetic_text,prompt_tokens={prompt_tokens},output_tokens={output_tokens}"
    )
    profile = (
        f"kind=constant,rate={rate}" if rate is not None else f"kind=concurrent,streams={streams}"
    )
    argv = [
        str(GUIDELLM),
        "run",
        "--backend",
        f"kind=openai_http,target={url},model={model}",
        "--profile",
        profile,
        "--constraint",
        f"kind=max_duration,seconds={warmup + duration:g}",
        "--data",
        data,
        "--tokenizer",
        f"kind=hf_auto,model={ensure_tokenizer()}",
        "--output",
        f"kind=json,path={out_json}",
        "--disable-console",
    ]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "GUIDELLM__MAX_WORKER_PROCESSES": "1",
    }
    with tempfile.TemporaryDirectory() as cwd, pinned(cpus):  # guidellm.log lands in cwd
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its worker processes share this group: end them with it
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # our child's own group, leftovers only
            proc.wait()
    if proc.returncode != 0 or not out_json.exists():
        tail = (stderr or stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"guidellm failed ({proc.returncode}): {' | '.join(tail)}")
    doc: dict[str, Any] = orjson.loads(out_json.read_bytes())
    return doc


def guidellm_requests(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every request guidellm processed (successful, errored, incomplete) in benchmark 0."""
    reqs = doc["benchmarks"][0]["requests"]
    out: list[dict[str, Any]] = []
    for kind in ("successful", "errored", "incomplete"):
        for r in reqs.get(kind) or []:
            out.append({**r, "_kind": kind})
    return out


def _g(metrics: dict[str, Any], name: str, stat: str, scale: float = 1.0) -> float | None:
    d = metrics.get(name, {}).get("successful") or {}
    v = d.get("percentiles", {}).get(stat) if stat.startswith("p") else d.get(stat)
    return None if v is None else float(v) * scale


def guidellm_figures(doc: dict[str, Any]) -> dict[str, float | None]:
    m = doc["benchmarks"][0]["metrics"]
    return {
        "ttft_p50_ms": _g(m, "time_to_first_token_ms", "p50"),
        "ttft_p99_ms": _g(m, "time_to_first_token_ms", "p99"),
        # guidellm's "ITL" is vLLM's TPOT: (last token - first token) / (output - 1)
        "tpot_p50_ms": _g(m, "inter_token_latency_ms", "p50"),
        "tpot_p99_ms": _g(m, "inter_token_latency_ms", "p99"),
        "itl_p50_ms": _g(m, "inter_token_latency_ms", "p50"),
        "e2e_p50_ms": _g(m, "request_latency", "p50", 1000.0),
        "e2e_p99_ms": _g(m, "request_latency", "p99", 1000.0),
        "output_tok_per_s": _g(m, "output_tokens_per_second", "mean"),
        "req_per_s": _g(m, "requests_per_second", "mean"),
        "prompt_tokens_mean": _g(m, "prompt_token_count", "mean"),
        "errors": float(len(doc["benchmarks"][0]["requests"].get("errored") or [])),
    }


def servegate_profile(
    rate: float | None,
    streams: int | None,
    duration: float,
    prompt_tokens: int,
    output_tokens: int,
    warmup: float,
    dataset: Path | None = None,
) -> Profile:
    """The servegate side of the comparison; with ``dataset`` (the engine runs) the prompts
    and output lengths come from that JSONL file and every request has its own connection."""
    load = {"type": "open", "arrival": "constant"} if rate is not None else {"type": "closed"}
    level = rate if rate is not None else streams
    doc: dict[str, Any] = {
        "kind": "Profile",
        "name": "peer-agreement",
        "api": "chat",
        "model": MODEL,
        "load": load,
        "shape": {"type": "steady", "level": level, "duration": warmup + duration},
        "warmup": warmup,
        "prompt": {"mean": prompt_tokens},
        "output": {"mean": output_tokens},
        "ignore_eos": True,
        "timeout": 30,
    }
    if dataset is not None:
        del doc["prompt"], doc["output"]
        doc |= {
            "model": ENGINE_MODEL,
            "dataset": {
                "format": "jsonl",
                "path": str(dataset),
                "prompt_field": "prompt",
                "output_field": "output_tokens_count",
            },
            "connections": {"mode": "per-request"},
        }
    return Profile.model_validate(doc)


def write_dataset(path: Path, seed: int, prompt_tokens: int, output_tokens: int) -> Path:
    """DATASET_SIZE prompts of ``prompt_tokens`` of servegate's words (each starting with a
    unique word), as JSONL ``{prompt, output_tokens_count}``: what both tools send the engine."""
    lengths = servegate_profile(None, 1, 1.0, prompt_tokens, output_tokens, 0.0)
    factory = PromptFactory(lengths.prompt, lengths.output, None, seed, f"d{seed}")
    lines = []
    for _ in range(DATASET_SIZE):
        p = factory.next()
        lines.append(orjson.dumps({"prompt": p.text, "output_tokens_count": p.max_tokens}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def servegate_figures(
    url: str, run_dir: Path, profile: Profile, cpus: set[int] | None
) -> dict[str, float | None]:
    with pinned(cpus):
        outcome = run_load(RunPlan(profile, url, run_dir, 1))
    if outcome.load is None or outcome.problems:
        raise RuntimeError(f"servegate run failed: {outcome.problems}")
    meta = build_run_meta(run_dir.name, profile, url, 1, outcome.load)
    if meta is None:
        raise RuntimeError("servegate run never started")
    records = list(read_records(run_dir))
    s = analyze(records, meta).summary
    lat = s.latency
    span = meta.measured_window()
    measured = [r for r in records if r.ok and span.contains(r.end_ns)]
    server = sorted(
        (r.server_first_ns - r.server_recv_ns) / 1e6
        for r in measured
        if r.server_first_ns and r.server_recv_ns
    ) or sorted(
        float(r.engine_timings["prompt_ms"])
        for r in measured
        if r.engine_timings and "prompt_ms" in r.engine_timings
    )
    if server:
        SERVER_TTFT.update(p50=percentile(server, 0.5), p99=percentile(server, 0.99))
    prompts = [r.prompt_tokens for r in measured if r.prompt_tokens is not None]
    return {
        "ttft_p50_ms": lat.ttft.p50,
        "ttft_p99_ms": lat.ttft.p99,
        "tpot_p50_ms": lat.tpot.p50,
        "tpot_p99_ms": lat.tpot.p99,
        "itl_p50_ms": lat.itl.p50,
        "e2e_p50_ms": lat.e2e.p50,
        "e2e_p99_ms": lat.e2e.p99,
        "output_tok_per_s": s.throughput.output_tokens_per_s,
        "req_per_s": s.throughput.requests_per_s,
        "prompt_tokens_mean": statistics.fmean(prompts) if prompts else None,
        "errors": float(sum(1 for r in records if not r.ok)),
    }


def agree(name: str, ours: float | None, theirs: float | None) -> tuple[bool, float | None]:
    if ours is None or theirs is None:
        return False, None
    rel, floor = TOLERANCE[name]
    diff = ours - theirs
    return abs(diff) <= max(rel * abs(theirs), floor), diff


Figures = dict[str, float | None]
# Printed, not judged: the prompt tokens the server counted, the failed requests, and the
# CPU seconds each tool's own processes used during its run (on a 2-core machine that is CPU
# the server did not get).
# On the engine also its own per-token decode time over the run (tokens_predicted_seconds_total
# / tokens_predicted_total: the same for both tools unless the server was slower in one run)
# and the prompt tokens it served from its cache.
INFO_ROWS = (
    "prompt_tokens_mean",
    "errors",
    "client_cpu_s",
    "engine_tpot_ms",
    "engine_cached_prompt_tokens",
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=float, default=None, help="constant requests/s [5]")
    mode.add_argument("--streams", type=int, default=None, help="fixed concurrency instead")
    ap.add_argument("--pin", action="store_true", help="generator on core 0, server on 1")
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--ttft-ms", type=float, default=50.0, help="simulator TTFT (constant)")
    ap.add_argument("--itl-ms", type=float, default=10.0, help="simulator ITL (constant)")
    server = ap.add_mutually_exclusive_group()
    server.add_argument("--engine", action="store_true", help="llama-server on loopback")
    server.add_argument("--url", help="an engine already running (servegate engine serve)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool, alternating order")
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help="engine prompts' seed (default: the clock, so that a server already running has"
        " none of them in its prompt cache)",
    )
    args = ap.parse_args()
    if (missing := peer_missing()) is not None:
        print(f"skipped: {missing}")
        return 0
    if args.rate is None and args.streams is None:
        args.rate = 5.0
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    gen = {cpus[0]} if pin else None
    OUT.mkdir(parents=True, exist_ok=True)
    engine = bool(args.engine or args.url)
    load = f"constant {args.rate:g} req/s" if args.rate else f"{args.streams} concurrent streams"
    what = (
        "llama-server (tiny GGUF), same prompts for both tools, servegate: new connection per"
        " request"
        if engine
        else f"simulator: constant TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms"
    )
    print(
        f"{what}; load: {load} for {args.duration:g} s after 2 s warm-up,"
        f" {args.prompt_tokens} prompt / {args.output_tokens} output tokens (ignore_eos),"
        f" {args.repeat} run(s) per tool; load average {os.getloadavg()[0]:.1f} on"
        f" {os.cpu_count()} cores; pinned: {pin}",
        flush=True,
    )
    base_seed = args.seed if args.seed is not None else time.time_ns() // 1_000_000 % 10**9
    if engine:
        print(f"prompt seeds {base_seed}..{base_seed + 2 * args.repeat - 1}")
    ours: list[Figures] = []
    theirs: list[Figures] = []
    refs: list[dict[str, float]] = []
    with _server(args, cpus[-1] if pin else None) as url, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            order = ("servegate", "guidellm") if i % 2 == 0 else ("guidellm", "servegate")
            for j, tool in enumerate(order):
                cpu0 = _cpu_seconds()
                eng0 = _engine_counters(url) if engine else {}
                data = None
                if engine:
                    seed = base_seed + 2 * i + j  # fresh prompts every run: no prompt cache
                    data = write_dataset(
                        Path(tmp) / f"data-{seed}.jsonl",
                        seed,
                        args.prompt_tokens,
                        args.output_tokens,
                    )
                if tool == "servegate":
                    profile = servegate_profile(
                        args.rate,
                        args.streams,
                        args.duration,
                        args.prompt_tokens,
                        args.output_tokens,
                        2.0,
                        data,
                    )
                    SERVER_TTFT.clear()
                    ours.append(servegate_figures(url, Path(tmp) / f"sg{i}", profile, gen))
                    refs.append(dict(SERVER_TTFT))
                else:
                    doc = run_guidellm(
                        url,
                        OUT / "peer-agreement-guidellm.json",
                        duration=args.duration,
                        prompt_tokens=args.prompt_tokens,
                        output_tokens=args.output_tokens,
                        rate=args.rate,
                        streams=args.streams,
                        warmup=2.0,
                        cpus=gen,
                        dataset=data,
                        model=ENGINE_MODEL if engine else MODEL,
                    )
                    theirs.append(guidellm_figures(doc))
                done = ours[-1] if tool == "servegate" else theirs[-1]
                done["client_cpu_s"] = _cpu_seconds() - cpu0
                if engine:
                    done.update(_engine_run(eng0, _engine_counters(url)))
                print(
                    f"run {i + 1} {tool}: {_brief(ours[-1] if tool == 'servegate' else theirs[-1])}"
                )
    _table(ours, theirs, refs, engine)
    return 0


@contextlib.contextmanager
def _server(args: argparse.Namespace, cpu: int | None) -> Iterator[str]:
    """The base URL of the server both tools measure, for the duration of the block."""
    if args.url:
        yield args.url.rstrip("/")
        return
    if args.engine:
        from servegate.cluster.node import enginebuild
        from servegate.cluster.node.engineproc import OVERLAY_FLAGS, EngineProcess

        build = enginebuild.cached()
        if build is None:
            raise SystemExit("llama-server is not built: servegate engine build")
        flags = OVERLAY_FLAGS
        if cpu is not None:  # one core for the engine: one thread (--pin)
            one = {"--threads": "1", "--threads-batch": "1"}
            flags = tuple(
                one.get(prev, f) for prev, f in zip(("", *flags[:-1]), flags, strict=True)
            )
        with pinned({cpu} if cpu is not None else None):
            eng = EngineProcess(build, flags=flags).start()
        try:
            yield eng.base_url
        finally:
            eng.stop()
        return
    from servegate.sim.process import SimProcess

    with SimProcess(
        cpu=cpu,
        latency_model="distribution",
        ttft_mean_s=args.ttft_ms / 1000,
        itl_mean_s=args.itl_ms / 1000,
        max_num_seqs=4096,
    ) as sim:
        yield sim.base_url


def _engine_counters(url: str) -> dict[str, float]:
    """llama-server's Prometheus counters (``llamacpp:*``), by name."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def _engine_run(before: dict[str, float], after: dict[str, float]) -> Figures:
    def delta(name: str) -> float:
        return after.get(f"llamacpp:{name}", 0.0) - before.get(f"llamacpp:{name}", 0.0)

    tokens = delta("tokens_predicted_total")
    return {
        "engine_tpot_ms": delta("tokens_predicted_seconds_total") / tokens * 1e3
        if tokens
        else None,
        "engine_cached_prompt_tokens": delta("prompt_tokens_cached_total"),
    }


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the children it has waited for
    (Locust's processes, guidellm and its workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _median(runs: list[Figures], name: str) -> float | None:
    vals = [v for r in runs if (v := r.get(name)) is not None]
    return statistics.median(vals) if vals else None


def _spread(runs: list[Figures], name: str) -> str:
    vals = [v for r in runs if (v := r.get(name)) is not None]
    if len(runs) < 2 or not vals:
        return ""
    return f"{min(vals):.2f}..{max(vals):.2f}"


def _brief(f: Figures) -> str:
    keys = ("ttft_p50_ms", "ttft_p99_ms", "output_tok_per_s", "req_per_s", "errors")
    keys += ("client_cpu_s", "engine_tpot_ms")
    return ", ".join(f"{k} {_f(f.get(k))}" for k in keys)


def _table(
    ours: list[Figures], theirs: list[Figures], refs: list[dict[str, float]], engine: bool
) -> None:
    """Each figure: the median over the runs (and their range), the difference of the
    medians and the verdict against TOLERANCE."""
    n = len(ours)
    head = "median of runs (min..max)" if n > 1 else ""
    print(
        f"{'figure':18} {'servegate':>10} {'guidellm':>10} {'diff':>9}  tolerance       verdict"
        f"  {head}"
    )
    ok_all = True
    for name in (*TOLERANCE, *INFO_ROWS):
        a, b = _median(ours, name), _median(theirs, name)
        ranges = f"  sg {_spread(ours, name)} / gl {_spread(theirs, name)}" if n > 1 else ""
        if name in INFO_ROWS:
            if a is None and b is None:
                continue  # engine rows on the simulator
            diff = None if a is None or b is None else a - b
            print(f"{name:18} {_f(a):>10} {_f(b):>10} {_f(diff):>9}  {'-':14}  info{ranges}")
            continue
        ok, diff = agree(name, a, b)
        ok_all &= ok
        rel, floor = TOLERANCE[name]
        tol = f"{rel:.0%} or {floor:g}" if floor else f"{rel:.0%}"
        print(
            f"{name:18} {_f(a):>10} {_f(b):>10} {_f(diff):>9}  {tol:14}"
            f"  {'agree' if ok else 'DIFFER'}{ranges}"
        )
    own = (
        "the engine's own prompt_ms (slot start -> prompt processed)"
        if engine
        else "the simulator's own TTFT (request received -> first chunk emitted)"
    )
    p50s = [r["p50"] for r in refs if "p50" in r]
    p99s = [r["p99"] for r in refs if "p99" in r]
    if p50s:
        print(
            f"reference: {own}, on servegate's requests: p50 {statistics.median(p50s):.2f} ms,"
            f" p99 {statistics.median(p99s):.2f} ms (median of {len(p50s)} run(s))"
        )
    print(
        f"verdict: {'AGREE' if ok_all else 'DISAGREE'} (rows compare like with like: servegate"
        " TPOT and ITL p50 against guidellm's 'ITL', which is vLLM's TPOT)"
    )


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
