"""Reading prompt data sets: ShareGPT JSON, JSONL, CSV and a Hugging Face dataset on disk.

Each reader yields :class:`Entry` (a prompt and, when the data has one, the reply text or
an output length). Lengths are counted, filtered and sampled by ``servegate.load.workload``.
A file that does not have the expected shape is refused in one line naming the file, the
entry and what is wrong.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from servegate.config.workload import Dataset
from servegate.errors import UserError


@dataclass(frozen=True, slots=True)
class Entry:
    prompt: str
    reply: str | None = None  # reply text, counted with the run's token counter
    output_tokens: int | None = None  # an output length given as a number


def _sharegpt(path: Path) -> Iterator[Entry]:
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise UserError(f"{path}: a ShareGPT file is a JSON list of conversations")
    for i, conv in enumerate(doc):
        turns = conv.get("conversations") if isinstance(conv, dict) else None
        if not isinstance(turns, list):
            raise UserError(f"{path}: entry {i}: no 'conversations' list")
        # the first human turn and the reply right after it, as vllm bench serve reads it
        for j, turn in enumerate(turns):
            if not (isinstance(turn, dict) and isinstance(turn.get("value"), str)):
                raise UserError(f"{path}: entry {i}: turn {j} is not {{from, value}}")
        humans = [j for j, t in enumerate(turns) if t.get("from") in ("human", "user")]
        if not humans or humans[0] + 1 >= len(turns):
            continue  # no prompt with a reply: nothing to size the output by
        j = humans[0]
        yield Entry(prompt=turns[j]["value"], reply=turns[j + 1]["value"])


def _from_row(row: Mapping[str, Any], ds: Dataset, where: str) -> Entry:
    prompt = row.get(ds.prompt_field)
    if not isinstance(prompt, str):
        raise UserError(f"{where}: no text field {ds.prompt_field!r}")
    if ds.output_field is None:
        return Entry(prompt=prompt)
    out = row.get(ds.output_field)
    if isinstance(out, bool) or out is None:
        raise UserError(f"{where}: no field {ds.output_field!r}")
    if isinstance(out, int):
        return Entry(prompt=prompt, output_tokens=out)
    if isinstance(out, str) and out.strip().isdigit():
        return Entry(prompt=prompt, output_tokens=int(out))
    if isinstance(out, str):
        return Entry(prompt=prompt, reply=out)
    raise UserError(f"{where}: {ds.output_field!r} is neither text nor a whole number")


def _jsonl(path: Path, ds: Dataset) -> Iterator[Entry]:
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise UserError(f"{path}:{n}: not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{n}: not a JSON object")
            yield _from_row(row, ds, f"{path}:{n}")


def _csv(path: Path, ds: Dataset) -> Iterator[Entry]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for n, row in enumerate(reader, 2):
            yield _from_row(row, ds, f"{path}:{n}")


def _hf(path: Path, ds: Dataset) -> Iterator[Entry]:
    try:
        import datasets
    except ImportError:
        raise UserError(
            "dataset format hf needs the datasets package: pip install 'servegate[hf]'"
        ) from None
    try:
        data = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise UserError(f"{path}: not a dataset saved with save_to_disk: {exc}") from None
    if isinstance(data, datasets.DatasetDict):
        splits = sorted(data)
        if ds.split is None and len(splits) != 1:
            raise UserError(f"{path}: splits {', '.join(splits)}: name one with split:")
        name = ds.split or splits[0]
        if name not in data:
            raise UserError(f"{path}: no split {name!r} (has {', '.join(splits)})")
        data = data[name]
    elif ds.split is not None:
        raise UserError(f"{path}: a single dataset has no splits; remove split:")
    for i, row in enumerate(data):
        yield _from_row(row, ds, f"{path}: row {i}")


def read_dataset(ds: Dataset) -> list[Entry]:
    path = Path(ds.path)
    if not path.exists():
        raise UserError(f"dataset.path: {path}: no such file or directory")
    try:
        if ds.format == "sharegpt":
            return list(_sharegpt(path))
        if ds.format == "jsonl":
            return list(_jsonl(path, ds))
        if ds.format == "csv":
            return list(_csv(path, ds))
        return list(_hf(path, ds))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
