"""How a ``jaxrnn train`` run starts, fresh or resumed: its config, its corpus, split into
training and held-out ids, its model and its state, and every check that a resume makes.

Flags and files are checked before jax loads (a bad one fails at once); the model, the state and
the checkpoint come after.
"""

from __future__ import annotations

import glob
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

    A fresh run takes the defaults and the flags, in an ``--out`` that holds no run yet (nor
    checkpoints or metrics of anything else: those are never pruned or truncated). A resumed run
    takes ``--out/config.json``, then the flags; every resume check is here, in the order a run
    is put together: a flag that would change the model or the data, a text whose vocabulary or
    contents (size and SHA-256) differ, a checkpoint that is not finite or whose step is beyond
    ``--steps``. A run with no checkpoint yet starts at step 0. The run directory is always
    ``--out``: the ``out`` a config.json holds is never followed.

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
        if os.path.lexists(config_path):
            raise UsageError(f"{out} already holds a run; use --resume to continue it or --out NEW_DIR")
        not_a_run(out)
        saved = DEFAULTS
    else:
        saved = validate({**DEFAULTS, **rundir.read_json(config_path)}, config_path)
        rundir.read_metrics(os.path.join(out, "metrics.jsonl"))  # a regular file of records, capped
        for key in KEPT_KEYS:
            if key in given and given[key] != saved.get(key):
                raise UsageError(f"--resume: --{key.replace('_', '-')} {given[key]} does not match "
                                 f"the run's {shown(key, saved.get(key))} (a run keeps its model and data)")
    config = {**saved, **given, "out": out}  # the run directory is the one named, never a stored one
    text, source = load_corpus(config)
    vocab = corpus.Vocab.from_text(text)
    if config.get("vocab", vocab.chars) != vocab.chars:
        raise UsageError("--resume: the text's vocabulary differs from the run's")
    fingerprint = corpus.fingerprint(text)
    same_text(config, fingerprint, source)
    train_ids, valid_ids = split(text, vocab, config)
    from jaxrnn.app import checkpoint  # jax loads here
    from jaxrnn.app.model import build_model, fresh_state, load_state, optimizer, state_shapes

    model = build_model(config, vocab.size)
    latest, state = load_state(out, state_shapes(model, config)) if resume else (None, None)
    if resume and latest is None:
        print(f"{out} has no checkpoint yet: starting at step 0 with its config", file=sys.stderr)
    if state is None:  # no checkpoint (load_state gives a state exactly when it gives a path)
        state = fresh_state(model, config)
    start = int(state["step"])
    if not 0 <= start <= config["steps"]:
        raise checkpoint.CheckpointError(
            f"--steps {config['steps']} is below the run's step {start} (--steps is the total number of "
            f"steps; ask for more than {start} to continue)" if start > 0 else
            f"checkpoint {latest}: step {start} is negative")
    config = {**config, "vocab": vocab.chars, "source": source, "corpus_chars": len(text), **fingerprint}
    return Setup(config, text, vocab, train_ids, valid_ids, model, optimizer(config), state, latest)


RUN_FILES = ("metrics.jsonl", "loss.png", "tensorboard")  # with the checkpoints: what a run writes besides config.json


def not_a_run(out: str) -> None:
    """Refuses a fresh run in ``out`` when it holds checkpoints, metrics or a loss curve but no
    ``config.json``: files of another run (or another program) are never pruned or truncated.

    Raises:
      UsageError: naming what ``out`` holds and what to do.
    """
    held = [f for f in RUN_FILES if os.path.lexists(os.path.join(out, f))]
    checkpoints = glob.glob(os.path.join(glob.escape(out), rundir.CHECKPOINTS))
    if checkpoints:
        held.insert(0, f"{len(checkpoints)} checkpoint{'s' * (len(checkpoints) > 1)} "
                       f"({os.path.basename(max(checkpoints))}...)")
    if held:
        raise UsageError(f"--out {out} holds {', '.join(held)} but no config.json, so it is no run "
                         "jaxrnn can continue or overwrite; move those files away or choose another --out")


def same_text(config: dict, fingerprint: dict, source: str) -> None:
    """Refuses to resume on a text whose size or SHA-256 differ from the run's (a file edited in
    place, or another Python's standard library); runs saved before fingerprints were kept pass.

    Raises:
      UsageError: naming the text and both fingerprints.
    """
    saved = {k: config.get(k) for k in fingerprint}
    if saved["corpus_sha256"] is not None and saved != fingerprint:
        raise UsageError(
            f"--resume: the text {source} changed since the run began ({fingerprint['corpus_bytes']:,} "
            f"bytes, SHA-256 {fingerprint['corpus_sha256'][:12]}... now; the run trained on "
            f"{saved['corpus_bytes']:,} bytes, SHA-256 {str(saved['corpus_sha256'])[:12]}...); restore it, "
            "or train a new run on it with --out NEW_DIR")


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
