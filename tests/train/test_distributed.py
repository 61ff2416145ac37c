"""Data parallelism over devices and processes, and the time-sharded linear scan.

Several devices need ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before jax starts, so
those checks run ``tests/train/_distributed_worker.py`` in subprocesses (CPU, loopback, bounded time).
"""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.driver.associative import combine
from jaxrnn.driver.time_sharding import linear_scan
from jaxrnn.train import distributed
from tests.helpers import ROOT, linear_loop
from tests.spawn import run, run_processes

WORKER = str(ROOT / "tests" / "train" / "_distributed_worker.py")
EXPERIMENT = str(ROOT / "experiments" / "data_parallel.py")


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def losses(stdout):
    return [float(v) for v in re.findall(r"^step \d+ loss (\S+)$", stdout, flags=re.MULTILINE)]


@pytest.fixture(scope="module")
def one_device():
    return run([EXPERIMENT], devices=1).stdout


def test_four_devices_train_like_one(one_device):
    four = run([EXPERIMENT], devices=4).stdout
    assert "devices: 1 (processes: 1, this is process 0, feeding rows 0:8 of 8)" in one_device
    assert "devices: 4 (processes: 1, this is process 0, feeding rows 0:8 of 8)" in four
    four = four.replace("PartitionSpec(", "P(")  # jax < 0.9.1 prints the long name
    assert "batch sharding: P('data', None, None)" in four and "params replicated: True" in four
    assert len(losses(one_device)) == 4 and losses(one_device)[0] != losses(one_device)[-1]
    np.testing.assert_allclose(losses(four), losses(one_device), rtol=0, atol=1e-4)


def test_two_processes_train_like_one_device(one_device):
    outs = run_processes([EXPERIMENT], processes=2, devices=2)
    for i, (out, _) in enumerate(outs):
        assert f"devices: 4 (processes: 2, this is process {i}, feeding rows {4 * i}:{4 * i + 4} of 8)" in out
        assert "params replicated: True" in out
        np.testing.assert_allclose(losses(out), losses(one_device), rtol=0, atol=1e-4)


def test_time_sharded_linear_scan_on_four_devices():
    report = last_json(run([WORKER, "time-scan"], devices=4).stdout)
    assert report["devices"] == 4
    specs = {report[k].replace("PartitionSpec(", "P(") for k in ("float32_spec", "complex64_spec")}
    assert specs == {"P('time',)"}  # jax < 0.9.1 prints the long name
    assert report["float32"] < 1e-5 and report["complex64"] < 1e-5 and report["grad"] < 1e-4
    assert report["min_gru"] < 1e-5   # jaxrnn.MinGRUCell's linear terms scanned across 4 devices


def test_errors_that_need_several_devices():
    assert last_json(run([WORKER, "errors"], devices=4).stdout) == {"devices": 4, "errors": "ok"}


def test_mesh_interleaving_processes_is_refused():
    outs = run_processes([WORKER, "interleaved"], processes=2, devices=2)
    assert [last_json(o) for o, _ in outs] == [{"devices": 4, "processes": 2, "errors": "ok"}] * 2


