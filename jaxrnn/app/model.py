"""The run's model and its state: the model a config describes (refused if too large), the
state a checkpoint holds, and a trained run's newest state.

The state is ``{"params", "opt_state", "step", "key", "carry"}``: the model's params, Adam's
state, the number of completed updates, the run's PRNG key (as key data) and the recurrent state
carried from one chunk of text to the next (``h_n: (L, B, H)``, LSTM ``(h_n, c_n)``).
"""

from __future__ import annotations

import jax
import optax

import jaxrnn
from jaxrnn.app import charlm, checkpoint
from jaxrnn.app.config import MAX_PARAMS


def build_model(config: dict, vocab_size: int) -> charlm.CharLM:
    """The model of ``config`` (``cell``, ``hidden``, ``layers``) for ``vocab_size`` characters.

    Raises:
      ValueError: if its params would be more than ``config.MAX_PARAMS`` (counted from shapes
        alone: nothing is allocated).
    """
    model = charlm.CharLM(vocab_size, config["cell"], config["hidden"], config["layers"])
    count = jaxrnn.param_count(jax.eval_shape(model.init, jax.random.key(0)))
    if count > MAX_PARAMS:
        raise ValueError(f"the model would have {count:,} parameters ({12 * count / 1e9:.0f} GB with "
                         f"Adam's state), more than the {MAX_PARAMS:,} jaxrnn train allows; "
                         "lower --hidden or --layers")
    return model


def state_template(model: charlm.CharLM, config: dict):
    """``(optimizer, state)``: the state freshly initialised (``checkpoint.load``'s template)."""
    params = model.init(jax.random.key(config["seed"]))
    optimizer = optax.adam(config["lr"])
    return optimizer, {
        "params": params, "opt_state": optimizer.init(params), "step": 0,
        "key": jax.random.key_data(jax.random.key(config["seed"])),
        "carry": model.initial_state(config["batch_size"]),
    }


def load_run(run_dir: str, model: charlm.CharLM, config: dict) -> dict:
    """The newest checkpointed state of the run in ``run_dir``.

    Raises:
      CheckpointError: if the run has no checkpoint, or its newest one is damaged or does not fit.
    """
    _, template = state_template(model, config)
    path, state = checkpoint.load_latest(run_dir, template)
    if path is None:
        raise checkpoint.CheckpointError(f"{run_dir}: no checkpoint (ckpt-*.msgpack) found")
    return state
