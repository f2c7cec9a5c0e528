"""agents.evaluate: whole-episode rollouts per member, worked by hand on a fixed-layout fake env,
checked against a plain step-by-step loop, and summarized with Student-t intervals."""

from __future__ import annotations

import functools
import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.common.normalization import RunningStats
from agents.evaluate import evaluate, gaussian_act, rollout_episodes, summarize
from safejax.types import State
from tests.fakes import FakeEnv

STATIC = ("env", "act", "episodes", "deterministic")
# scipy.stats.t.ppf(0.975, 2), from a t table: the 95% two-sided quantile for 3 samples.
T975_DF2 = 4.302652729911275


class FixedEnv(FakeEnv):
    """FakeEnv with one hand-placed layout for every reset (the key only feeds `State.key`)."""

    def __init__(self, pos, goal, hazard, **kwargs):
        super().__init__(**kwargs)
        self.layout = tuple(jnp.asarray(v, jnp.float32) for v in (pos, goal, hazard))

    def reset(self, key):
        state = super().reset(key)
        pos, goal, hazard = self.layout
        return state.replace(
            task={"pos": pos, "goal": goal},
            objects={"hazard": hazard},
            obs=self._obs(pos, goal, hazard),
        )


def drive(params, obs, key, deterministic):
    """Constant action params["dir"] (2,) for every world."""
    return jnp.broadcast_to(params["dir"], (obs.shape[0], 2))


def linear_actor(p, obs):
    mean = obs @ p["w"]
    return mean, jnp.broadcast_to(p["log_std"], mean.shape)


def rollout(env, act, params, key, episodes, deterministic=True):
    fn = jax.jit(rollout_episodes, static_argnames=STATIC)
    return jax.device_get(fn(env, act, params, key, episodes, deterministic))


def hand_env(hazard):
    # Start at the origin, goal at (0.9, 0); arena 2.1 so that x = 2.2 (step 11) terminates
    # while x = 2.0 (step 10, float error either way) does not.
    return FixedEnv((0.0, 0.0), (0.9, 0.0), hazard, num_steps=12, arena=2.1, speed=0.2)


def test_shapes_and_keys():
    env = FakeEnv(num_steps=12)
    params = {"dir": jnp.array([[1.0, 0.0], [0.0, 0.5]])}
    out = rollout(env, drive, params, jax.random.key(0), 5)
    assert set(out) == {"return", "cost", "length", "goals_met", "cost_hazards", "terminated"}
    for name, value in out.items():
        assert value.shape == (2, 5), name
    assert out["length"].dtype == np.int32
    assert out["terminated"].dtype == np.bool_
    assert np.all((out["length"] >= 1) & (out["length"] <= 12))


def test_hand_worked_episodes():
    # Driving +x at 0.2 per step: x = 0.2 t. Hazard (radius 0.5) at (0.55, 0): inside for
    # x in (0.05, 1.05), steps 1..5. Goal within 0.2 of (0.9, 0): x = 0.8, 1.0, two steps.
    # x = 2.2 > 2.1 at step 11 terminates; return telescopes to 0.9 - |0.9 - 2.2| = -0.4.
    # Without the mask, step 12 would add -0.2 to the return and 1 to the length.
    env = hand_env((0.55, 0.0))
    params = {"dir": jnp.array([[1.0, 0.0], [0.0, 0.0]])}
    out = rollout(env, drive, params, jax.random.key(3), 3)
    np.testing.assert_allclose(out["return"][0], -0.4, atol=1e-5)
    np.testing.assert_array_equal(out["cost"][0], 5.0)
    np.testing.assert_array_equal(out["cost_hazards"][0], 5.0)
    np.testing.assert_array_equal(out["goals_met"][0], 2.0)
    np.testing.assert_array_equal(out["length"][0], 11)
    np.testing.assert_array_equal(out["terminated"][0], True)
    # Standing still 0.55 from the hazard: no reward, no cost, truncated at the time limit.
    np.testing.assert_array_equal(out["return"][1], 0.0)
    np.testing.assert_array_equal(out["cost"][1], 0.0)
    np.testing.assert_array_equal(out["length"][1], 12)
    np.testing.assert_array_equal(out["terminated"][1], False)

    # Standing still inside a hazard at (0.1, 0): cost on every one of the 12 steps.
    still = rollout(hand_env((0.1, 0.0)), drive, {"dir": jnp.zeros((1, 2))}, jax.random.key(0), 2)
    np.testing.assert_array_equal(still["cost"], 12.0)
    np.testing.assert_array_equal(still["length"], 12)
    (summary,) = summarize(still)
    assert summary["rho_c"]["mean"] == 1.0
    assert summary["J_c"] == {"mean": 12.0, "std": 0.0, "ci95": [12.0, 12.0]}


