"""The configuration of a ``jaxrnn train`` run: defaults, what each value may be, and one check
used both for command-line flags and for a ``config.json`` read back (which a user may have edited).

Imports nothing heavy (the command parses its flags before jax loads).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

from jaxrnn.app import rundir

DEFAULTS = {
    "text": None, "max_chars": 2_000_000, "cell": "lstm", "hidden": 256, "layers": 1,
    "seq_len": 64, "batch_size": 32, "steps": 1000, "lr": 3e-3, "clip": 1.0, "seed": 0,
    "log_every": 10, "eval_every": 250, "sample_every": 500, "save_every": 100, "keep": 3,
    "out": os.path.join("runs", "charlm"),
}
# What a run keeps, its model and its data: a resume may change every other setting.
KEPT_KEYS = ("cell", "hidden", "layers", "text", "max_chars", "seq_len", "batch_size", "seed")


class BlockCell(NamedTuple):
    """A ``--cell`` that is a block of :mod:`jaxrnn.blocks`, stacked in residual layers of width
    ``--hidden`` (:class:`jaxrnn.app.blocklm.BlockLM`): the block's class name, its arguments
    beside ``d_model``, and ``mlp_ratio``, the width of the gated MLP after it in each layer over
    ``d_model`` (0: none), as the block's family stacks it."""

    block: str
    options: dict
    mlp_ratio: float


# The classic --cell choices: each names its layer, jaxrnn.LSTM/GRU/RNN in capitals.
CLASSIC_CELLS = ("lstm", "gru", "rnn")
# The block --cell choices, the one registry of them (every block's defaults work at any --hidden).
BLOCK_CELLS = {
    "slstm": BlockCell("SLSTMBlock", {}, 4 / 3),  # xLSTM's sLSTM block: a 4/3 up-projection after it
    "mlstm": BlockCell("MLSTMBlock", {}, 0.0),  # xLSTM's mLSTM block: its up-projection is inside
    "gdn": BlockCell("GatedDeltaNet", {}, 8 / 3),  # flash-linear-attention: a gated MLP of 4 x 2/3
    "deltanet": BlockCell("GatedDeltaNet", {"decay": False}, 8 / 3),
    "mamba": BlockCell("Mamba", {}, 0.0),  # Mamba's blocks: the mixer alone
    "mamba2": BlockCell("Mamba2", {}, 0.0),
    "griffin": BlockCell("GriffinBlock", {}, 3.0),  # Griffin's residual block: an MLP of 3 x the width
}
CELLS = CLASSIC_CELLS + tuple(BLOCK_CELLS)  # the --cell choices
# Numbers: their kind, and an upper bound where a larger value would run out of memory or time
# rather than fail (the model's total size is checked separately, see MAX_PARAMS).
KINDS = {"max_chars": int, "hidden": int, "layers": int, "seq_len": int, "batch_size": int,
         "steps": int, "lr": float, "clip": float, "seed": int, "log_every": int, "eval_every": int,
         "sample_every": int, "save_every": int, "keep": int, "length": int, "temperature": float,
         "vocab_size": int}
LIMITS = {"hidden": 65_536, "layers": 64, "seq_len": 1 << 20, "batch_size": 1 << 20, "vocab_size": 1 << 20,
          "max_chars": 1 << 31, "length": 1_000_000, "seed": (1 << 32) - 1}
MAX_PARAMS = 1_000_000_000  # 12 GB with Adam's two moments in float32
# Settings that become float32 numbers of the train step: they must stay themselves there (a
# --lr of 1e-50 is 0 in float32, so the params would never change).
FLOAT32 = ("lr", "clip")
FLOAT32_RANGE = (2.0 ** -126, (2 - 2.0 ** -23) * 2.0 ** 127)  # the smallest normal, the largest


class UsageError(Exception):
    """A bad flag, file or run directory: the command prints it as one line, exit status 2."""


