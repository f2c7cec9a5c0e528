"""The brax adapter: brax's env contract under jit and vmap, costs as `Env.step` gives them, no
time limit inside the adapter, fresh layouts on auto-reset, brax's own PPO trains on it, and the
module works without brax."""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safejax.compat import brax as compat
from safejax.env import FLAG_KEYS, cost_keys

NAME = "PointGoal1"
KEY = jax.random.PRNGKey(3)
NUM = 2
METRIC_KEYS = {"cost", *cost_keys(), *FLAG_KEYS}
ACTION = jnp.array([[0.5, -0.3], [-1.0, 0.2]])
needs_brax = pytest.mark.skipif(not compat.BRAX_AVAILABLE, reason="brax is not installed")


@pytest.fixture(scope="module")
def adapter(envs):
    """(BraxEnv over the session's PointGoal1, jit(vmap(reset)), jit(vmap(step)))."""
    env, _, _ = envs(NAME)
    benv = compat.BraxEnv(env)
    return benv, jax.jit(jax.vmap(benv.reset)), jax.jit(jax.vmap(benv.step))


def on_hazard(state):
    """The batched brax state with every world's robot moved onto its first hazard, at rest."""
    s = state.pipeline_state
    xy = s.objects["hazards"][:, 0]
    data = s.data.replace(qpos=s.data.qpos.at[:, 0:2].set(xy), qvel=jnp.zeros_like(s.data.qvel))
    return state.replace(pipeline_state=s.replace(data=data))


def with_wrapper_keys(state):
    """The batched brax state with an info and a metrics key of the kind wrappers add."""
    return state.replace(
        info={**state.info, "steps": jnp.zeros(NUM)},
        metrics={**state.metrics, "extra": jnp.ones(NUM)},
    )


