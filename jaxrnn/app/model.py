"""The run's model and its state: the model a config describes (refused if too large), the
state a checkpoint holds, a trained run's newest state, and a run as data (:func:`load_run`,
public as ``jaxrnn.load_run``).

The state is ``{"params", "opt_state", "step", "key", "carry"}``: the model's params, Adam's
state, the number of completed updates, the run's PRNG key (as key data) and the recurrent state
carried from one chunk of text to the next (``h_n: (L, B, H)``, LSTM ``(h_n, c_n)``; a block
cell's stacked block states, every leaf ``(L, B, ...)``).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxrnn
from jaxrnn.app import blocklm, charlm, checkpoint
from jaxrnn.app.config import CLASSIC_CELLS, MAX_PARAMS, run_config


def build_model(config: dict, vocab_size: int) -> charlm.LanguageModel:
    """The model of ``config`` (``cell``, ``hidden``, ``layers``) for ``vocab_size`` characters: a
    :class:`~jaxrnn.app.charlm.CharLM` for a classic cell, a :class:`~jaxrnn.app.blocklm.BlockLM`
    (``hidden`` its ``d_model``) for a block cell.

    Raises:
      ValueError: if its params would be more than ``config.MAX_PARAMS`` (counted from shapes
        alone: nothing is allocated).
    """
    kind = charlm.CharLM if config["cell"] in CLASSIC_CELLS else blocklm.BlockLM
    model = kind(vocab_size, config["cell"], config["hidden"], config["layers"])
    count = jaxrnn.param_count(jax.eval_shape(model.init, jax.random.key(0)))
    if count > MAX_PARAMS:
        raise ValueError(f"the model would have {count:,} parameters ({12 * count / 1e9:.0f} GB with "
                         f"Adam's state), more than the {MAX_PARAMS:,} jaxrnn train allows; "
                         "lower --hidden or --layers")
    return model


def optimizer(config: dict) -> optax.GradientTransformation:
    """The run's optimizer: Adam at ``config["lr"]``."""
    return optax.adam(config["lr"])


def fresh_state(model: charlm.LanguageModel, config: dict) -> dict:
    """The state of a new run, initialised from ``config["seed"]``, each leaf in a buffer of its own
    (the train step donates them, and a model's ``init`` may return one array for two leaves)."""
    params = model.init(jax.random.key(config["seed"]))
    state = {
        "params": params, "opt_state": optimizer(config).init(params), "step": 0,
        "key": jax.random.key_data(jax.random.key(config["seed"])),
        "carry": model.initial_state(config["batch_size"]),
    }
    return jax.tree.map(jnp.array, state)  # copies


def state_shapes(model: charlm.LanguageModel, config: dict) -> dict:
    """The state's structure with ``jax.ShapeDtypeStruct`` leaves (``step`` an int): the template
    :func:`jaxrnn.app.checkpoint.load` checks a checkpoint against, with nothing allocated."""
    shapes = jax.eval_shape(lambda: {**fresh_state(model, config), "step": np.int32(0)})
    return {**shapes, "step": 0}


def load_state(run_dir: str, template: dict):
    """``(path, state)`` of the newest checkpoint in ``run_dir`` (``(None, None)`` if none),
    refused if its params are not all finite (``jaxrnn train`` never saves such a state).

    Raises:
      CheckpointError: the newest checkpoint is damaged, does not fit ``template``, or holds NaN
        or infinite params (the message names the params path).
    """
    path, state = checkpoint.load_latest(run_dir, template)
    if state is not None:
        for where, leaf in jax.tree_util.tree_flatten_with_path(state["params"])[0]:
            leaf = np.asarray(leaf)
            if np.issubdtype(leaf.dtype, np.inexact) and not np.isfinite(leaf).all():
                raise checkpoint.CheckpointError(
                    f"checkpoint {path}: params{jax.tree_util.keystr(where)} holds NaN or infinite "
                    "values (jaxrnn train never saves them); remove it to go on from an older one")
    return path, state


def newest_state(run_dir: str, model: charlm.LanguageModel, config: dict) -> dict:
    """The newest checkpointed state of the run in ``run_dir``, read into a template of shapes
    alone: what is allocated is what the checkpoint holds, never what the config's sizes ask.

    Raises:
      CheckpointError: if the run has no checkpoint, or its newest one is damaged or does not fit.
    """
    state = load_state(run_dir, state_shapes(model, config))[1]
    if state is None:
        raise checkpoint.CheckpointError(f"{run_dir}: no checkpoint (ckpt-*.msgpack) found")
    return state


def load_run(path: str | os.PathLike) -> tuple[charlm.LanguageModel, dict, dict]:
    """A trained ``jaxrnn train`` run as Python data: ``(model, params, config)``.

    The same reading as ``jaxrnn sample`` and ``jaxrnn summary --run``: ``config.json`` checked,
    then the newest checkpoint (its SHA-256, its shapes against the model, finite params), read
    into a template of shapes, so what is allocated is what the checkpoint holds.

    Args:
      path: the run directory (``--out`` of ``jaxrnn train``).

    Returns:
      model: the run's :class:`jaxrnn.app.charlm.CharLM` (embedding, ``jaxrnn.LSTM``/``GRU``/``RNN``
        of ``config["layers"]`` layers, linear head), or for a block cell its
        :class:`jaxrnn.app.blocklm.BlockLM` (embedding, residual layers of the block, linear
        head); ``model.apply(params, tokens)`` maps ``tokens: (B, T)`` ids to next-character
        ``logits: (B, T, V)`` and the state (``h_n: (L, B, H)``, LSTM ``(h_n, c_n)``; the blocks'
        states stacked), ``model.step(params, tokens_t, state)`` does one step.
      params: the newest checkpoint's params, jax arrays ``{"embed": (V, E), "rnn": ...,
        "head": {"w": (V, H), "b": (V,)}}``.
      config: the run's settings (``cell``, ``hidden``, ``lr``, ``steps``, ...) and ``vocab``, the
        string of its ``V`` characters (id ``i`` is ``vocab[i]``).

    Raises:
      TypeError: ``path`` is not a file name.
      ValueError: ``config.json`` is missing or invalid, or the run has no usable checkpoint (the
        message names the file).

    Usage, after ``jaxrnn train --out runs/charlm``::

      model, params, config = jaxrnn.load_run("runs/charlm")
      ids = jnp.array([[config["vocab"].index(c) for c in "def "]])
      logits, state = model.apply(params, ids)  # (1, 4, V)

    Examples:
      >>> jaxrnn.load_run("/nonexistent/run")
      Traceback (most recent call last):
      jaxrnn.app.rundir.RunDirError: /nonexistent/run/config.json: no such file (is this a run directory?)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a run directory's name (str or os.PathLike), got {type(path).__name__}")
    run_dir = os.fsdecode(path)
    config = run_config(run_dir)
    model = build_model(config, len(config["vocab"]))
    params = newest_state(run_dir, model, config)["params"]
    return model, jax.tree.map(jnp.asarray, params), config