def shown(key: str, value):
    """A setting's value as the help and errors show it (``text`` None: the default corpus).

    Examples:
      >>> shown("text", None), shown("hidden", 256)
      ('the stdlib sources', 256)
    """
    return "the stdlib sources" if key == "text" and value is None else value


def check_value(key: str, value):
    """Returns ``value`` if it may be the setting ``key``, else raises ``ValueError`` saying why.

    Examples:
      >>> check_value("hidden", 128)
      128
      >>> check_value("lr", -1.0)
      Traceback (most recent call last):
      ValueError: lr must be > 0, got -1.0
    """
    kind = KINDS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ValueError(  # noqa: TRY004 - a setting's bad value, whatever its kind: ValueError as for the others
            f"{key} must be {'a number' if kind is float else 'an integer'}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{key} must be finite, got {value}")
    low, strict = {"seed": (0, False), "temperature": (0, False)}.get(key, (0, True))
    if value < low or (strict and value == low):
        raise ValueError(f"{key} must be {'>' if strict else '>='} {low}, got {value}")
    if key in FLOAT32 and not FLOAT32_RANGE[0] <= value <= FLOAT32_RANGE[1]:
        raise ValueError(f"{key} must be a normal float32 number, from {FLOAT32_RANGE[0]:.4g} to "
                         f"{FLOAT32_RANGE[1]:.4g}, got {value}")
    if key in LIMITS and value > LIMITS[key]:
        raise ValueError(f"{key} must be at most {LIMITS[key]:,}, got {value:,}")
    return value


def flag(key: str):
    """An argparse ``type`` for the setting ``key``: parses the text, then :func:`check_value`."""
    import argparse

    kind = KINDS[key]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a number' if kind is float else 'an integer'}, got {text!r}") from None
        try:
            return check_value(key, value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(f"{key} ")) from None

    parse.__name__ = key
    return parse


def path_flag(text: str) -> str:
    """An argparse ``type`` for a file or folder name: any text but an empty one (which would
    mean the current folder to some functions and nothing to others)."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a file or folder name, got {text!r}")
    return text


def validate(config: dict, where: str) -> dict:
    """Checks every setting of a run's ``config`` (as read from ``where``); returns it.

    Raises:
      ValueError: naming ``where`` and the setting, e.g. ``config.json: lr must be > 0, got -1``.
    """
    def fail(message):
        raise ValueError(f"{where}: {message}")

    for key in DEFAULTS.keys() - {"text", "out", "cell"}:
        if key not in config:
            fail(f"{key} is missing")
        try:
            check_value(key, config[key])
        except ValueError as e:
            fail(str(e))
    if config.get("cell") not in CELLS:
        fail(f"cell must be one of {', '.join(CELLS)}, got {config.get('cell')!r}")
    if config.get("text") is not None and not isinstance(config["text"], str):
        fail(f"text must be a file name or null, got {config['text']!r}")
    sha, size = config.get("corpus_sha256"), config.get("corpus_bytes")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64
                                and all(c in "0123456789abcdef" for c in sha)):
        fail(f"corpus_sha256 must be 64 lowercase hex digits, got {sha!r}")
    if (sha is None) != (size is None) or size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or size < 0):
        fail(f"corpus_bytes must be a size in bytes beside corpus_sha256, got {size!r}")
    vocab = config.get("vocab")
    if vocab is not None and (not isinstance(vocab, str) or not vocab or len(set(vocab)) != len(vocab)):
        fail("vocab must be a non-empty string of distinct characters")
    return config


def run_config(run_dir: str) -> dict:
    """The settings of the trained run in ``run_dir``: its ``config.json`` over the defaults,
    checked (:func:`validate`), with the run's vocabulary (``vocab``).

    Raises:
      ValueError: ``config.json`` is missing, unreadable, not a run's settings, or has no
        vocabulary (naming the file).
    """
    path = os.path.join(run_dir, "config.json")
    config = validate({**DEFAULTS, **rundir.read_json(path)}, path)
    if "vocab" not in config:
        raise ValueError(f"{path}: vocab is missing (a run writes it before its first step)")
    return config
