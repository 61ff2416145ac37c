"""Builds a 2-layer bidirectional LSTM and prints its output shapes.

Run: ``python experiments/quickstart.py``
"""

import jax
import jax.numpy as jnp

import jaxrnn


def main() -> None:
    model = jaxrnn.LSTM(5, 8, num_layers=2, bidirectional=True, batch_first=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (3, 10, 5))  # (B, T, I)
    out, (h_n, c_n) = jax.jit(model.apply)(params, x, seq_lengths=jnp.array([10, 7, 0]))
    print(f"model:      {model}")
    print(f"parameters: {jaxrnn.param_count(params)}")
    print(f"input:      {x.shape}  (B, T, I)")
    print(f"output:     {out.shape}  (B, T, D*H)")
    print(f"h_n:        {h_n.shape}  (L*D, B, H)")
    print(f"c_n:        {c_n.shape}  (L*D, B, H)")


if __name__ == "__main__":
    main()