# -- one device, in this process ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 4), (7, 3), (12, 2, 5)])
def test_linear_scan_matches_numpy_loop(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.uniform(-1, 1, shape).astype(np.float32)
    b = rng.normal(size=shape).astype(np.float32)
    h0 = rng.normal(size=shape[1:]).astype(np.float32)
    h = linear_scan(a, b, h0, mesh=distributed.device_mesh(jax.devices()[:1]))
    np.testing.assert_allclose(h, linear_loop(a, b, h0), rtol=1e-5, atol=1e-5)


def test_combine_is_associative_composition():
    rng = np.random.default_rng(3)
    steps = [tuple(rng.normal(size=2)) for _ in range(3)]
    left = combine(combine(steps[0], steps[1]), steps[2])
    right = combine(steps[0], combine(steps[1], steps[2]))
    np.testing.assert_allclose(left, right, rtol=1e-12)
    h = linear_loop(*np.transpose(steps), 0.7)[-1]
    np.testing.assert_allclose(left[0] * 0.7 + left[1], h, rtol=1e-12)


def test_shard_batch_time_major_and_replicate():
    mesh = distributed.device_mesh()
    shard = distributed.shard_batch({"x": np.ones((5, 4, 3), np.float32)}, mesh, batch_axis=1)
    assert shard["x"].sharding.spec == jax.sharding.PartitionSpec(None, "data", None)
    np.testing.assert_array_equal(shard["x"], np.ones((5, 4, 3)))
    params = distributed.replicate({"w": jnp.arange(3.0)}, mesh)
    assert params["w"].sharding.is_fully_replicated
    assert distributed.process_rows(4, mesh) == slice(0, 4)


@pytest.mark.parametrize("args, error, match", [
    (("127.0.0.1", 2, 0), ValueError, r"coordinator_address must be 'HOST:PORT', got '127.0.0.1'"),
    ((None, 2, 0), ValueError, r"coordinator_address must be 'HOST:PORT', got None"),
    (("h:1", 0, 0), ValueError, r"num_processes must be >= 1, got 0"),
    (("h:1", 2.0, 0), TypeError, r"num_processes must be an int, got float"),
    (("h:1", 2, -1), ValueError, r"process_id must be >= 0, got -1"),
    (("h:1", 2, 2), ValueError, r"process_id must lie in \[0, 2\) \(num_processes\), got 2"),
])
def test_initialize_rejects_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        distributed.initialize(*args)


def test_initialize_rejects_bad_timeout():
    with pytest.raises(ValueError, match=r"timeout_s must be >= 1, got 0"):
        distributed.initialize("h:1", 1, 0, timeout_s=0)


def test_mesh_and_batch_errors():
    with pytest.raises(ValueError, match=r"devices must be a non-empty sequence"):
        distributed.device_mesh([])
    with pytest.raises(TypeError, match=r"axis_name must be a non-empty str, got ''"):
        distributed.device_mesh(axis_name="")
    mesh = distributed.device_mesh()
    with pytest.raises(ValueError, match=r"batch: every leaf needs a batch axis 1, got shape \(4,\)"):
        distributed.shard_batch(np.ones(4), mesh, batch_axis=1)
    with pytest.raises(ValueError, match=r"batch_axis must be >= 0, got -1"):
        distributed.shard_batch(np.ones(4), mesh, batch_axis=-1)
    with pytest.raises(ValueError, match=r"global_batch_size must be >= 1, got 0"):
        distributed.process_rows(0, mesh)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: linear_scan(np.ones((4, 2)), np.ones((4, 2)), mesh="data"), TypeError,
     r"mesh must be a jax.sharding.Mesh, got str"),
    (lambda m: linear_scan(np.ones((4, 2)), np.ones((4, 2)), mesh=m, axis_name="time"), ValueError,
     r"axis_name must be one of the mesh axes \('data',\), got 'time'"),
    (lambda m: linear_scan(np.ones((4, 2), int), np.ones((4, 2)), mesh=m), TypeError,
     r"a must have a floating or complex dtype, got int"),
    (lambda m: linear_scan(np.ones(()), np.ones(()), mesh=m), ValueError,
     r"a must have a leading time axis \(T, ...\), got shape \(\)"),
    (lambda m: linear_scan(np.ones((4, 2)), np.ones((4, 3)), mesh=m), ValueError,
     r"b must have shape \(4, 2\), got \(4, 3\)"),
    (lambda m: linear_scan(np.ones((4, 2)), np.ones((4, 2)), np.ones(3), mesh=m), ValueError,
     r"h0 must have shape \(2,\), got \(3,\)"),
])
def test_linear_scan_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(distributed.device_mesh())
