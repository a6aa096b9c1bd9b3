"""A RAG chain whose embeddings go to another service: each API reaches its own simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from servegate.metrics.io import read_records
from servegate.sim.process import SimProcess

pytestmark = pytest.mark.integration


def test_chain_sends_each_api_to_its_service_and_tags_the_chain(tmp_path: Path) -> None:
    with (
        SimProcess(model_name="llm") as llm,
        SimProcess(model_name="org/embedder") as emb,
    ):
        prof = tmp_path / "rag.yaml"
        prof.write_text(
            textwrap.dedent(
                f"""\
                kind: Profile
                name: it-rag
                api: embeddings
                then: [chat]
                model: llm
                embedding_model: org/embedder
                endpoints: {{embeddings: "{emb.base_url}/v1/embeddings"}}
                load: {{type: closed}}
                shape: {{type: steady, level: 2, duration: 2s}}
                prompt: {{dist: constant, mean: 8}}
                output: {{dist: constant, mean: 4}}
                ignore_eos: true
                prefix: {{groups: 1, length: 16}}
                seed: 5
                """
            )
        )
        argv = ["run", "--profile", str(prof), "--url", llm.base_url]
        res = subprocess.run(
            [sys.executable, "-m", "servegate", *argv, "--results", str(tmp_path / "r")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "120"},
        )
    assert res.returncode == 0, res.stdout + res.stderr
    run = next(d for d in (tmp_path / "r").iterdir() if d.is_dir())
    recs = list(read_records(run))
    # Each simulator serves one model and answers 404 to the other's: all successes means
    # every embedding request reached the embedder and every chat the LLM.
    assert recs and all(r.error is None for r in recs), [r.error_detail for r in recs][:3]
    assert {r.api for r in recs} == {"embeddings", "chat"}
    chains: dict[str, list[str]] = defaultdict(list)
    for r in sorted(recs, key=lambda r: r.sent_ns):
        chains[r.tags["chain"]].append(r.api)
    complete = [apis for apis in chains.values() if len(apis) == 2]
    assert complete and all(apis == ["embeddings", "chat"] for apis in complete)
