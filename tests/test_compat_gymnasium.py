"""The Gymnasium adapters: Gymnasium's checker passes on one world, both adapters replay safejax
step for step (observations, rewards, costs, flags, the same-step autoreset's final observations
and infos), the Safety-Gymnasium 6-tuple, seeds, spaces, errors and registration. PointGoal1
only: each MJX compile costs tens of seconds."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import safejax
from safejax.compat.gymnasium import (
    SafejaxEnv,
    SafejaxVectorEnv,
    key_from_seed,
    register_gymnasium_envs,
)

REGISTERED_ON_IMPORT = [k for k in gymnasium.registry if k.startswith("safejax/")]

NUM = 4
STEPS = 30
EPISODE = 12  # num_steps of the vector worlds, so that episodes end inside the rollout
CLOCKS = (0, 3, 7, 11)  # steps already taken per world: episodes end on different steps
SEED = 5


@pytest.fixture(scope="module")
def vec(envs):
    """One VecEnv for every vector test: adapters over it share its compiled programs."""
    env, _, _ = envs("PointGoal1", num_steps=EPISODE)
    return safejax.VecEnv(env, NUM)


def _stagger(vs: safejax.VecState) -> safejax.VecState:
    """`vs` with the worlds' step counters set to CLOCKS (on the counters' own devices)."""
    step = vs.state.step
    clocks = jax.device_put(jnp.asarray(CLOCKS, step.dtype), step.sharding)
    return vs.replace(state=vs.state.replace(step=clocks))


def test_single_env_passes_gymnasium_checker():
    assert REGISTERED_ON_IMPORT == []
    assert register_gymnasium_envs(["PointGoal1"]) == ["safejax/PointGoal1-v0"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Made through the registry so that the checker also runs its checks that need a spec
        # (seeded resets give equal observations; close twice).
        env = gymnasium.make("safejax/PointGoal1-v0")
        check_env(env.unwrapped)
        env.close()
    assert isinstance(env.unwrapped, SafejaxEnv)
    # The observation box is unbounded by design (Safety Gym's observations have no bounds);
    # the checker warns about infinite bounds and about nothing else.
    messages = [str(w.message) for w in caught]
    unexpected = [m for m in messages if "infinity" not in m]
    assert unexpected == []


def test_single_env_replays_env(envs):
    env, jit_reset, jit_step = envs("PointGoal1")
    genv = SafejaxEnv(env)
    genv6 = SafejaxEnv(env, safety_step=True)
    assert genv.observation_space.shape == (env.observation_size,)
    assert genv.observation_space.dtype == np.float32
    assert np.all(np.isinf(genv.observation_space.low))
    assert genv.action_space.shape == (env.action_size,)
    assert np.all(genv.action_space.low == -1) and np.all(genv.action_space.high == 1)

    obs, info = genv.reset(seed=SEED)
    genv6.reset(seed=SEED)
    state = jit_reset(jax.random.PRNGKey(SEED))
    np.testing.assert_array_equal(obs, np.asarray(state.obs))
    assert obs.dtype == np.float32 and obs.flags.writeable
    assert info["cost"] == 0.0 and set(info) == {"cost", *state.metrics}

    rng = np.random.default_rng(0)
    for _ in range(10):
        action = rng.uniform(-1, 1, env.action_size)
        state = jit_step(state, action.astype(np.float32))
        obs, reward, terminated, truncated, info = genv.step(action)
        obs6, reward6, cost6, terminated6, truncated6, info6 = genv6.step(action)
        np.testing.assert_array_equal(obs, np.asarray(state.obs))
        assert reward == float(state.reward) and type(reward) is float
        assert terminated is bool(state.terminated) and truncated is bool(state.truncated)
        assert info["cost"] == float(state.cost)
        for k, v in state.metrics.items():
            assert info[k] == float(v), k
        np.testing.assert_array_equal(obs6, obs)
        assert (reward6, cost6, terminated6, truncated6) == (
            reward,
            info["cost"],
            terminated,
            truncated,
        )
        assert info6 == info

    # Without a seed, a reset continues from the previous reset's key; a seed restarts.
    obs_next, _ = genv.reset()
    expected = jit_reset(jax.random.fold_in(jax.random.PRNGKey(SEED), 1)).obs
    np.testing.assert_array_equal(obs_next, np.asarray(expected))
    obs_again, _ = genv.reset(seed=SEED)
    np.testing.assert_array_equal(obs_again, np.asarray(jit_reset(jax.random.PRNGKey(SEED)).obs))

    with pytest.raises(ValueError, match=r"shape \(3,\), expected \(2,\)"):
        genv.step(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(1, 2\), expected \(2,\)"):
        genv.step(np.zeros((1, 2)))
    with pytest.raises(RuntimeError, match="reset"):
        SafejaxEnv(env).step(np.zeros(2))
    with pytest.raises(ValueError, match="render_mode"):
        SafejaxEnv(env, render_mode="human")
    with pytest.raises(ValueError, match="options"):
        genv.reset(options={"layout": 1})


def test_vector_env_replays_vecenv(vec):
    plain = SafejaxVectorEnv(vec)
    safety = SafejaxVectorEnv(vec, safety_step=True)
    reset, step = jax.jit(vec.reset), jax.jit(vec.step)

    ref = reset(jax.random.PRNGKey(SEED))
    obs, info = plain.reset(seed=SEED)
    obs6, _ = safety.reset(seed=SEED)
    np.testing.assert_array_equal(obs, np.asarray(ref.obs))
    np.testing.assert_array_equal(obs6, obs)
    assert obs.shape == (NUM, vec.observation_size) and obs.dtype == np.float32
    np.testing.assert_array_equal(info["cost"], np.zeros(NUM, np.float32))
    assert set(info) == {k for name in ("cost", *ref.state.metrics) for k in (name, f"_{name}")}
    ref, plain.state, safety.state = _stagger(ref), _stagger(plain.state), _stagger(safety.state)

    rng = np.random.default_rng(0)
    ends = []
    for _ in range(STEPS):
        actions = rng.uniform(-1, 1, (NUM, vec.action_size)).astype(np.float32)
        ref = step(ref, actions)
        obs, reward, terminated, truncated, info = plain.step(actions)
        obs6, reward6, cost6, terminated6, truncated6, info6 = safety.step(actions)
        s = ref.state
        np.testing.assert_array_equal(obs, np.asarray(s.obs))
        np.testing.assert_array_equal(reward, np.asarray(s.reward))
        np.testing.assert_array_equal(terminated, np.asarray(s.terminated))
        np.testing.assert_array_equal(truncated, np.asarray(s.truncated))
        np.testing.assert_array_equal(info["cost"], np.asarray(s.cost))
        for k, v in s.metrics.items():
            np.testing.assert_array_equal(info[k], np.asarray(v), err_msg=k)
            assert info[f"_{k}"].all()
        six = (obs6, reward6, cost6, terminated6, truncated6)
        for a, b in zip(six, (obs, reward, info["cost"], terminated, truncated), strict=True):
            np.testing.assert_array_equal(a, b)

        done = terminated | truncated
        np.testing.assert_array_equal(done, np.asarray(ref.episode.done))
        ends.append(done)
        if not done.any():
            assert "final_obs" not in info and "final_info" not in info
            np.testing.assert_array_equal(obs, np.asarray(ref.final_obs))
            continue
        # Gymnasium's same-step recipe for the observations the step reached: VecEnv's final_obs.
        np.testing.assert_array_equal(info["_final_obs"], done)
        assert all((o is None) == (not d) for o, d in zip(info["final_obs"], done, strict=True))
        reached = obs.copy()
        reached[done] = np.stack(info["final_obs"][done])
        np.testing.assert_array_equal(reached, np.asarray(ref.final_obs))
        final = info["final_info"]
        np.testing.assert_array_equal(info["_final_info"], done)
        np.testing.assert_array_equal(final["_cost"], done)
        np.testing.assert_array_equal(final["cost"], np.where(done, np.asarray(s.cost), 0))
        np.testing.assert_array_equal(final["episode_return"], np.asarray(ref.episode.done_ret))
        np.testing.assert_array_equal(final["episode_cost"], np.asarray(ref.episode.done_cost))
        np.testing.assert_array_equal(final["episode_length"], np.asarray(ref.episode.done_length))
        assert set(info6["final_info"]) == set(final)

    ends = np.array(ends)
    # Staggered clocks: every world ends an episode every EPISODE steps, each on its own steps.
    expected_ends = [(STEPS + c) // EPISODE for c in CLOCKS]
    np.testing.assert_array_equal(ends.sum(0), expected_ends)
    assert any(0 < e.sum() < NUM for e in ends)

    # Without a seed, a reset continues from the previous reset's key.
    obs, _ = plain.reset()
    expected = reset(jax.random.fold_in(jax.random.PRNGKey(SEED), 1)).obs
    np.testing.assert_array_equal(obs, np.asarray(expected))


def test_vector_env_spaces_and_errors(vec):
    venv = SafejaxVectorEnv(vec)
    size, act = vec.observation_size, vec.action_size
    assert venv.num_envs == NUM and venv.safejax_env is vec.env
    assert venv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert venv.single_observation_space.shape == (size,)
    assert venv.single_observation_space.dtype == np.float32
    assert np.all(np.isinf(venv.single_observation_space.low))
    assert venv.single_action_space.shape == (act,)
    assert np.all(venv.single_action_space.low == -1) and np.all(venv.single_action_space.high == 1)
    assert venv.observation_space.shape == (NUM, size)
    assert venv.action_space.shape == (NUM, act)
    assert venv.action_space.dtype == np.float32

    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros((NUM, act)))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4, 3\), expected \(4, 2\)"):
        venv.step(np.zeros((NUM, act + 1)))
    with pytest.raises(ValueError, match=r"shape \(2,\), expected \(4, 2\)"):
        venv.step(np.zeros(act))
    with pytest.raises(ValueError, match="num_envs 3"):
        SafejaxVectorEnv(vec, num_envs=3)
    with pytest.raises(ValueError, match="only when env is a name"):
        SafejaxVectorEnv(vec.env, NUM, hazards_num=2)
    venv.close()
    assert venv.closed and venv.state is None


def test_seeds():
    np.testing.assert_array_equal(key_from_seed(7), jax.random.PRNGKey(7))
    np.testing.assert_array_equal(key_from_seed(np.int64(2**32 - 1)), jax.random.PRNGKey(2**32 - 1))
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
            key_from_seed(bad)
    for bad in ("3", 1.0, True):
        with pytest.raises(TypeError, match="seed must be an int"):
            key_from_seed(bad)


# Gymnasium's API checker, which `gymnasium.make` wraps around the env, warns about the unbounded
# observation box.
@pytest.mark.filterwarnings("ignore:.*infinity")
def test_registration_builds_both_adapters():
    ids = register_gymnasium_envs()
    assert len(ids) == len(safejax.registered_names()) and "safejax/DoggoPush2-v0" in ids
    assert register_gymnasium_envs(["SafetyPointGoal1-v0"]) == ["safejax/PointGoal1-v0"]
    env = gymnasium.make("safejax/PointGoal1-v0", hazards_num=2)
    assert isinstance(env.unwrapped, SafejaxEnv)
    assert env.unwrapped.safejax_env.config.hazards_num == 2
    venv = gymnasium.make_vec("safejax/PointGoal1-v0", num_envs=2)
    assert isinstance(venv, SafejaxVectorEnv) and venv.num_envs == 2
    assert venv.spec.id == "safejax/PointGoal1-v0"


def test_gymnasium_is_optional(monkeypatch):
    # `import safejax` does not import Gymnasium (a fresh interpreter, to see its modules).
    code = "import sys, safejax; print('gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    # Without Gymnasium, the adapter module says what to install.
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "safejax.compat.gymnasium")
    with pytest.raises(ImportError, match="pip install"):
        importlib.import_module("safejax.compat.gymnasium")
