"""Prepared workloads: data-set prompts and trace entries, counted before the run starts.

:func:`prepare` runs in the CLI (or pytest) process before Locust starts: it reads the data
set or trace, counts tokens with the profile's counter, applies the length filters and the
seeded sample, makes trace prompts of exactly the trace's length, and writes one JSON line
per item to ``<run>/workload.jsonl``. Workers only read that file (:func:`read_items`) and
take their share, so no data set library, tokenizer or /tokenize call runs while the clock
does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import orjson

from servegate.config.profile import Distribution, Profile
from servegate.errors import UserError
from servegate.load.dataset_files import read_dataset
from servegate.load.prompts import WORDS, Prompt, draw_length
from servegate.load.tokencount import Counter, make_counter
from servegate.load.trace_files import read_trace

WORKLOAD_FILE = "workload.jsonl"


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    tokens: int  # prompt tokens, as the run's counter counts them
    max_tokens: int | None  # None: drawn from the profile's output distribution
    t: float | None = None  # trace: send time in seconds from the start of the replay


@dataclass
class Prepared:
    items: list[Item]
    description: dict[str, str]


def _dataset_items(profile: Profile, counter: Counter) -> tuple[list[Item], str]:
    ds = profile.dataset
    assert ds is not None
    entries = read_dataset(ds)
    prompts = counter.count([e.prompt for e in entries])
    replies = counter.count([e.reply for e in entries if e.reply is not None])
    it = iter(replies)
    items: list[Item] = []
    for e, n in zip(entries, prompts, strict=True):
        out = e.output_tokens if e.reply is None else next(it)
        if not ds.prompt_tokens.holds(n):
            continue
        if out is not None and not ds.output_tokens.holds(out):
            continue
        if out is None and profile.output is None:
            continue  # unreachable: the profile requires output: without output lengths
        items.append(Item(e.prompt, n, None if profile.output is not None else out))
    kept = len(items)
    if not items:
        raise UserError(
            f"{ds.path}: no entry of {len(entries)} passes the length filters"
            f" (prompt {ds.prompt_tokens.min}..{ds.prompt_tokens.max or 'any'} tokens)"
        )
    rng = random.Random(f"{profile.seed}:dataset")
    if ds.sample is not None and ds.sample < len(items):
        items = rng.sample(items, ds.sample)
    else:
        rng.shuffle(items)
    what = (
        f"{ds.format} {Path(ds.path).name}: {len(items)} used of {kept} passing the filters"
        f" ({len(entries)} read)"
    )
    return items, what


def _trace_items(profile: Profile, counter: Counter) -> tuple[list[Item], str]:
    tr = profile.trace
    assert tr is not None
    entries = [e for e in read_trace(tr) if e.t < profile.max_duration]
    rng = random.Random(f"{profile.seed}:trace")
    items = []
    inexact = 0
    for i, e in enumerate(entries):
        # a unique first word, so no two prompts share more than chance
        words = [f"t{i}", *(rng.choice(WORDS) for _ in range(e.prompt_tokens))]
        text, n = counter.fit(words, e.prompt_tokens)
        inexact += n != e.prompt_tokens
        out = None if profile.output is not None else e.output_tokens
        items.append(Item(text, n, out, e.t))
    what = (
        f"{tr.format} trace {Path(tr.path).name}: {len(items)} requests in"
        f" {profile.max_duration:g} s, time scale {tr.time_scale:g}"
    )
    if inexact:
        what += f"; {inexact} prompts could not be cut to their exact length"
    return items, what


def prepare(profile: Profile, url: str, run_dir: Path) -> Prepared:
    """Read, count and write the run's items (none for synthetic prompts, drawn by workers)."""
    if not profile.prepared and profile.tokenizer.source == "server":
        raise UserError(
            "tokenizer.source: server counts data-set and trace prompts; synthetic prompts are"
            " cut with source: file or counted as words (the server's usage reports its count)"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    counter = make_counter(profile.tokenizer, url, profile.model)
    desc = {"token_counter": counter.label}
    if not profile.prepared:
        desc["prompts"] = "synthetic words"
        return Prepared([], desc)
    if profile.dataset is not None:
        items, what = _dataset_items(profile, counter)
    else:
        items, what = _trace_items(profile, counter)
    desc["prompts"] = what
    with (run_dir / WORKLOAD_FILE).open("wb") as f:
        for item in items:
            f.write(orjson.dumps(item) + b"\n")
    return Prepared(items, desc)


def read_items(path: Path) -> list[Item]:
    out = []
    with path.open("rb") as f:
        for line in f:
            d = orjson.loads(line)
            out.append(Item(d["text"], d["tokens"], d["max_tokens"], d["t"]))
    return out


def share(items: list[Item], index: int, count: int) -> list[Item]:
    """Worker ``index`` of ``count``: every count-th item from its index (traces keep order)."""
    return items[index::count]


class ItemPrompts:
    """A worker's prompts from prepared items, in order, starting over when they run out.

    ``output`` (the profile's, when given) replaces the items' output lengths."""

    def __init__(
        self, items: list[Item], output: Distribution | None, seed: int, worker: str
    ) -> None:
        if not items:
            raise ValueError("no items for this worker")
        self._items = items
        self._output = output
        self._rng = random.Random(f"{seed}:{worker}:output")
        self._n = 0

    def next(self) -> Prompt:
        item = self._items[self._n % len(self._items)]
        self._n += 1
        if self._output is not None:
            max_tokens = draw_length(self._output, self._rng)
        else:
            assert item.max_tokens is not None
            max_tokens = item.max_tokens
        return Prompt(item.text, item.tokens, max_tokens, None, item.text)
