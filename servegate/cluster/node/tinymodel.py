"""A tiny Llama-architecture GGUF, written deterministically (no download, no training).

The weights are random from a fixed seed; the vocabulary is a SentencePiece-style one made
here: byte fallback, the printable ASCII characters, the load generator's prompt words and
pronounceable pseudo-words, each reachable by a chain of merges. The shape is chosen so a
request costs real compute on a CPU while the node still serves several requests per
second (docs/engine.md, "The model").

Two properties make the engine's output checkable against its own tokenizer:

- every token the model can emit is a whole word with a leading ``▁`` (a space), and no
  token has a ``▁`` inside, so the text of a reply tokenizes back to exactly the tokens
  that made it (``/tokenize`` of the output = ``usage.completion_tokens``);
- one embedding dimension (:data:`MARK_DIM`) is a constant carried by the residual stream,
  and the output rows of every other token (bytes, characters, word prefixes, end of text)
  weigh it strongly negative: those tokens sit far below every word in the logits, so the
  default top-k sampler never picks them. Replies therefore run to ``max_tokens``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from servegate.cluster.node.layout import cache_root
from servegate.load.prompts import WORDS

SPACE = "\u2581"
"""SentencePiece's visible space."""

SEED = 20240611
MARK_DIM = 0


@dataclass(frozen=True)
class Shape:
    """The model's hyper-parameters (the cache key includes every field)."""

    n_vocab_words: int = 1200
    n_embd: int = 384
    n_layer: int = 6
    n_head: int = 6
    n_head_kv: int = 2
    n_ff: int = 1024
    n_ctx: int = 8192
    seed: int = SEED

    def key(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]


DEFAULT = Shape()

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def pseudo_words(n: int, seed: int) -> list[str]:
    """``n`` distinct pronounceable words of 2-4 consonant-vowel syllables (fixed seed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen = set(WORDS)
    while len(out) < n:
        syllables = int(rng.integers(2, 5))
        word = "".join(
            _CONSONANTS[int(rng.integers(len(_CONSONANTS)))] + _VOWELS[int(rng.integers(5))]
            for _ in range(syllables)
        )
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


@dataclass(frozen=True)
class Vocab:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    emittable: list[int]
    """Ids of the whole-word tokens (``▁word``): the only tokens the model emits."""


# gguf token types (llama.cpp's llama_token_type)
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6


def vocab(shape: Shape = DEFAULT) -> Vocab:
    """The vocabulary: specials, 256 bytes, characters, then every prefix of every word.

    Merge scores rise with length and ``▁``-prefixes outrank bare ones, so the
    tokenizer's highest-score-first merging always completes a word left to right."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    scores = [0.0, 0.0, 0.0]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(_BYTE)
        scores.append(0.0)
    index: dict[str, int] = {}

    def add(piece: str, score: float) -> int:
        if piece not in index:
            index[piece] = len(tokens)
            tokens.append(piece)
            types.append(_NORMAL)
            scores.append(score)
        return index[piece]

    add(SPACE, -1000.0)
    for c in range(0x21, 0x7F):
        add(chr(c), -1000.0)
    words = list(WORDS) + pseudo_words(shape.n_vocab_words - len(WORDS), shape.seed)
    emittable: list[int] = []
    for word in WORDS:  # a prompt's first word has no space before it
        for k in range(2, len(word) + 1):
            add(word[:k], -100.0 + k)
    for word in words:
        for k in range(2, len(word) + 2):
            add(SPACE + word[: k - 1], float(k))
        emittable.append(index[SPACE + word])
    return Vocab(tokens, scores, types, sorted(set(emittable)))


CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
"""A plain role-prefixed template (the model has no special chat tokens)."""


def write(path: Path, shape: Shape = DEFAULT) -> None:
    """Write the GGUF to ``path`` (same shape -> byte-identical file)."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(shape.seed)
    v = vocab(shape)
    n_vocab, d = len(v.tokens), shape.n_embd
    head_dim = d // shape.n_head
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("servegate-tiny-llama")
    w.add_context_length(shape.n_ctx)
    w.add_embedding_length(d)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("llama")
    w.add_token_list(v.tokens)
    w.add_token_scores(v.scores)
    w.add_token_types(v.types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(False)
    w.add_chat_template(CHAT_TEMPLATE)

    def normal(*dims: int, std: float = 0.02) -> np.ndarray:
        return rng.normal(0.0, std, size=dims).astype(np.float16)

    embd = normal(n_vocab, d)
    embd[:, MARK_DIM] = 1.0
    w.add_tensor("token_embd.weight", embd)
    kv = head_dim * shape.n_head_kv
    for i in range(shape.n_layer):
        ones = np.ones(d, dtype=np.float32)
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.attn_q.weight", normal(d, d))
        w.add_tensor(f"blk.{i}.attn_k.weight", normal(kv, d))
        w.add_tensor(f"blk.{i}.attn_v.weight", normal(kv, d))
        w.add_tensor(f"blk.{i}.attn_output.weight", normal(d, d))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_gate.weight", normal(shape.n_ff, d))
        w.add_tensor(f"blk.{i}.ffn_up.weight", normal(shape.n_ff, d))
        w.add_tensor(f"blk.{i}.ffn_down.weight", normal(d, shape.n_ff))
    w.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
    out = np.zeros((n_vocab, d), dtype=np.float16)
    words = np.array(v.emittable)
    out[words] = normal(len(words), d, std=0.1)
    out[words, MARK_DIM] = 0.0
    others = np.setdiff1d(np.arange(n_vocab), words)
    out[others, MARK_DIM] = -4.0
    w.add_tensor("output.weight", out)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def build(shape: Shape = DEFAULT) -> Path:
    """The cached GGUF of ``shape`` (written on first use, a few seconds)."""
    from importlib.metadata import version

    # numpy does not promise the same random stream across versions: its version is in the key
    tools = f"gguf{version('gguf')}-numpy{version('numpy')}"
    name = f"tiny-llama-{shape.key()}-{tools}.gguf"
    out = cache_root() / "engine" / "models" / name
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    write(part, shape)
    part.replace(out)
    return out