def world(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def check_fields(state, env):
    """Shapes and dtypes of a batched brax State, and cost in both metrics and info."""
    assert state.obs.shape == (NUM, env.observation_size) and state.obs.dtype == jnp.float32
    for x in (state.reward, state.done):
        assert x.shape == (NUM,) and x.dtype == jnp.float32
    assert METRIC_KEYS <= set(state.metrics)
    for k in METRIC_KEYS:
        assert state.metrics[k].shape == (NUM,) and state.metrics[k].dtype == jnp.float32
    np.testing.assert_array_equal(state.info["cost"], state.metrics["cost"])
    assert np.isfinite(np.asarray(state.obs)).all()


def test_interface(adapter):
    benv, _, _ = adapter
    assert benv.observation_size == 60 and benv.action_size == 2
    assert benv.backend == "mjx" and benv.unwrapped is benv
    assert benv.episode_length == 1000 and benv.dt == pytest.approx(0.02)
    assert float(benv.params["num_steps"]) == np.inf
    assert float(benv.safejax_env.params["num_steps"]) == 1000.0  # the Env is left as it was
    if compat.BRAX_AVAILABLE:
        from brax.envs.base import Env, State

        assert isinstance(benv, Env) and compat.State is State
    with pytest.raises(ValueError, match="overrides"):
        compat.BraxEnv(benv.safejax_env, hazards_num=2)


def test_reset_and_step_under_jit_and_vmap(adapter, envs):
    benv, reset, step = adapter
    state = reset(jax.random.split(KEY, NUM))
    check_fields(state, benv)
    np.testing.assert_array_equal(state.done, np.zeros(NUM))
    np.testing.assert_array_equal(state.reward, np.zeros(NUM))
    assert set(state.metrics) == METRIC_KEYS and set(state.info) == {"cost"}
    # Keys that wrappers add to info and metrics travel through a step.
    before = on_hazard(with_wrapper_keys(state))
    state = step(before, ACTION)
    check_fields(state, benv)
    np.testing.assert_array_equal(state.metrics["extra"], np.ones(NUM))
    np.testing.assert_array_equal(state.info["steps"], np.zeros(NUM))
    # On a hazard, Safety Gym's cost is 1, in metrics and info, with the hazards' own cost.
    np.testing.assert_array_equal(state.metrics["cost"], np.ones(NUM))
    np.testing.assert_array_equal(state.metrics["cost_hazards"], np.ones(NUM))
    np.testing.assert_array_equal(state.info["cost"], np.ones(NUM))
    np.testing.assert_array_equal(state.done, np.zeros(NUM))

    # The same state and action through Env.step give the same step, world by world.
    _, _, env_step = envs(NAME)
    for i in range(NUM):
        expected = env_step(world(before.pipeline_state, i), ACTION[i])
        got = world(state, i)
        assert float(got.metrics["cost"]) == float(expected.cost) == 1.0
        assert float(got.info["cost"]) == float(expected.cost)
        for k, v in expected.metrics.items():
            assert float(got.metrics[k]) == float(v), k
        np.testing.assert_allclose(float(got.reward), float(expected.reward), atol=1e-6)
        np.testing.assert_allclose(np.asarray(got.obs), np.asarray(expected.obs), atol=1e-5)
        assert float(got.done) == float(expected.terminated)
        # The whole safejax State is kept in pipeline_state.
        np.testing.assert_allclose(
            np.asarray(got.pipeline_state.data.qpos), np.asarray(expected.data.qpos), atol=1e-6
        )
        assert int(got.pipeline_state.step) == int(expected.step) == 1

    for _ in range(2):
        state = step(state, ACTION)
    assert step._cache_size() == 1 and reset._cache_size() == 1  # no retrace
    np.testing.assert_array_equal(state.pipeline_state.step, np.full(NUM, 3))


def test_no_time_limit_inside_the_adapter(adapter, envs):
    """At safejax's 1000th step Env.step truncates; the adapter's done stays 0 (brax's
    EpisodeWrapper owns episode length and sets `truncation`)."""
    benv, reset, step = adapter
    state = with_wrapper_keys(reset(jax.random.split(KEY, NUM)))
    last = state.pipeline_state.replace(step=jnp.full((NUM,), benv.episode_length - 1, jnp.int32))
    state = step(state.replace(pipeline_state=last), ACTION)
    np.testing.assert_array_equal(state.done, np.zeros(NUM))
    assert not np.asarray(state.pipeline_state.truncated).any()
    np.testing.assert_array_equal(state.pipeline_state.step, np.full(NUM, benv.episode_length))
    assert step._cache_size() == 1  # the same compiled step as for the other tests
    _, _, env_step = envs(NAME)
    assert bool(env_step(world(last, 0), ACTION[0]).truncated)


@needs_brax
def test_layout_reset_wrapper(adapter):
    """brax's EpisodeWrapper ends the episode at its length with `truncation` set; the finished
    worlds restart from a fresh layout, the step keeps its cost, and the step count restarts."""
    benv, _, _ = adapter
    length = 3
    wrapped = compat.wrap_for_training(benv, episode_length=length)
    assert wrapped.unwrapped is benv and wrapped.backend == "mjx"
    assert wrapped.observation_size == benv.observation_size
    reset, step = jax.jit(wrapped.reset), jax.jit(wrapped.step)
    state = on_hazard(reset(jax.random.split(KEY, NUM)))
    first_hazards = np.asarray(state.pipeline_state.objects["hazards"])
    costs = []
    for t in range(1, length + 1):
        state = step(state, ACTION)
        costs.append(np.asarray(state.metrics["cost"]))
        ended = t == length
        np.testing.assert_array_equal(state.done, np.full(NUM, float(ended)))
        np.testing.assert_array_equal(state.info["truncation"], np.full(NUM, float(ended)))
        np.testing.assert_array_equal(state.info["steps"], np.full(NUM, t))
    # The ending step reports its own cost; the episode's cost is the sum of the steps' costs.
    np.testing.assert_array_equal(costs[0], np.ones(NUM))
    np.testing.assert_array_equal(state.info["cost"], costs[-1])
    np.testing.assert_allclose(state.info["episode_metrics"]["cost"], np.sum(costs, axis=0))
    np.testing.assert_array_equal(state.info["episode_metrics"]["length"], np.full(NUM, length))
    # A new layout (brax's own AutoResetWrapper would restore the first one), at step 0, whose
    # first observation is the one returned.
    assert not np.allclose(np.asarray(state.pipeline_state.objects["hazards"]), first_hazards)
    np.testing.assert_array_equal(state.pipeline_state.step, np.zeros(NUM))
    np.testing.assert_array_equal(np.asarray(state.obs), np.asarray(state.pipeline_state.obs))
    state = step(state, ACTION)
    np.testing.assert_array_equal(state.info["steps"], np.ones(NUM))
    np.testing.assert_array_equal(state.done, np.zeros(NUM))
    np.testing.assert_array_equal(state.pipeline_state.step, np.ones(NUM))
    with pytest.raises(ValueError, match="randomization_fn"):
        compat.wrap_for_training(benv, randomization_fn=lambda sys: (sys, None))


@needs_brax
def test_brax_ppo_trains(adapter):
    """brax's own PPO, with its default training wrapper, for a tiny budget: it finishes, reports
    the episode cost among its training metrics, and every metric and parameter is finite."""
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    benv, _, _ = adapter
    had_replicated = hasattr(jax, "device_put_replicated")
    reported = []
    small = functools.partial(
        ppo_networks.make_ppo_networks,
        policy_hidden_layer_sizes=(16,),
        value_hidden_layer_sizes=(16,),
    )
    with compat.jax_compat():
        make_policy, params, metrics = ppo.train(
            benv,
            num_timesteps=800,
            num_envs=4,
            episode_length=50,
            unroll_length=10,
            batch_size=4,
            num_minibatches=2,
            num_updates_per_batch=1,
            num_evals=1,
            run_evals=False,
            num_eval_envs=4,
            log_training_metrics=True,
            network_factory=small,
            progress_fn=lambda step, m: reported.append((step, dict(m))),
        )
    assert hasattr(jax, "device_put_replicated") == had_replicated  # jax_compat undid itself
    assert reported and max(step for step, _ in reported) >= 800
    episode = [m for _, m in reported if "episode/cost" in m]
    assert episode, "no training episode metrics were reported"
    for m in episode:
        assert np.isfinite(m["episode/cost"]) and 0.0 <= m["episode/cost"] <= 50.0
        assert m["episode/length"] == pytest.approx(50.0)
        assert np.isfinite(m["episode/sum_reward"])
    assert any(k.startswith("training/") for k in metrics)
    for k, v in metrics.items():
        assert np.isfinite(np.asarray(v)).all(), k
    for leaf in jax.tree.leaves(params):
        assert np.isfinite(np.asarray(leaf)).all()
    policy = make_policy(params, deterministic=True)
    action, _ = policy(jnp.zeros((1, benv.observation_size)), KEY)
    assert action.shape == (1, benv.action_size) and np.isfinite(np.asarray(action)).all()


def test_jax_compat_replicates_across_devices():
    devices = jax.local_devices()
    tree = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2), jnp.int32)}
    had = hasattr(jax, "device_put_replicated")
    with compat.jax_compat():
        out = jax.device_put_replicated(tree, devices)
    assert hasattr(jax, "device_put_replicated") == had
    assert out["a"].shape == (len(devices), 3) and out["b"].dtype == jnp.int32
    np.testing.assert_array_equal(out["a"], np.tile(np.arange(3.0), (len(devices), 1)))
    assert {s.device for s in out["a"].addressable_shards} == set(devices)


WITHOUT_BRAX = """
import json, sys
sys.modules["brax"] = None  # any import of brax fails
from safejax.compat import brax as compat
env = compat.BraxEnv("PointGoal1")
try:
    compat.wrap_for_training(env)
    error = None
except ImportError as e:
    error = str(e)
print(json.dumps({
    "available": compat.BRAX_AVAILABLE,
    "fields": [f.name for f in __import__("dataclasses").fields(compat.State)],
    "bases": [b.__name__ for b in compat.BraxEnv.__mro__],
    "sizes": [env.observation_size, env.action_size, env.backend],
    "error": error,
}))
"""


def test_module_without_brax():
    """With brax unimportable, the adapter still loads, with a State of brax's fields."""
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_BRAX], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["available"] is False
    fields = ["pipeline_state", "obs", "reward", "done", "metrics", "info"]
    assert got["fields"] == fields
    if compat.BRAX_AVAILABLE:
        assert [f.name for f in dataclasses.fields(compat.State)] == fields
    assert got["bases"] == ["BraxEnv", "object"]
    assert got["sizes"] == [60, 2, "mjx"]
    assert "brax" in got["error"]
