"""Data-set and trace readers, the prepare step and the trace schedule, on hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servegate.config.profile import Profile
from servegate.config.workload import Dataset, LengthRange, Trace
from servegate.errors import UserError
from servegate.load.dataset_files import Entry, read_dataset
from servegate.load.pacer import TraceSchedule
from servegate.load.trace_files import parse_azure_time, read_trace
from servegate.load.workload import ItemPrompts, prepare, read_items, share

DATA = Path(__file__).resolve().parents[3] / "loadprofiles" / "data"


def _write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


def test_sharegpt_takes_the_first_human_turn_and_its_reply(tmp_path: Path) -> None:
    doc = [
        {
            "conversations": [
                {"from": "system", "value": "s"},
                {"from": "human", "value": "q1"},
                {"from": "gpt", "value": "a1 a1"},
                {"from": "human", "value": "q2"},
            ]
        },
        {"conversations": [{"from": "human", "value": "alone"}]},  # no reply: skipped
    ]
    path = _write(tmp_path, "s.json", json.dumps(doc))
    assert read_dataset(Dataset(format="sharegpt", path=path)) == [Entry("q1", reply="a1 a1")]


def test_sharegpt_refuses_a_turn_without_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.json", json.dumps([{"conversations": [{"from": "human"}]}]))
    with pytest.raises(UserError, match=r"entry 0: turn 0"):
        read_dataset(Dataset(format="sharegpt", path=path))


def test_jsonl_and_csv_read_output_as_length_or_text(tmp_path: Path) -> None:
    jl = _write(tmp_path, "p.jsonl", '{"q": "one two", "n": 7}\n\n{"q": "three", "n": "9"}\n')
    ds = Dataset(format="jsonl", path=jl, prompt_field="q", output_field="n")
    assert read_dataset(ds) == [Entry("one two", output_tokens=7), Entry("three", output_tokens=9)]
    cs = _write(tmp_path, "p.csv", 'prompt,reply\n"a, b",x y z\n')
    ds = Dataset(format="csv", path=cs, output_field="reply")
    assert read_dataset(ds) == [Entry("a, b", reply="x y z")]


def test_a_missing_field_names_file_and_line(tmp_path: Path) -> None:
    jl = _write(tmp_path, "p.jsonl", '{"prompt": "a"}\n{"text": "b"}\n')
    with pytest.raises(UserError, match=r"p\.jsonl:2: no text field 'prompt'"):
        read_dataset(Dataset(format="jsonl", path=jl))


def test_hf_dataset_saved_to_disk(tmp_path: Path) -> None:
    import datasets

    d = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"prompt": "p q", "out": 3}]),
            "test": datasets.Dataset.from_list([{"prompt": "r", "out": 4}]),
        }
    )
    d.save_to_disk(str(tmp_path / "hf"))
    ds = Dataset(format="hf", path=str(tmp_path / "hf"), output_field="out", split="test")
    assert read_dataset(ds) == [Entry("r", output_tokens=4)]
    with pytest.raises(UserError, match="name one with split"):
        read_dataset(Dataset(format="hf", path=str(tmp_path / "hf")))


def test_azure_time_keeps_seven_fraction_digits() -> None:
    a = parse_azure_time("2023-11-16 18:15:46.6805900")
    b = parse_azure_time("2023-11-16 18:15:47")
    assert b - a == pytest.approx(0.31941, abs=1e-6)


def test_azure_trace_relative_scaled_and_capped(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "a.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:48.0000000,30,3\n"
        "2023-11-16 18:15:46.5000000,10,1\n"  # out of order: sorted by time
        "2023-11-16 18:15:47.0000000,20,2\n",
    )
    got = read_trace(Trace(format="azure", path=path, time_scale=2.0))
    assert [(round(e.t, 6), e.prompt_tokens, e.output_tokens) for e in got] == [
        (0.0, 10, 1),
        (1.0, 20, 2),
        (3.0, 30, 3),
    ]
    got = read_trace(Trace(format="azure", path=path, start=0.4, max_requests=1))
    # the replay starts 0.4 s into the trace: the entry 0.5 s after the first comes at 0.1 s
    assert [(round(e.t, 6), e.prompt_tokens) for e in got] == [(0.1, 20)]


def test_burstgpt_skips_failed_rows_and_mooncake_is_in_ms(tmp_path: Path) -> None:
    bg = _write(
        tmp_path,
        "b.csv",
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,100,20,120,Conversation log\n"
        "6.5,GPT-4,50,0,50,Conversation log\n"
        "8,GPT-4,70,9,79,Conversation log\n",
    )
    got = read_trace(Trace(format="burstgpt", path=bg, max_prompt_tokens=80))
    assert [(e.t, e.prompt_tokens, e.output_tokens) for e in got] == [(0.0, 80, 20), (3.0, 70, 9)]
    mc = _write(
        tmp_path,
        "m.jsonl",
        '{"timestamp": 0, "input_length": 6, "output_length": 2, "hash_ids": [0]}\n'
        '{"timestamp": 1500, "input_length": 7, "output_length": 3, "hash_ids": [0, 1]}\n',
    )
    got = read_trace(Trace(format="mooncake", path=mc, time_scale=0.5))
    assert [(e.t, e.prompt_tokens, e.output_tokens) for e in got] == [(0.0, 6, 2), (0.75, 7, 3)]


def test_a_trace_without_a_column_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46,1\n")
    with pytest.raises(UserError, match="no column 'GeneratedTokens'"):
        read_trace(Trace(format="azure", path=path))


def _profile(**extra: object) -> Profile:
    doc: dict[str, object] = {
        "kind": "Profile",
        "name": "t",
        "api": "chat",
        "model": "m",
        "load": {"type": "closed"},
        "shape": {"type": "steady", "level": 1, "duration": 2},
        "seed": 4,
        **extra,
    }
    return Profile.model_validate(doc)


def test_prepare_filters_by_counted_length_then_samples_with_the_seed(tmp_path: Path) -> None:
    lines = [json.dumps({"prompt": " ".join(["w"] * n), "n": n}) for n in (1, 3, 5, 7, 9, 11)]
    path = _write(tmp_path, "p.jsonl", "\n".join(lines) + "\n")
    ds = Dataset(
        format="jsonl",
        path=path,
        output_field="n",
        prompt_tokens=LengthRange(min=3, max=9),
        sample=3,
    )
    prof = _profile(dataset=ds.model_dump())
    a = prepare(prof, "http://unused", tmp_path / "a")
    b = prepare(prof, "http://unused", tmp_path / "b")
    # 3, 5, 7, 9 pass the filter; 3 of them are drawn, the same ones for the same seed
    assert len(a.items) == 3 and a.items == b.items
    assert {i.tokens for i in a.items} <= {3, 5, 7, 9}
    assert all(i.max_tokens == i.tokens for i in a.items)  # output_field n = prompt length
    assert read_items(tmp_path / "a" / "workload.jsonl") == a.items
    assert "3 used of 4 passing the filters (6 read)" in a.description["prompts"]


def test_prepare_cuts_trace_prompts_to_their_exact_length(tmp_path: Path) -> None:
    prof = _profile(
        load={"type": "open", "arrival": "trace"},
        shape={"type": "replay", "duration": 4.0},
        trace={"format": "mooncake", "path": str(DATA / "mooncake.jsonl"), "time_scale": 0.25},
    )
    got = prepare(prof, "http://unused", tmp_path)
    lines = (DATA / "mooncake.jsonl").read_text().splitlines()
    want = [json.loads(ln) for ln in lines if json.loads(ln)["timestamp"] * 0.25 / 1000 < 4.0]
    assert [i.tokens for i in got.items] == [w["input_length"] for w in want]
    assert [len(i.text.split()) for i in got.items] == [w["input_length"] for w in want]
    assert [i.max_tokens for i in got.items] == [w["output_length"] for w in want]
    assert len({i.text.split()[0] for i in got.items}) == len(got.items)  # unique first words


def test_item_prompts_cycle_and_share_by_worker() -> None:
    from servegate.load.workload import Item

    items = [Item(f"p{i}", i + 1, 5) for i in range(5)]
    mine = share(items, 1, 2)
    assert [i.text for i in mine] == ["p1", "p3"]
    ip = ItemPrompts(mine, None, 0, "w1")
    assert [ip.next().text for _ in range(3)] == ["p1", "p3", "p1"]


def test_trace_schedule_counts_from_the_first_moment_the_run_is_on() -> None:
    s = TraceSchedule([0.0, 0.5, 2.0])
    assert s.next_time(0.1, 0.0) is None  # not on yet
    assert s.next_time(0.3, 1.0) == pytest.approx(0.3)
    s.advance(1.0)
    assert s.next_time(0.4, 1.0) == pytest.approx(0.8)
    s.advance(1.0)
    assert s.next_time(0.9, 1.0) == pytest.approx(2.3)
    s.advance(1.0)
    assert s.done and s.next_time(5.0, 1.0) is None