def _reference(env, direction, key, episodes):
    """Each episode stepped one at a time in Python until it ends."""
    step = jax.jit(env.step)
    k_reset, _ = jax.random.split(key)
    rows = []
    for k in jax.random.split(k_reset, episodes):
        state: State = env.reset(k)
        ret = cost = 0.0
        length = 0
        while True:
            state = step(state, jnp.asarray(direction, jnp.float32))
            ret += float(state.reward)
            cost += float(state.cost)
            length += 1
            if bool(state.terminated) or bool(state.truncated):
                break
        rows.append((ret, cost, length, bool(state.terminated)))
    return np.array(rows, dtype=np.float64).T


def test_matches_step_by_step_loop():
    # Random layouts; at full speed most episodes leave the arena early, at a fifth they run to
    # the time limit: both kinds must report their true length and stop accumulating.
    env = FakeEnv(num_steps=12)
    dirs = [[1.0, 0.3], [0.2, 0.0]]
    key = jax.random.key(7)
    out = rollout(env, drive, {"dir": jnp.array(dirs)}, key, 8)
    assert out["terminated"][0].any() and not out["terminated"][1].any()
    assert (out["length"][0] < 12).any()
    for m, direction in enumerate(dirs):
        ret, cost, length, terminated = _reference(env, direction, key, 8)
        np.testing.assert_allclose(out["return"][m], ret, atol=1e-5)
        np.testing.assert_array_equal(out["cost"][m], cost)
        np.testing.assert_array_equal(out["length"][m], length)
        np.testing.assert_array_equal(out["terminated"][m], terminated.astype(bool))


def test_members_share_episode_keys():
    env = FakeEnv(num_steps=12)
    params = {"dir": jnp.array([[0.5, 0.5], [-0.7, 0.1], [0.5, 0.5]])}
    out = rollout(env, drive, params, jax.random.key(1), 6)
    for name, value in out.items():
        np.testing.assert_array_equal(value[0], value[2], err_msg=name)
    assert not np.array_equal(out["return"][0], out["return"][1])


def _gaussian_params(members):
    # Steers toward the goal (obs[2:4] = goal - pos), at a different gain per member.
    w = jnp.stack([jnp.eye(6, 2, k=-2) * (0.3 + 0.2 * i) for i in range(members)])
    return {
        "actor": {"w": w, "log_std": jnp.zeros((members, 2))},
        "obs_stats": jax.vmap(lambda _: RunningStats.zeros(6))(jnp.arange(members)),
    }


def test_deterministic_ignores_noise():
    env = hand_env((0.55, 0.0))  # the layout does not depend on the key: only the noise can
    act = gaussian_act(linear_actor, obs_clip=10.0, normalize_obs=False)
    params = _gaussian_params(2)
    k1, k2 = jax.random.key(11), jax.random.key(12)
    det1, det2 = (rollout(env, act, params, k, 3, True) for k in (k1, k2))
    for name in det1:
        np.testing.assert_array_equal(det1[name], det2[name], err_msg=name)
    # One layout, no noise: every episode of a member is the same, and the members differ.
    np.testing.assert_array_equal(np.broadcast_to(det1["return"][:, :1], (2, 3)), det1["return"])
    assert det1["return"][0, 0] != det1["return"][1, 0] and det1["return"][0, 0] > 0
    noisy1, noisy2 = (rollout(env, act, params, k, 3, False) for k in (k1, k2))
    assert not np.array_equal(noisy1["return"], noisy2["return"])
    assert not np.array_equal(noisy1["return"], det1["return"])


def test_gaussian_act_normalizes():
    identity = {"w": jnp.eye(6, 2), "log_std": jnp.zeros(2)}
    stats = RunningStats(
        count=jnp.array(4.0), mean=jnp.arange(6.0), m2=4.0 * jnp.full(6, 0.25)
    )  # var 0.25, std 0.5
    obs = jnp.array([[1.0, 1.0, 0, 0, 0, 0], [0.0, 9.0, 0, 0, 0, 0]])
    member = {"actor": identity, "obs_stats": stats}
    key = jax.random.key(0)
    act = gaussian_act(linear_actor, obs_clip=5.0, normalize_obs=True)
    # (obs - mean) / std, then clipped to +-5: [[2, 0], [0, 16 -> 5]].
    np.testing.assert_allclose(act(member, obs, key, True), [[2.0, 0.0], [0.0, 5.0]], rtol=1e-6)
    raw = gaussian_act(linear_actor, obs_clip=5.0, normalize_obs=False)
    np.testing.assert_array_equal(raw({"actor": identity}, obs, key, True), obs[:, :2])
    noisy = raw({"actor": identity}, obs, key, False)
    np.testing.assert_allclose(noisy - obs[:, :2], jax.random.normal(key, (2, 2)), atol=1e-6)


