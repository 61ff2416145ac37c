"""jaxrnn.app.corpus: corpus loading, vocabulary, and batches that are a pure function of the step."""

import sysconfig

import numpy as np
import pytest

from jaxrnn.app import corpus


def test_default_corpus_is_stdlib_sources_capped_and_deterministic():
    files = corpus.stdlib_files()
    root = sysconfig.get_paths()["stdlib"]
    assert files and all(f.startswith(root) and f.endswith(".py") for f in files)
    assert not any("site-packages" in f for f in files)
    text = corpus.default_corpus(50_000)
    assert len(text) == 50_000 and text == corpus.default_corpus(50_000)
    with open(files[0], encoding="utf-8") as f:
        first = f.read()
    assert text.startswith(first[:1000])


def test_read_text_errors(tmp_path):
    with pytest.raises(corpus.DataError, match="no such file"):
        corpus.read_text(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(corpus.DataError, match="the file is empty"):
        corpus.read_text(str(tmp_path / "empty.txt"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(corpus.DataError, match=r"not UTF-8 text \(invalid byte at offset 3\)"):
        corpus.read_text(str(tmp_path / "latin1.txt"))
    (tmp_path / "ok.txt").write_text("héllo\n", encoding="utf-8")
    assert corpus.read_text(str(tmp_path / "ok.txt")) == "héllo\n"


def test_vocab_round_trip_and_unknown_characters():
    vocab = corpus.Vocab.from_text("the quick brown fox")
    ids = vocab.encode("the fox")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "the fox"
    assert list(vocab.chars) == sorted(set("the quick brown fox"))
    with pytest.raises(ValueError, match="--prime contains characters not in the vocabulary: 'zé'"):
        vocab.encode("zé", "--prime")


def test_batches_are_contiguous_streams_and_pure_functions_of_seed_and_step():
    ids = np.arange(1000)
    b, t = 4, 10
    x0, y0, r0 = corpus.batch_at(ids, 0, b, t, seed=3)
    x0b, _, _ = corpus.batch_at(ids, 0, b, t, seed=3)
    np.testing.assert_array_equal(x0, x0b)
    np.testing.assert_array_equal(y0, x0 + 1)
    assert r0.all()  # step 0 starts every row fresh
    chunks = corpus.num_chunks(len(ids), b, t)
    assert chunks == 999 // 4 // 10
    seen_reset = False
    for step in range(1, 2 * chunks):
        x_prev, _, _ = corpus.batch_at(ids, step - 1, b, t, seed=3)
        x, _, reset = corpus.batch_at(ids, step, b, t, seed=3)
        if reset.any():
            seen_reset = True
            assert reset.all() and (x[:, 0] == np.arange(b) * (999 // b)).all()
        else:
            np.testing.assert_array_equal(x[:, 0], x_prev[:, -1] + 1)  # the text continues
    assert seen_reset
    x_other, _, _ = corpus.batch_at(ids, 0, b, t, seed=4)
    assert not np.array_equal(x_other, x0)


def test_split_and_too_short_errors():
    train, valid = corpus.split(np.arange(100), 0.1)
    assert len(train) == 90 and len(valid) == 10
    with pytest.raises(ValueError, match=r"valid_fraction must be in \(0, 1\), got 1.5"):
        corpus.split(np.arange(100), 1.5)
    with pytest.raises(corpus.DataError, match=r"too short for one batch: 40 characters, need at least "
                                             r"batch_size \* seq_len \+ 1 = 41"):
        corpus.batch_at(np.arange(40), 0, 4, 10)
