"""Continuous batching as pure logic: no clock, no I/O, so tests drive it with a fake clock.

One step admits waiting sequences in FIFO order while there is a free slot
(``max_num_seqs``) and KV room, then gives every running sequence one token. A sequence
reserves ``prompt + output`` tokens of KV when admitted, so a running sequence never needs
preemption; the *used* KV (prompt + tokens generated so far) is what the usage gauge shows.
A step lasts ``decode_base + decode_per_seq * running + prefill_per_token * new prompt tokens``.
The head of the queue blocks the rest (strict FIFO), as vLLM's default scheduler does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Seq:
    """One request's generation. ``output_tokens`` is how many tokens it will produce."""

    prompt_tokens: int
    output_tokens: int
    arrival: float
    admitted_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    generated: int = 0
    done: bool = False
    counted: bool = False  # its request has entered the metrics (finished or aborted)
    sink: object = field(default=None, repr=False)

    @property
    def reserve(self) -> int:
        return self.prompt_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class EngineConfig:
    max_num_seqs: int
    kv_cache_tokens: int
    prefill_s_per_token: float
    decode_base_s: float
    decode_per_seq_s: float


@dataclass(slots=True)
class StepResult:
    """What one finished step produced, for the emitter and the metrics."""

    stepped: list[Seq]  # every sequence that got a token, in admission order
    finished: list[Seq]
    admitted: list[Seq]
    itl_gap: float  # gap of non-first tokens (all share it: one token per step)
    itl_count: int


class BatchEngine:
    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg
        self.waiting: deque[Seq] = deque()
        self.running: list[Seq] = []
        self.kv_reserved = 0
        self.kv_used = 0
        self._admitted_now: list[Seq] = []
        self._step_start = 0.0

    def fits(self, seq: Seq) -> bool:
        """Whether ``seq`` could ever run (KV capacity); callers reject it with a 400 if not."""
        return seq.reserve <= self.cfg.kv_cache_tokens

    def add(self, seq: Seq) -> None:
        if not self.fits(seq):
            raise ValueError("sequence larger than the KV cache")
        self.waiting.append(seq)

    def remove(self, seq: Seq) -> None:
        """Abort (client went away): free its slot and KV."""
        if seq.done:
            return
        seq.done = True
        if seq.admitted_at is None:
            self.waiting.remove(seq)
            return
        self.running.remove(seq)
        if seq in self._admitted_now:
            self._admitted_now.remove(seq)
        self.kv_reserved -= seq.reserve
        self.kv_used -= seq.prompt_tokens + seq.generated

    @property
    def idle(self) -> bool:
        return not self.running and not self.waiting

    def begin_step(self, now: float) -> float | None:
        """Admit what fits and return the step's duration, or None when there is no work."""
        admitted: list[Seq] = []
        new_prompt = 0
        cfg = self.cfg
        while self.waiting and len(self.running) < cfg.max_num_seqs:
            head = self.waiting[0]
            if self.kv_reserved + head.reserve > cfg.kv_cache_tokens:
                break
            self.waiting.popleft()
            head.admitted_at = now
            self.running.append(head)
            self.kv_reserved += head.reserve
            self.kv_used += head.prompt_tokens
            new_prompt += head.prompt_tokens
            admitted.append(head)
        if not self.running:
            return None
        self._admitted_now = admitted
        self._step_start = now
        return (
            cfg.decode_base_s
            + cfg.decode_per_seq_s * len(self.running)
            + cfg.prefill_s_per_token * new_prompt
        )

    def end_step(self, now: float) -> StepResult:
        """Give each running sequence one token at time ``now``; retire the finished ones."""
        stepped = list(self.running)
        finished: list[Seq] = []
        itl_count = 0
        gap = 0.0
        keep: list[Seq] = []
        for seq in stepped:
            if seq.generated == 0:
                seq.first_token_at = now
            else:
                itl_count += 1
                assert seq.last_token_at is not None
                gap = now - seq.last_token_at
            seq.last_token_at = now
            seq.generated += 1
            if seq.generated >= seq.output_tokens:
                seq.done = True
                finished.append(seq)
                self.kv_reserved -= seq.reserve
                self.kv_used -= seq.prompt_tokens + seq.generated - 1
            else:
                self.kv_used += 1
                keep.append(seq)
        self.running = keep
        admitted, self._admitted_now = self._admitted_now, []
        return StepResult(stepped, finished, admitted, gap, itl_count)

    @property
    def kv_usage(self) -> float:
        return self.kv_used / self.cfg.kv_cache_tokens
