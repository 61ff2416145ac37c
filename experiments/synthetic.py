"""The small training harness of the synthetic tasks that tell the recurrent families apart
(``parity.py``, ``selective_copying.py``, ``mqar.py``).

A model is a token embedding, ``layers`` residual pre-norm layers ``x = x + mixer(rms_norm(x))``
of one family (the mixer), a final RMSNorm and a linear head: ``tokens: (B, T)`` ints ->
``logits: (B, T, V_out)``. The loss is the cross-entropy on the positions a task marks
(``mask: (B, T)``); training is :func:`jaxrnn.train.make_step` with Adam and gradient clipping,
jitted, on fresh batches drawn from explicit PRNG keys. The scripts import it as a sibling, as
``report.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import jaxrnn
from jaxrnn import blocks
from jaxrnn.train import make_step

EPS = 1e-5


class Mixer(NamedTuple):
    """One layer of a family: ``init(key) -> params``, ``apply(params, x: (B, T, D)) -> (B, T, D)``,
    and ``state``, the floats of its recurrent state per example (conv caches not counted)."""

    init: Callable
    apply: Callable
    state: int


def _block(block, state: int) -> Mixer:
    return Mixer(block.init, lambda p, x: block.apply(p, x)[0], state)


def _cell(cell, d: int, state: int) -> Mixer:
    """A cell of :mod:`jaxrnn.cells` with a linear recurrence, run by ``jaxrnn.scan``'s associative
    method on each row (``jax.vmap``)."""

    def apply(p, x):
        return jax.vmap(lambda row: jaxrnn.scan(cell, p, row, method="associative")[0])(x)

    return Mixer(lambda key: cell.init(key, d), apply, state)


def _lstm(d: int) -> Mixer:
    layer = jaxrnn.LSTM(d, d, batch_first=True)
    return Mixer(layer.init, lambda p, x: layer.apply(p, x)[0], 2 * d)


def mixer(name: str, d: int) -> Mixer:
    """The mixer called ``name`` at model width ``d`` (each family's defaults otherwise; 4 heads
    where a block has heads). The methods are the fastest on CPU at these short lengths (T <= 256,
    measured): every method computes the same function."""
    heads, k = 4, d // 4
    makers = {
        "lstm": lambda: _lstm(d),
        "slstm": lambda: _block(blocks.SLSTMBlock(d, num_heads=heads), 4 * d),
        "mlstm": lambda: _block(blocks.MLSTMBlock(d, num_heads=heads, method="chunked", chunk_size=16),
                                (2 * d // heads) ** 2 * heads),
        "gdn": lambda: _block(blocks.GatedDeltaNet(d, num_heads=heads, method="recurrent"), heads * k * 2 * k),
        "gdn_neg": lambda: _block(blocks.GatedDeltaNet(d, num_heads=heads, allow_neg_eigval=True,
                                                       method="recurrent"), heads * k * 2 * k),
        "mamba": lambda: _block(blocks.Mamba(d, method="recurrent"), 2 * d * 16),
        "mamba2": lambda: _block(blocks.Mamba2(d, state_size=16, method="recurrent"), 2 * d * 16),
        "griffin": lambda: _block(blocks.GriffinBlock(d, num_heads=heads), d),
        "mingru": lambda: _cell(jaxrnn.MinGRUCell(d), d, d),
        "lru": lambda: _cell(jaxrnn.LRUCell(d, d), d, 2 * d),
    }
    return makers[name]()


def rms_norm(x, weight):
    """``x / sqrt(mean(x^2) + EPS) * weight`` over the last axis."""
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + EPS) * weight


class Model(NamedTuple):
    """``init(key) -> params`` and ``apply(params, tokens: (B, T)) -> logits: (B, T, V_out)``."""

    init: Callable
    apply: Callable
    state: int  # floats of recurrent state per example, all layers


def model(name: str, vocab: int, n_out: int, d: int, layers: int) -> Model:
    """Embedding (``vocab`` tokens, width ``d``) -> ``layers`` residual layers of ``mixer(name, d)``
    -> RMSNorm -> linear head with ``n_out`` logits."""
    mix = mixer(name, d)

    def init(key):
        k_emb, k_head, *k_layers = jax.random.split(key, 2 + layers)
        return {"embed": jax.random.normal(k_emb, (vocab, d)),
                "layers": [{"norm": jnp.ones(d), "mixer": mix.init(k)} for k in k_layers],
                "norm": jnp.ones(d),
                "head": jax.random.normal(k_head, (n_out, d)) / d ** 0.5}

    def apply(params, tokens):
        x = params["embed"][tokens]
        for layer in params["layers"]:
            x = x + mix.apply(layer["mixer"], rms_norm(x, layer["norm"]))
        return rms_norm(x, params["norm"]) @ params["head"].T

    return Model(init, apply, layers * mix.state)


def masked_cross_entropy(logits, labels, mask):
    """Mean cross-entropy (nats) over the positions where ``mask: (B, T)`` is True."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1)


