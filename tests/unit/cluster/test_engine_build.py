"""The engine's build plumbing and its generated model (no compile, no download).

The model is read back with gguf's own reader (not our writer); the engine itself loading
and tokenizing it is checked in tests/integration/engine/.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from servegate.cluster.node import enginebuild, tinymodel
from servegate.errors import UserError
from servegate.load.prompts import WORDS

SMALL = tinymodel.Shape(n_vocab_words=120, n_embd=32, n_layer=2, n_head=4, n_head_kv=2, n_ff=64)


def test_make_progress_reads_cmake_percentages() -> None:
    assert enginebuild._make_progress("[  7%] Building CXX object x.o\n") == 7
    assert enginebuild._make_progress("[100%] Built target llama-server\n") == 100
    assert enginebuild._make_progress("-- Configuring done\n") is None
    assert enginebuild._make_progress("[ab%] odd\n") is None


def test_build_key_follows_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    before = enginebuild.build_key()
    assert enginebuild.build_key() == before
    monkeypatch.setattr(enginebuild, "CMAKE_FLAGS", (*enginebuild.CMAKE_FLAGS, "-DGGML_AVX512=ON"))
    assert enginebuild.build_key() != before


def test_a_cached_sdist_with_the_wrong_digest_is_refused_and_removed(tmp_path: Path) -> None:
    name = f"llama_cpp_python-{enginebuild.SDIST_VERSION}.tar.gz"
    (tmp_path / name).write_bytes(b"not the sdist")
    with pytest.raises(UserError, match="is not the pinned"):
        enginebuild.fetch_sdist(tmp_path)
    assert not (tmp_path / name).exists()


def test_shared_libraries_of_a_dynamic_binary_include_libc() -> None:
    libs = enginebuild.shared_libraries(Path("/bin/true"))
    assert any(p.name.startswith("libc.so") for p in libs)
    assert all(p.is_absolute() and p.exists() for p in libs)


def test_vocab_words_are_whole_and_reachable_by_merges() -> None:
    v = tinymodel.vocab(SMALL)
    index = {t: i for i, t in enumerate(v.tokens)}
    assert len(index) == len(v.tokens), "duplicate pieces"
    assert len(v.emittable) == SMALL.n_vocab_words
    sp = tinymodel.SPACE
    for i in v.emittable:
        tok = v.tokens[i]
        assert tok.startswith(sp) and sp not in tok[1:] and len(tok) >= 2
        # every left prefix is a piece, scored higher the longer it is: merges reach the word
        chain = [tok[:k] for k in range(2, len(tok) + 1)]
        scores = [v.scores[index[p]] for p in chain]
        assert scores == sorted(scores) and len(set(scores)) == len(scores)
    for word in WORDS:
        assert sp + word in index and word in index
    assert v.types[:3] == [2, 3, 3] and v.types[3:259] == [6] * 256


def test_model_is_deterministic_and_gguf_reads_its_shape(tmp_path: Path) -> None:
    import gguf

    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    tinymodel.write(a, SMALL)
    tinymodel.write(b, SMALL)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    reader = gguf.GGUFReader(str(a))
    fields = reader.fields
    arch = fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "llama"
    assert int(fields["llama.block_count"].parts[-1][0]) == SMALL.n_layer
    assert int(fields["llama.embedding_length"].parts[-1][0]) == SMALL.n_embd
    tensors = {t.name: t for t in reader.tensors}
    n_vocab = len(tinymodel.vocab(SMALL).tokens)
    assert len(fields["tokenizer.ggml.tokens"].data) == n_vocab
    assert list(tensors["token_embd.weight"].shape) == [SMALL.n_embd, n_vocab]
    head_dim = SMALL.n_embd // SMALL.n_head
    assert list(tensors["blk.0.attn_k.weight"].shape) == [SMALL.n_embd, head_dim * SMALL.n_head_kv]
    assert f"blk.{SMALL.n_layer - 1}.ffn_down.weight" in tensors
    assert f"blk.{SMALL.n_layer}.ffn_down.weight" not in tensors


def test_only_whole_words_can_win_the_logits(tmp_path: Path) -> None:
    """The output rows: words weigh the mark dimension 0, everything else strongly negative."""
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    tinymodel.write(path, SMALL)
    out = next(t for t in gguf.GGUFReader(str(path)).tensors if t.name == "output.weight")
    rows = np.asarray(out.data, dtype=np.float32)
    words = set(tinymodel.vocab(SMALL).emittable)
    others = [i for i in range(rows.shape[0]) if i not in words]
    assert (rows[sorted(words), tinymodel.MARK_DIM] == 0).all()
    assert (rows[others, tinymodel.MARK_DIM] < 0).all() and not rows[others, 1:].any()
