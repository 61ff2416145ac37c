"""A layer's ``apply`` and ``step`` exported with ``jax.export`` and a symbolic batch size,
serialized, reloaded in a fresh process and equal to the direct call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

import jaxrnn
from tests.spawn import run

RELOAD = """
import sys, jax, numpy as np
from jax import export
exported = export.deserialize(bytearray(open(sys.argv[1], "rb").read()))
arrays = np.load(sys.argv[2])
args, kwargs = jax.tree.unflatten(exported.in_tree, [arrays[f"a{i}"] for i in range(len(arrays.files))])
out = exported.call(*args, **kwargs)
np.savez(sys.argv[3], *jax.tree.leaves(out))
"""


def _reload_and_call(tmp_path, exported, args):
    (tmp_path / "f.bin").write_bytes(exported.serialize())
    np.savez(tmp_path / "args.npz", **{f"a{i}": np.asarray(a) for i, a in enumerate(jax.tree.leaves((args, {})))})
    run(["-c", RELOAD, str(tmp_path / "f.bin"), str(tmp_path / "args.npz"), str(tmp_path / "out.npz")])
    out = np.load(tmp_path / "out.npz")
    return [out[f"arr_{i}"] for i in range(len(out.files))]


@pytest.mark.parametrize("layer", [jaxrnn.LSTM(4, 6, num_layers=2, batch_first=True),
                                   jaxrnn.GRU(4, 6, num_layers=2, bidirectional=True)], ids=repr)
def test_apply_exports_with_a_symbolic_batch_and_reloads_elsewhere(layer, tmp_path):
    params = layer.init(jax.random.key(0))
    (b,) = export.symbolic_shape("b")
    shape = (b, 7, 4) if layer.batch_first else (7, b, 4)
    exported = export.export(jax.jit(lambda p, x: layer.apply(p, x)))(params, jax.ShapeDtypeStruct(shape, jnp.float32))
    for batch in (1, 5):
        x = jax.random.normal(jax.random.key(batch), (batch, 7, 4) if layer.batch_first else (7, batch, 4))
        got = _reload_and_call(tmp_path, exported, (params, x))
        for g, want in zip(got, jax.tree.leaves(layer.apply(params, x))):
            np.testing.assert_allclose(g, want, atol=1e-6, rtol=0)


def test_step_exports_with_a_symbolic_batch_and_reloads_elsewhere(tmp_path):
    layer = jaxrnn.LSTM(4, 6, num_layers=2)
    params = layer.init(jax.random.key(0))
    (b,) = export.symbolic_shape("b")
    state = (jax.ShapeDtypeStruct((2, b, 6), jnp.float32),) * 2
    exported = export.export(jax.jit(layer.step))(params, jax.ShapeDtypeStruct((b, 4), jnp.float32), state)
    x = jax.random.normal(jax.random.key(1), (3, 4))
    h = layer.initial_state(3)
    got = _reload_and_call(tmp_path, exported, (params, x, h))
    for g, want in zip(got, jax.tree.leaves(layer.step(params, x, h))):
        np.testing.assert_allclose(g, want, atol=1e-6, rtol=0)
