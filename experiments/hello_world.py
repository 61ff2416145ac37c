"""The seed exercise: an Elman RNN learns to reproduce "hello! world" from its one-hot encoding.

``jaxrnn.RNN(9, 9)`` reads the one-hot characters (9 distinct ones); its 9 outputs are read as
logits over the same characters; cross-entropy against the input itself, Adam(0.1), 100 jitted
steps, printing the loss and the predicted string after each step (as the PyTorch original does).

Run: ``python experiments/hello_world.py``
"""

import jax
import jax.numpy as jnp
import optax

import jaxrnn
from jaxrnn.train import cross_entropy, make_step

TEXT = "hello! world"


def main(steps: int = 100, seed: int = 0, verbose: bool = True) -> list[str]:
    """Trains and returns the predicted string after each step."""
    chars = sorted(set(TEXT))  # 9 characters
    ids = jnp.array([chars.index(c) for c in TEXT])
    x = jax.nn.one_hot(ids, len(chars))[None]  # (B=1, T=12, I=9)
    model = jaxrnn.RNN(len(chars), len(chars), batch_first=True)
    params = model.init(jax.random.key(seed))

    def loss_fn(p, batch):
        outputs, _ = model.apply(p, batch[0])
        return cross_entropy(outputs, batch[1])

    optimizer = optax.adam(0.1)
    step = jax.jit(make_step(loss_fn, optimizer), donate_argnums=(0, 1))
    predict = jax.jit(lambda p: jnp.argmax(model.apply(p, x)[0][0], axis=-1))
    opt_state, predictions = optimizer.init(params), []
    for i in range(steps):
        params, opt_state, metrics = step(params, opt_state, (x, ids[None]))
        predictions.append("".join(chars[int(c)] for c in predict(params)))
        if verbose:
            print(f"{i:3d} loss {float(metrics['loss']):.4f} prediction {predictions[-1]!r}")
    return predictions


if __name__ == "__main__":
    main()