def test_no_retrace_with_new_params():
    traces = []

    def counted(params, obs, key, deterministic):
        traces.append(1)
        return drive(params, obs, key, deterministic)

    env = FakeEnv(num_steps=12)
    fn = jax.jit(chex.assert_max_traces(rollout_episodes, n=1), static_argnames=STATIC)
    a = fn(env, counted, {"dir": jnp.ones((2, 2))}, jax.random.key(0), 4)
    b = fn(env, counted, {"dir": -jnp.ones((2, 2))}, jax.random.key(1), 4)
    assert not np.array_equal(a["return"], b["return"])
    assert len(traces) == 1

    # evaluate compiles on its first call only (same env, act, episodes and shapes).
    _, first = evaluate(env, counted, {"dir": jnp.ones((2, 2))}, jax.random.key(0), episodes=3)
    n = len(traces)
    summaries, timing = evaluate(env, counted, {"dir": jnp.zeros((2, 2))}, jax.random.key(0), 3)
    assert len(traces) == n
    assert set(timing) == {"compile_s", "run_s", "env_steps_per_s"}
    assert len(summaries) == 2
    json.dumps(summaries, allow_nan=False)


def test_summarize_hand_interval():
    stats = {
        "return": np.array([[1.0, 2.0, 4.0]]),
        "cost": np.array([[2.0, 0.0, 4.0]]),
        "length": np.array([[10, 10, 5]], np.int32),
        "cost_hazards": np.array([[2.0, 0.0, 4.0]]),
        "goals_met": np.array([[0.0, 1.0, 1.0]]),
        "terminated": np.array([[False, False, True]]),
    }
    (s,) = summarize(stats)
    mean = 7.0 / 3.0
    std = math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2) / 2.0)
    half = T975_DF2 * std / math.sqrt(3.0)
    assert s["J_r"]["mean"] == pytest.approx(mean)
    assert s["J_r"]["std"] == pytest.approx(std)
    assert s["J_r"]["ci95"] == pytest.approx([mean - half, mean + half])
    lo, hi = s["J_r"]["ci95"]
    assert lo < s["J_r"]["mean"] < hi
    assert s["J_c"]["mean"] == pytest.approx(2.0)
    assert s["costs"]["cost_hazards"]["mean"] == pytest.approx(2.0)
    assert s["goals_met"]["mean"] == pytest.approx(2.0 / 3.0)
    assert s["length"]["mean"] == pytest.approx(25.0 / 3.0)
    # rho_c: 6 cost over 25 steps; interval over the rates 0.2, 0, 0.8.
    assert s["rho_c"]["mean"] == pytest.approx(6.0 / 25.0)
    rate_mean = 1.0 / 3.0
    rate_std = math.sqrt(((0.2 - rate_mean) ** 2 + rate_mean**2 + (0.8 - rate_mean) ** 2) / 2.0)
    rate_half = T975_DF2 * rate_std / math.sqrt(3.0)
    assert s["rho_c"]["ci95"] == pytest.approx([rate_mean - rate_half, rate_mean + rate_half])
    assert s["terminated"] == 1 and s["episodes"] == 3
    assert isinstance(s["terminated"], int) and isinstance(s["J_r"]["mean"], float)
    json.dumps(s, allow_nan=False)


def test_summarize_one_episode_has_no_interval():
    stats = {k: np.array([[3.0], [1.0]]) for k in ("return", "cost", "cost_hazards")}
    stats["length"] = np.array([[12], [12]], np.int32)
    summaries = summarize(stats)
    assert len(summaries) == 2
    for s in summaries:
        assert s["J_r"]["ci95"] is None and s["J_r"]["std"] is None
        assert s["rho_c"]["ci95"] is None
        assert s["costs"]["cost_hazards"]["ci95"] is None
    assert summaries[0]["J_r"]["mean"] == 3.0


@pytest.mark.parametrize("field", ["cost_hazards", "return"])
def test_summarize_rejects_nan(field):
    stats = {k: np.ones((2, 3)) for k in ("return", "cost", "cost_hazards")}
    stats["length"] = np.full((2, 3), 10, np.int32)
    stats[field][1, 2] = np.nan
    with pytest.raises(ValueError, match=rf"member 1.*{field}"):
        summarize(stats)


@functools.cache
def _linear_policy(obs_size, action_size, members):
    w = 0.3 * jax.random.normal(jax.random.key(5), (members, obs_size, action_size))
    return {"w": w}


def linear(params, obs, key, deterministic):
    return jnp.tanh(obs @ params["w"])


def test_real_env_point_goal0(envs):
    env = envs("PointGoal0")[0]
    params = _linear_policy(env.observation_size, env.action_size, 2)
    summaries, timing = evaluate(env, linear, params, jax.random.key(0), episodes=3)
    assert len(summaries) == 2
    for s in summaries:
        assert s["episodes"] == 3
        assert s["length"] == {"mean": 1000.0, "std": 0.0, "ci95": [1000.0, 1000.0]}
        assert s["terminated"] == 0 and s["physics_error"] == 0
        assert set(s["costs"]) >= {"cost_hazards", "cost_vases_contact", "cost_pillars"}
    json.dumps(summaries, allow_nan=False)
    assert timing["run_s"] > 0