def accuracy(logits, labels, mask):
    """Fraction of the masked positions whose argmax is the label."""
    hits = (jnp.argmax(logits, -1) == labels) * mask
    return jnp.sum(hits) / jnp.maximum(jnp.sum(mask), 1)


def train(net: Model, batches: Callable, tests: dict, *, steps: int, lrs, seed: int,
          eval_every: int, label: str = "") -> list:
    """Trains ``net`` with Adam (clip 1.0) at each learning rate of ``lrs`` for ``steps`` steps on
    ``batches(key) -> (tokens, labels, mask)``, each step a fresh batch from ``fold_in(key, step)``;
    every ``eval_every`` steps (and at the end) measures the accuracy on each test set of ``tests``
    (name -> ``(tokens, labels, mask)``). The learning rates share the initialisation and the
    batches and train side by side (``jax.vmap`` over one compiled step). Returns, per learning
    rate, ``{"lr": lr, "curve": [(step, train loss, {name: acc})], "final": {name: acc},
    "params": count, "seconds": wall time of the whole sweep}``."""
    k_init, k_data = jax.random.split(jax.random.key(seed))
    lrs = jnp.asarray(lrs, jnp.float32)
    params = net.init(k_init)
    n_params = jaxrnn.param_count(params)

    def loss_fn(p, batch):
        tokens, labels, mask = batch
        return masked_cross_entropy(net.apply(p, tokens), labels, mask)

    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)

    def init_one(lr):
        state = optimizer.init(params)
        state.hyperparams["learning_rate"] = lr
        return params, state

    many, opt_state = jax.vmap(init_one)(lrs)
    step = jax.jit(jax.vmap(make_step(loss_fn, optimizer, clip_norm=1.0), in_axes=(0, 0, None)))
    measure = jax.jit(jax.vmap(lambda p, b: accuracy(net.apply(p, b[0]), b[1], b[2]), in_axes=(0, None)))
    draw = jax.jit(batches)
    curves, start = [[] for _ in lrs], time.perf_counter()
    for i in range(1, steps + 1):
        many, opt_state, metrics = step(many, opt_state, draw(jax.random.fold_in(k_data, i)))
        if i % eval_every == 0 or i == steps:
            accs = {name: measure(many, test).tolist() for name, test in tests.items()}
            for j, curve in enumerate(curves):
                curve.append((i, float(metrics["loss"][j]), {name: a[j] for name, a in accs.items()}))
                print(f"{label} lr {float(lrs[j]):g} step {i}: loss {curve[-1][1]:.4f}, "
                      + ", ".join(f"{n} acc {a:.3f}" for n, a in curve[-1][2].items()), flush=True)
    seconds = time.perf_counter() - start
    return [{"lr": float(lr), "curve": curve, "final": curve[-1][2], "params": n_params, "seconds": seconds}
            for lr, curve in zip(lrs, curves, strict=True)]
