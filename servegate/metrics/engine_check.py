"""servegate's per-request figures against the engine's own (llama.cpp's ``timings``).

llama-server reports for each request how long it spent on the prompt (``prompt_ms``, from
the moment a slot takes the request to the end of prompt processing) and on generation
(``predicted_ms``, from then to the last token), and how many tokens each had
(``prompt_n`` evaluated + ``cache_n`` reused, ``predicted_n``). servegate measures the same
request from outside: TTFT from sending to the first content chunk, generation from that
chunk to the last byte.

What the differences are made of:

- TTFT - prompt_ms: connecting and sending (network, HTTP parsing), waiting for a free slot
  or for the running batch (queueing), chat templating and tokenising, sampling the first
  token, and delivering its chunk. Never negative: the client sent the request before the
  engine started it and saw the first token after the engine made it.
- generation - predicted_ms: the first chunk's delivery delay subtracted, the last chunk's
  added; about zero, either sign.
- end-to-end - (prompt_ms + predicted_ms): everything outside the engine's two clocks.
  Never negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from servegate.metrics.record import RequestRecord
from servegate.metrics.stats import Dist, summarize


@dataclass(frozen=True)
class EngineAgreement:
    requests: int
    """Successful requests that carried the engine's timings."""
    ttft_minus_prompt_ms: Dist
    gen_minus_predicted_ms: Dist
    e2e_minus_engine_ms: Dist
    violations: list[str] = field(default_factory=list)
    """Requests whose servegate time is below the engine's (impossible unless one is wrong)."""
    token_mismatches: list[str] = field(default_factory=list)
    """Requests whose usage disagrees with the engine's token counts in ``timings``."""


def agreement(records: Iterable[RequestRecord]) -> EngineAgreement | None:
    """The per-request differences; None when no successful request had engine timings."""
    ttft, gen, e2e = [], [], []
    violations, mismatches = [], []
    for r in records:
        t = r.engine_timings
        if not r.ok or not r.chunks or t is None:
            continue
        prompt_ms, predicted_ms = t.get("prompt_ms"), t.get("predicted_ms")
        if prompt_ms is None or predicted_ms is None:
            continue
        ttft_ms = r.chunks[0][0] / 1e6
        e2e_ms = (r.end_ns - r.sent_ns) / 1e6
        ttft.append(ttft_ms - prompt_ms)
        gen.append((e2e_ms - ttft_ms) - predicted_ms)
        e2e.append(e2e_ms - prompt_ms - predicted_ms)
        if ttft_ms < prompt_ms or e2e_ms < prompt_ms + predicted_ms:
            violations.append(
                f"{r.request_id}: TTFT {ttft_ms:.1f} ms vs prompt {prompt_ms:.1f} ms, "
                f"e2e {e2e_ms:.1f} ms vs engine {prompt_ms + predicted_ms:.1f} ms"
            )
        engine_prompt = t.get("prompt_n", 0.0) + t.get("cache_n", 0.0)
        if engine_prompt != r.prompt_tokens or t.get("predicted_n") != r.completion_tokens:
            mismatches.append(
                f"{r.request_id}: usage {r.prompt_tokens}/{r.completion_tokens} vs engine "
                f"{engine_prompt:.0f}/{t.get('predicted_n', 0.0):.0f} (prompt/completion)"
            )
    if not ttft:
        return None
    return EngineAgreement(
        len(ttft), summarize(ttft), summarize(gen), summarize(e2e), violations, mismatches
    )


def markdown(a: EngineAgreement) -> str:
    """The agreement table (milliseconds) for a report or the session index."""

    def row(name: str, d: Dist) -> str:
        cells = (d.p50, d.p99, d.min, d.max)
        return f"| {name} | " + " | ".join(f"{v:.2f}" for v in cells if v is not None) + " |"

    return "\n".join(
        [
            f"{a.requests} requests; servegate's time minus the engine's own (ms):",
            "",
            "| difference | p50 | p99 | min | max |",
            "|---|---|---|---|---|",
            row("TTFT - prompt_ms", a.ttft_minus_prompt_ms),
            row("generation - predicted_ms", a.gen_minus_predicted_ms),
            row("end-to-end - (prompt_ms + predicted_ms)", a.e2e_minus_engine_ms),
            "",
            f"Causality violations: {len(a.violations)}; token count mismatches: "
            f"{len(a.token_mismatches)}.",
        ]
    )
