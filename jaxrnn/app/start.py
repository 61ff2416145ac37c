"""How a ``jaxrnn train`` run starts, fresh or resumed: its config, its corpus, split into
training and held-out ids, its model and its state, and every check that a resume makes.

Flags and files are checked before jax loads (a bad one fails at once); the model, the state and
the checkpoint come after.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.app import corpus, rundir
from jaxrnn.app.config import DEFAULTS, KEPT_KEYS, UsageError, shown, validate

VALID_FRACTION = 0.05
MAX_VALID_CHARS = 65_536


class Setup(NamedTuple):
    """A run ready for its first step (see :func:`setup`)."""

    config: dict  # the settings, with the run's "vocab", "source" and "corpus_chars"
    text: str
    vocab: corpus.Vocab
    train_ids: np.ndarray  # (N,) ids of the training split
    valid_ids: np.ndarray  # (M,) ids of the held-out split, M <= MAX_VALID_CHARS
    model: Any  # a jaxrnn.app.charlm.CharLM
    optimizer: Any  # an optax GradientTransformation
    state: dict  # {"params", "opt_state", "step", "key", "carry"}: fresh, or the checkpoint's
    latest: str | None  # the checkpoint the run resumes from, if any


def setup(given: dict, resume: bool) -> Setup:
    """Puts together the run that the flags ``given`` describe, or checks and resumes one.

    A fresh run takes the defaults and the flags, in an ``--out`` that holds no run yet. A resumed
    run takes ``--out/config.json``, then the flags; every resume check is here, in the order a
    run is put together: a flag that would change the model or the data, a text whose vocabulary
    differs, a checkpoint step beyond ``--steps``. A run with no checkpoint yet starts at step 0.

    Args:
      given: the flags given, by setting name (``{"hidden": 32, "out": "runs/a"}``), ``text``
        as an absolute path.
      resume: whether to continue the run in ``--out``.

    Raises:
      UsageError, jaxrnn.app.corpus.DataError, jaxrnn.app.checkpoint.CheckpointError: a message
        for the user, one line each.
    """
    out = given.get("out", DEFAULTS["out"])
    config_path = os.path.join(out, "config.json")
    if not resume:
        if os.path.exists(config_path):
            raise UsageError(f"{out} already holds a run; use --resume to continue it or --out NEW_DIR")
        saved = DEFAULTS
    else:
        saved = validate({**DEFAULTS, **rundir.read_json(config_path)}, config_path)
        for key in KEPT_KEYS:
            if key in given and given[key] != saved.get(key):
                raise UsageError(f"--resume: --{key.replace('_', '-')} {given[key]} does not match "
                                 f"the run's {shown(key, saved.get(key))} (a run keeps its model and data)")
    config = {**saved, **given}
    text, source = load_corpus(config)
    vocab = corpus.Vocab.from_text(text)
    if config.get("vocab", vocab.chars) != vocab.chars:
        raise UsageError("--resume: the text's vocabulary differs from the run's")
    train_ids, valid_ids = split(text, vocab, config)
    from jaxrnn.app import checkpoint  # jax loads here
    from jaxrnn.app.model import build_model, state_template

    model = build_model(config, vocab.size)
    optimizer, state = state_template(model, config)
    latest, loaded = checkpoint.load_latest(out, state) if resume else (None, None)
    if resume and latest is None:
        print(f"{out} has no checkpoint yet: starting at step 0 with its config", file=sys.stderr)
    state = state if latest is None else loaded
    start = int(state["step"])
    if not 0 <= start <= config["steps"]:
        raise checkpoint.CheckpointError(
            f"--steps {config['steps']} is below the run's step {start} (--steps is the total number of "
            f"steps; ask for more than {start} to continue)" if start > 0 else
            f"checkpoint {latest}: step {start} is negative")
    config = {**config, "vocab": vocab.chars, "source": source, "corpus_chars": len(text)}
    return Setup(config, text, vocab, train_ids, valid_ids, model, optimizer, state, latest)


def load_corpus(config: dict) -> tuple[str, str]:
    """``(text, description)`` for the config's ``text`` file, or the default corpus."""
    if config["text"] is not None:
        return corpus.read_text(config["text"]), config["text"]
    text = corpus.default_corpus(config["max_chars"])
    return text, f"Python {sys.version_info.major}.{sys.version_info.minor} stdlib sources"


def split(text: str, vocab: corpus.Vocab, config: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(train_ids, valid_ids)``: the last ``VALID_FRACTION`` of the text held out (its first
    ``MAX_VALID_CHARS`` evaluated).

    Raises:
      DataError: if the held-out split has fewer than 2 ids, or the training split is shorter than
        one batch of ``config``'s ``batch_size`` x ``seq_len``.
    """
    train_ids, valid_ids = corpus.split(vocab.encode(text), VALID_FRACTION)
    valid_ids = valid_ids[:MAX_VALID_CHARS]
    if len(valid_ids) < 2:
        raise corpus.DataError(f"the text is too short: {len(text)} characters leave {len(valid_ids)} "
                               f"for the held-out split ({VALID_FRACTION:.0%}); it needs at least 2")
    corpus.num_chunks(len(train_ids), config["batch_size"], config["seq_len"])  # raises DataError
    return train_ids, valid_ids
