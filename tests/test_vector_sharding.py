"""VecEnv across several devices: the same worlds, stepped in shards, give the same results as on
one device, and device choices that cannot work are refused."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import safejax
from safejax.vector import _pick_devices

KEY = jax.random.PRNGKey(7)
NUM = 4


def _run(venv, steps=15):
    @jax.jit
    def run(key):
        vs = venv.reset(key)

        def body(vs, k):
            a = jax.random.uniform(k, (NUM, venv.action_size), minval=-1, maxval=1)
            vs = venv.step(vs, a)
            return vs, (vs.obs, vs.state.reward, vs.state.cost)

        return jax.lax.scan(body, vs, jax.random.split(key, steps))

    return run(KEY)


@pytest.mark.skipif(len(jax.devices()) < 2, reason="needs two devices (one per CPU core)")
def test_sharded_worlds_match_one_device():
    env = safejax.make("PointGoal1")
    sharded = safejax.VecEnv(env, NUM)
    assert len(sharded.devices) == len(jax.devices())
    single = safejax.VecEnv(env, NUM, devices=None)
    assert single.devices == ()
    vs_a, (obs_a, rew_a, cost_a) = _run(sharded)
    vs_b, (obs_b, rew_b, cost_b) = _run(single)
    # The state really lives on every device, split by world.
    assert len(vs_a.obs.sharding.device_set) == len(jax.devices())
    np.testing.assert_allclose(np.asarray(obs_a), np.asarray(obs_b), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(rew_a), np.asarray(rew_b), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(cost_a), np.asarray(cost_b))
    np.testing.assert_array_equal(
        np.asarray(vs_a.episode.length), np.asarray(vs_b.episode.length)
    )


def test_device_choices():
    devices = jax.devices()
    # "auto": every device when the worlds divide evenly, else none.
    assert _pick_devices("auto", 2 * len(devices)) == (tuple(devices) if len(devices) > 1 else ())
    if len(devices) > 1:
        assert _pick_devices("auto", 2 * len(devices) + 1) == ()
        with pytest.raises(ValueError, match="does not divide evenly"):
            _pick_devices(devices, 2 * len(devices) + 1)
    assert _pick_devices(None, 8) == ()
    assert _pick_devices(devices[:1], 7) == ()
    with pytest.raises(ValueError, match="'auto'"):
        _pick_devices("gpu", 8)
