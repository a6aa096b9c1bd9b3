"""Write the small sample data sets, traces and tokenizer in loadprofiles/data/.

Nothing can be downloaded here, so these are made up, in the public formats, from a fixed
seed: the same files every time (``--check`` says whether the committed ones are current).

    python scripts/make_workload_samples.py [--out loadprofiles/data] [--check]

- sharegpt.json: ShareGPT conversations (human/gpt turns), 40 of them
- prompts.jsonl: {"prompt", "output_tokens"} per line; prompts.csv: prompt,reply
- hf-prompts/: the JSONL rows as a Hugging Face dataset (``save_to_disk``)
- azure.csv, burstgpt.csv, mooncake.jsonl: 60 requests over about 12 s in each trace format
- tokenizer.json: a byte-level BPE with 400 merges trained on the prompts above
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 13
VOCAB = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "it",
    "an",
    "be",
    "this",
    "are",
    "or",
    "which",
    "model",
    "server",
    "cluster",
    "request",
    "token",
    "latency",
    "queue",
    "replica",
    "stream",
    "cache",
    "prompt",
    "answer",
    "question",
    "explain",
    "describe",
    "summarize",
    "compare",
    "list",
    "write",
    "translate",
    "river",
    "stone",
    "cloud",
    "paper",
    "garden",
    "window",
    "summer",
    "winter",
    "music",
    "market",
    "letter",
    "bridge",
    "forest",
    "number",
    "circle",
    "silver",
    "orange",
    "little",
    "simple",
    "common",
    "modern",
    "famous",
    "public",
    "school",
    "family",
    "travel",
    "follow",
    "listen",
    "wonder",
    "gather",
    "create",
    "mirror",
    "shadow",
    "signal",
    "harbor",
    "engine",
    "planet",
    "season",
    "island",
    "canyon",
    "valley",
]
PUNCT = (",", ".", "?", "!", ";", ":")


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(lo, hi))]
    text = " ".join(words)
    if rng.random() < 0.4:
        cut = rng.randrange(1, len(words) + 1)
        text = " ".join(words[:cut]) + rng.choice(PUNCT[:2]) + " " + " ".join(words[cut:])
    return text.strip().capitalize() + rng.choice(PUNCT[1:4])


def paragraph(rng: random.Random, sentences: int, lo: int = 4, hi: int = 14) -> str:
    return " ".join(sentence(rng, lo, hi) for _ in range(sentences))


def sharegpt(rng: random.Random) -> list[dict[str, object]]:
    out = []
    for i in range(40):
        turns = []
        for t in range(rng.choice((2, 2, 4, 6))):
            role = "human" if t % 2 == 0 else "gpt"
            n = rng.randint(1, 6) if role == "human" else rng.randint(1, 10)
            turns.append({"from": role, "value": paragraph(rng, n)})
        out.append({"id": f"sample-{i:03d}", "conversations": turns})
    # one entry without a reply: readers must skip it
    out.append({"id": "sample-noreply", "conversations": [{"from": "human", "value": "Hi."}]})
    return out


def rows(rng: random.Random) -> list[dict[str, object]]:
    return [
        {"prompt": paragraph(rng, rng.randint(1, 8)), "output_tokens": rng.randint(8, 96)}
        for _ in range(40)
    ]


def csv_text(rng: random.Random) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["prompt", "reply"])
    for _ in range(40):
        w.writerow([paragraph(rng, rng.randint(1, 8)), paragraph(rng, rng.randint(1, 5))])
    return buf.getvalue()


def arrivals(rng: random.Random, n: int = 60, rate: float = 5.0) -> list[float]:
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate)
    return out


def traces(rng: random.Random) -> dict[str, str]:
    times = arrivals(rng)
    lens = [(rng.randint(16, 400), rng.randint(4, 64)) for _ in times]
    t0 = datetime(2023, 11, 16, 18, 15, 46, tzinfo=UTC)
    az = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for t, (p, o) in zip(times, lens, strict=True):
        stamp = t0 + timedelta(microseconds=round(t * 1e6))
        az.append(f"{stamp:%Y-%m-%d %H:%M:%S}.{stamp.microsecond:06d}0,{p},{o}")
    bg = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"]
    for i, (t, (p, o)) in enumerate(zip(times, lens, strict=True)):
        o_bg = 0 if i % 20 == 19 else o  # BurstGPT logs failed requests with 0 response tokens
        model = "ChatGPT" if i % 3 else "GPT-4"
        bg.append(f"{t + 5.0:.3f},{model},{p},{o_bg},{p + o_bg},Conversation log")
    mc = [
        json.dumps(
            {
                "timestamp": round(t * 1000),
                "input_length": p,
                "output_length": o,
                "hash_ids": list(range(i, i + max(1, p // 512 + 1))),
            }
        )
        for i, (t, (p, o)) in enumerate(zip(times, lens, strict=True))
    ]
    return {
        "azure.csv": "\n".join(az) + "\n",
        "burstgpt.csv": "\n".join(bg) + "\n",
        "mooncake.jsonl": "\n".join(mc) + "\n",
    }


def tokenizer_json(corpus: list[str]) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + 400,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return str(tok.to_str(pretty=True)) + "\n"


def build(out: Path) -> None:
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)
    share = sharegpt(rng)
    (out / "sharegpt.json").write_text(json.dumps(share, indent=1) + "\n")
    jl = rows(rng)
    (out / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jl))
    (out / "prompts.csv").write_text(csv_text(rng))
    for name, text in traces(rng).items():
        (out / name).write_text(text)
    corpus = [str(t["value"]) for c in share for t in c["conversations"]]  # type: ignore[attr-defined]
    corpus += [str(r["prompt"]) for r in jl]
    (out / "tokenizer.json").write_text(tokenizer_json(corpus))
    import datasets

    hf = out / "hf-prompts"
    if hf.exists():
        shutil.rmtree(hf)
    datasets.Dataset.from_list(jl).save_to_disk(str(hf))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("loadprofiles/data"))
    ap.add_argument("--check", action="store_true", help="compare with --out; write nothing")
    args = ap.parse_args()
    if not args.check:
        build(args.out)
        print(f"wrote {args.out}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        fresh, have = _files(Path(tmp)), _files(args.out)
    stale = sorted(k for k in fresh if have.get(k) != fresh[k])
    if stale:
        print(f"{args.out}: out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    print(f"{args.out}: current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
