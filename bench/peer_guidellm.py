"""Agreement with a peer nobody here wrote: servegate vs guidellm on the same simulator.

    .venv/bin/python bench/peer_guidellm.py [--rate 5] [--duration 20] [--output-tokens 64]

Both tools drive the same simulator (constant TTFT and ITL, fixed output length with
ignore_eos) at the same constant open-loop rate; the script prints each tool's own reported
figures side by side and a verdict per row against the tolerances in TOLERANCE. guidellm runs
from its own virtualenv (.venv-peer, see docs/peer-guidellm.md), offline: its synthetic data
needs a Hugging Face tokenizer, and this script builds a small word-level one locally from
Faker's word list (Faker ships with guidellm) instead of downloading one.

The helpers here (``run_guidellm``, ``guidellm_requests``, ``ensure_tokenizer``) are also used
by bench/loadgen_ceiling.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]

from servegate.config.profile import Profile  # noqa: E402
from servegate.load.calibration_run import pinned  # noqa: E402
from servegate.load.meta import build_run_meta  # noqa: E402
from servegate.load.runner import RunPlan, run_load  # noqa: E402
from servegate.metrics.analyze import analyze  # noqa: E402
from servegate.metrics.io import read_records  # noqa: E402
from servegate.metrics.stats import percentile  # noqa: E402

PEER = ROOT / ".venv-peer"
GUIDELLM = PEER / "bin" / "guidellm"
OUT = ROOT / "bench" / "out"
MODEL = "sim-model"
SERVER_TTFT: dict[str, float] = {}  # the simulator's own TTFT (recv -> first emit), for reference

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
            " .venv-peer/bin/pip install guidellm==0.8.1"
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
) -> dict[str, Any]:
    """One guidellm benchmark (constant rate, or fixed concurrency); its JSON report."""
    profile = (
        f"kind=constant,rate={rate}" if rate is not None else f"kind=concurrent,streams={streams}"
    )
    argv = [
        str(GUIDELLM),
        "run",
        "--backend",
        f"kind=openai_http,target={url},model={MODEL}",
        "--profile",
        profile,
        "--constraint",
        f"kind=max_duration,seconds={warmup + duration:g}",
        "--data",
        f"kind=synthetic_text,prompt_tokens={prompt_tokens},output_tokens={output_tokens}",
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
    }


def servegate_profile(
    rate: float | None,
    streams: int | None,
    duration: float,
    prompt_tokens: int,
    output_tokens: int,
    warmup: float,
) -> Profile:
    load = {"type": "open", "arrival": "constant"} if rate is not None else {"type": "closed"}
    level = rate if rate is not None else streams
    return Profile.model_validate(
        {
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
    )


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
    server = sorted(
        (r.server_first_ns - r.server_recv_ns) / 1e6
        for r in records
        if r.ok and span.contains(r.end_ns) and r.server_first_ns and r.server_recv_ns
    )
    if server:
        SERVER_TTFT.update(p50=percentile(server, 0.5), p99=percentile(server, 0.99))
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
    }


def agree(name: str, ours: float | None, theirs: float | None) -> tuple[bool, float | None]:
    if ours is None or theirs is None:
        return False, None
    rel, floor = TOLERANCE[name]
    diff = ours - theirs
    return abs(diff) <= max(rel * abs(theirs), floor), diff


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=float, default=None, help="constant requests/s [5]")
    mode.add_argument("--streams", type=int, default=None, help="fixed concurrency instead")
    ap.add_argument("--pin", action="store_true", help="generator on core 0, simulator on 1")
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--ttft-ms", type=float, default=50.0, help="simulator TTFT (constant)")
    ap.add_argument("--itl-ms", type=float, default=10.0, help="simulator ITL (constant)")
    args = ap.parse_args()
    if (missing := peer_missing()) is not None:
        print(f"skipped: {missing}")
        return 0
    from servegate.sim.process import SimProcess

    if args.rate is None and args.streams is None:
        args.rate = 5.0
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    gen = {cpus[0]} if pin else None
    sim_cpu = cpus[-1] if pin else None
    OUT.mkdir(parents=True, exist_ok=True)
    load = f"constant {args.rate:g} req/s" if args.rate else f"{args.streams} concurrent streams"
    print(
        f"simulator: constant TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms; load: {load}"
        f" for {args.duration:g} s after 2 s warm-up, {args.prompt_tokens} prompt /"
        f" {args.output_tokens} output tokens (ignore_eos); load average"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; pinned: {pin}"
    )
    with (
        SimProcess(
            cpu=sim_cpu,
            latency_model="distribution",
            ttft_mean_s=args.ttft_ms / 1000,
            itl_mean_s=args.itl_ms / 1000,
            max_num_seqs=4096,
        ) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        profile = servegate_profile(
            args.rate, args.streams, args.duration, args.prompt_tokens, args.output_tokens, 2.0
        )
        ours = servegate_figures(sim.base_url, Path(tmp) / "sg", profile, gen)
        doc = run_guidellm(
            sim.base_url,
            OUT / "peer-agreement-guidellm.json",
            duration=args.duration,
            prompt_tokens=args.prompt_tokens,
            output_tokens=args.output_tokens,
            rate=args.rate,
            streams=args.streams,
            warmup=2.0,
            cpus=gen,
        )
        theirs = guidellm_figures(doc)
    print(f"{'figure':18} {'servegate':>10} {'guidellm':>10} {'diff':>9}  tolerance       verdict")
    ok_all = True
    for name in TOLERANCE:
        ok, diff = agree(name, ours[name], theirs[name])
        ok_all &= ok
        rel, floor = TOLERANCE[name]
        tol = f"{rel:.0%} or {floor:g}" if floor else f"{rel:.0%}"
        print(
            f"{name:18} {_f(ours[name]):>10} {_f(theirs[name]):>10} {_f(diff):>9}  {tol:14}"
            f"  {'agree' if ok else 'DIFFER'}"
        )
    if SERVER_TTFT:
        print(
            f"reference: the simulator's own TTFT (request received -> first chunk emitted) p50"
            f" {SERVER_TTFT['p50']:.2f} ms, p99 {SERVER_TTFT['p99']:.2f} ms"
        )
    print(
        f"verdict: {'AGREE' if ok_all else 'DISAGREE'} (rows compare like with like: servegate"
        " TPOT and ITL p50 against guidellm's 'ITL', which is vLLM's TPOT)"
    )
    return 0


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
