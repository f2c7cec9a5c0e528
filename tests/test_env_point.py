"""PointGoal0-2: the API contract, determinism, costs, scripted goals and robustness."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import safejax
from safejax import scenario

NAMES = ["PointGoal0", "PointGoal1", "PointGoal2"]
OBS_SIZE = {"PointGoal0": 28, "PointGoal1": 60, "PointGoal2": 60}
LIDARS = {
    "PointGoal0": ["goal_lidar"],
    "PointGoal1": ["goal_lidar", "hazards_lidar", "vases_lidar"],
    "PointGoal2": ["goal_lidar", "hazards_lidar", "vases_lidar"],
}
KEY = jax.random.PRNGKey(42)


def place(env, state, robot_xy, yaw=0.0, vases_xy=None):
    """Puts the (planar) robot and the vases at given poses, at rest."""
    qpos = state.data.qpos.at[0:3].set(jnp.array([robot_xy[0], robot_xy[1], yaw]))
    if vases_xy is not None:
        qpos = qpos.at[env.index.elements["vases"].qpos_adr].set(jnp.asarray(vases_xy, jnp.float32))
    data = state.data.replace(qpos=qpos, qvel=jnp.zeros_like(state.data.qvel))
    return state.replace(data=data)


@pytest.mark.parametrize("name", NAMES)
def test_api_contract(envs, name):
    env, reset, step = envs(name)
    assert env.observation_size == OBS_SIZE[name]
    assert env.action_size == 2
    # The layout tiles the observation: sensors first, then the lidars in order.
    spans = list(env.obs_layout.values())
    assert spans[0].start == 0 and spans[-1].stop == env.observation_size
    assert all(a.stop == b.start for a, b in zip(spans, spans[1:], strict=False))
    assert list(env.obs_layout)[:4] == ["accelerometer", "velocimeter", "gyro", "magnetometer"]
    assert list(env.obs_layout)[4:] == LIDARS[name]
    s = reset(KEY)
    assert s.obs.shape == (env.observation_size,) and s.obs.dtype == jnp.float32
    assert np.isfinite(np.asarray(s.obs)).all()
    assert float(s.reward) == 0.0 and float(s.cost) == 0.0
    # Accelerometer at rest reads gravity along +z; magnetometer is the (0, -0.5, 0) field.
    acc = np.asarray(s.obs[env.obs_layout["accelerometer"]])
    np.testing.assert_allclose(acc, [0, 0, 9.81], atol=1e-3)
    mag = np.asarray(s.obs[env.obs_layout["magnetometer"]])
    assert np.linalg.norm(mag) == pytest.approx(0.5, abs=1e-4) and abs(mag[2]) < 1e-5
    for i in range(3):
        s = step(s, jnp.array([0.3 * i, -0.2]))
    assert step._cache_size() == 1 and reset._cache_size() == 1  # no retrace
    assert s.obs.shape == (env.observation_size,)
    assert np.isfinite(np.asarray(s.obs)).all()
    assert int(s.step) == 3
    assert set(s.metrics) >= {
        "cost_hazards",
        "cost_vases_contact",
        "cost_vases_velocity",
        "goal_met",
        "physics_error",
        "nonfinite_action",
    }
    for v in s.metrics.values():
        assert v.shape == () and np.isfinite(float(v))


@pytest.mark.parametrize("name", ["PointGoal1", "PointGoal2"])
def test_vmapped_worlds(name):
    env = safejax.make(name)
    venv = safejax.VecEnv(env, 3)

    @jax.jit
    def run(key):
        vs = venv.reset(key)

        def body(vs, k):
            a = jax.random.uniform(k, (3, 2), minval=-1, maxval=1)
            vs = venv.step(vs, a)
            return vs, (vs.obs, vs.state.reward, vs.state.cost)

        return jax.lax.scan(body, vs, jax.random.split(key, 20))

    vs, (obs, rew, cost) = run(KEY)
    assert obs.shape == (20, 3, env.observation_size)
    assert np.isfinite(np.asarray(obs)).all() and np.isfinite(np.asarray(rew)).all()
    assert set(np.unique(np.asarray(cost))) <= {0.0, 1.0}
    # Worlds differ from each other (independent layouts).
    goals = np.asarray(vs.state.task["goal"])
    assert not np.allclose(goals[0], goals[1])


def test_aliases_and_unknown_names():
    assert safejax.registry.canonical_name("Safexp-PointGoal1-v0") == "PointGoal1"
    assert safejax.registry.canonical_name("SafetyPointGoal1-v0") == "PointGoal1"
    assert safejax.make("SafetyPointGoal1-v0").config == safejax.make("PointGoal1").config
    with pytest.raises(ValueError, match="PointGoal1") as e:
        safejax.make("PointGoal7")
    assert "Valid names" in str(e.value)
    with pytest.raises(ValueError, match="hazards_num"):
        safejax.make("PointGoal1", hazards_numb=3)
    assert set(NAMES) <= set(safejax.registered_names())


def test_determinism_and_fresh_layouts(envs):
    env, reset, step = envs("PointGoal1")
    a = reset(KEY)
    b = reset(KEY)
    actions = jax.random.uniform(KEY, (5, 2), minval=-1, maxval=1)
    for act in actions:
        a, b = step(a, act), step(b, act)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    c = reset(jax.random.PRNGKey(7))
    assert not np.allclose(np.asarray(c.task["goal"]), np.asarray(reset(KEY).task["goal"]))
    assert not np.allclose(np.asarray(c.objects["hazards"]), np.asarray(a.objects["hazards"]))


def test_hazard_cost_in_env(envs):
    env, reset, step = envs("PointGoal1")
    s = reset(KEY)
    h = np.asarray(s.objects["hazards"][0])
    inside = step(place(env, s, h + np.array([0.05, 0.0])), jnp.zeros(2))
    assert float(inside.metrics["cost_hazards"]) == 1.0 and float(inside.cost) == 1.0
    outside = step(place(env, s, np.array([5.0, 5.0])), jnp.zeros(2))
    assert float(outside.metrics["cost_hazards"]) == 0.0 and float(outside.cost) == 0.0


@pytest.mark.parametrize("name,constrained", [("PointGoal2", True), ("PointGoal1", False)])
def test_pushed_vase_costs_only_where_constrained(envs, name, constrained):
    env, reset, step = envs(name)
    s = reset(KEY)
    n = env.config.vases_num
    vases = np.stack([np.full(n, 5.0), np.linspace(-2, 2, n)], axis=1)  # out of the way
    vases[0] = [0.35, 0.0]
    s = place(env, s, np.array([0.0, 0.0]), yaw=0.0, vases_xy=vases)
    s = s.replace(objects={"hazards": s.objects["hazards"] + 10.0})  # no hazard cost here
    contact = velocity = 0.0
    for _ in range(40):
        s = step(s, jnp.array([1.0, 0.0]))
        contact = max(contact, float(s.metrics["cost_vases_contact"]))
        velocity = max(velocity, float(s.metrics["cost_vases_velocity"]))
    vase = np.asarray(s.data.qpos[env.index.elements["vases"].qpos_adr[0]])
    moved = float(np.linalg.norm(vase - [0.35, 0]))
    assert moved > 0.05  # the robot really pushed it
    if constrained:
        assert contact == 1.0 and velocity == 1.0
    else:
        assert contact == 0.0 and velocity == 0.0


def test_vases_start_at_random_yaws(envs):
    """The spec draws every vase's yaw uniformly (spec 7); MJX's planar vases turn on a yaw
    hinge and start at such a yaw, as the MuJoCo backend's free vases do."""
    env, reset, _ = envs("PointGoal2")
    ix = env.index.elements["vases"]
    if ix.free:
        pytest.skip("the free vase's yaws: tests/test_physics_native.py")
    yaws = np.concatenate(
        [np.asarray(reset(jax.random.PRNGKey(seed)).data.qpos[ix.yaw_adr]) for seed in range(4)]
    )
    assert yaws.shape == (40,)
    assert ((yaws >= 0) & (yaws < 2 * np.pi)).all()
    assert len(np.unique(np.round(yaws, 4))) == len(yaws)  # no two alike
    assert yaws.max() - yaws.min() > np.pi  # spread round the circle, not clustered at 0


def test_spinning_vase_stops_as_coulomb_friction_says(envs):
    """A vase left spinning at 2 rad/s on MJX's planar proxy: the floor's friction torque
    decelerates it by 4.0 x 0.7652 x 0.1 / ((2/3) 0.1^2) = 45.9 rad/s^2 (hand-worked from the
    base's mean lever arm and the box's inertia), so it turns w^2 / (2 a) = 0.0436 rad and stops
    after 2 / 45.9 = 0.044 s, then stays at rest (never spun back)."""
    env, reset, step = envs("PointGoal1")
    if env.config.physics != "mjx":
        pytest.skip("the planar proxy is MJX's")
    ix = env.index.elements["vases"]
    s = scenario.place(env, reset(KEY), (0.0, 0.0), vases=[(1.0, 1.0)])
    assert float(s.data.qpos[ix.yaw_adr[0]]) == 0.0
    s = s.replace(data=s.data.replace(qvel=s.data.qvel.at[ix.yaw_dof[0]].set(2.0)))
    yaws = []
    for _ in range(5):  # 0.1 s
        s = step(s, jnp.zeros(2))
        yaws.append(float(s.data.qpos[ix.yaw_adr[0]]))
    assert float(s.data.qvel[ix.yaw_dof[0]]) == 0.0
    assert yaws[-1] == pytest.approx(4 / (2 * 45.9), abs=0.003)  # one 2 ms substep's slack
    assert yaws[2] == yaws[-1]  # at rest from 0.06 s on
    assert yaws[0] < yaws[1] < yaws[2]  # still turning at 0.02 and 0.04 s
    # The vase did not drift: the spin's friction is a torque only.
    np.testing.assert_allclose(np.asarray(s.data.qpos[ix.qpos_adr[0]]), [1.0, 1.0], atol=1e-6)


def test_robustness(envs):
    env, reset, step = envs("PointGoal0")
    s = reset(KEY)
    # Actions are clipped to [-1, 1].
    big = step(s, jnp.array([5.0, -7.0]))
    unit = step(s, jnp.array([1.0, -1.0]))
    np.testing.assert_array_equal(np.asarray(big.obs), np.asarray(unit.obs))
    # A non-finite action becomes zeros and is counted.
    bad = step(s, jnp.array([jnp.nan, 0.5]))
    zero = step(s, jnp.zeros(2))
    np.testing.assert_array_equal(np.asarray(bad.obs), np.asarray(zero.obs))
    assert float(bad.metrics["nonfinite_action"]) == 1.0
    assert float(zero.metrics["nonfinite_action"]) == 0.0
    # A physics step that blows up terminates with a flag and finite outputs.
    broken = s.replace(data=s.data.replace(qvel=jnp.full_like(s.data.qvel, jnp.inf)))
    out = step(broken, jnp.zeros(2))
    assert bool(out.terminated) and not bool(out.truncated)
    assert float(out.metrics["physics_error"]) == 1.0
    assert np.isfinite(np.asarray(out.obs)).all()
    assert np.isfinite(float(out.reward)) and np.isfinite(float(out.cost))
    # A wrong action shape is an error naming the expected shape.
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        env.step(s, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"expected \(4, 2\)"):
        safejax.VecEnv(env, 4).step(None, jnp.zeros((4, 3)))


def _steer_to_goal(state):
    """A scripted controller: turn toward the goal, drive when roughly facing it."""
    pos = state.data.xpos[:, 1]
    mat = state.data.xmat[:, 1]
    goal = state.task["goal"]
    delta = jnp.concatenate([goal - pos[:, :2], jnp.zeros((goal.shape[0], 1))], axis=1)
    ego = jnp.einsum("nij,ni->nj", mat, delta)
    angle = jnp.arctan2(ego[:, 1], ego[:, 0])
    forward = jnp.where(jnp.abs(angle) < 0.5, 1.0, 0.0)
    return jnp.stack([forward, jnp.clip(3.0 * angle, -1.0, 1.0)], axis=1)


def test_scripted_goals_and_auto_reset_contract():
    """1010 steps of 2 PointGoal0 worlds under a goal-seeking controller: several goals per
    episode, truncation (not termination) at 1000, episode stats once, fresh layout after."""
    env = safejax.make("PointGoal0")
    venv = safejax.VecEnv(env, 2)

    @jax.jit
    def run(key):
        vs = venv.reset(key)

        def body(vs, _):
            prev_goal = vs.state.task["goal"]
            vs = venv.step(vs, _steer_to_goal(vs.state))
            out = (
                vs.state.reward,
                vs.state.metrics["goal_met"],
                vs.state.truncated,
                vs.state.terminated,
                vs.episode.done,
                vs.episode.done_ret,
                vs.episode.done_length,
                vs.state.step,
                prev_goal,
                vs.state.task["goal"],
                jnp.abs(vs.final_obs - vs.obs).sum(axis=1),
            )
            return vs, out

        return jax.lax.scan(body, vs, None, length=1010)[1]

    outs = run(KEY)
    rew, met, trunc, term, done, done_ret, done_len, step, prev_goal, goal, obs_gap = map(
        np.asarray, outs
    )
    assert (step[999] == 0).all()  # auto-reset at 1000: the new episode's counter restarted
    assert trunc[999].all() and not term.any()
    assert not trunc[:999].any() and not trunc[1000:].any()
    assert done[999].all() and done.sum() == 2
    np.testing.assert_array_equal(done_len[999], [1000, 1000])
    np.testing.assert_allclose(done_ret[999], rew[:1000].sum(axis=0), rtol=1e-4)
    goals = met[:1000].sum(axis=0)
    assert (goals >= 3).all(), goals  # several goals reached per 1000-step episode
    # Fresh layout after the reset: the goal jumps, and final_obs differs from the reset obs.
    assert not np.allclose(goal[999], prev_goal[999])
    assert (obs_gap[999] > 0).all() and (obs_gap[:999] == 0).all()


def test_arrow_and_dense_factorisations_agree(envs):
    """Pushing a vase (robot-vase contact rows in the Newton Hessian): each step from the same
    state gives the same result with the arrow-structured Cholesky (safejax.physics.linalg) as
    with the dense one. (Whole trajectories drift apart by millimetres after contact onsets, as
    any two float32 roundings of the same physics do.)"""
    env, reset, step = envs("PointGoal2")
    dense = safejax.make("PointGoal2")
    dense.arrow = None
    dense_step = jax.jit(dense.step)
    n = env.config.vases_num
    vases = np.stack([np.full(n, 5.0), np.linspace(-2, 2, n)], axis=1)
    vases[0] = [0.35, 0.0]
    vases[1] = [0.45, 0.25]
    s = place(env, reset(KEY), np.array([0.0, 0.0]), yaw=0.0, vases_xy=vases)
    worst = contacts = 0.0
    for i in range(30):
        a = jnp.array([1.0, 0.4 * np.sin(i / 6)])
        nxt, ref = step(s, a), dense_step(s, a)
        gap = np.abs(np.asarray(nxt.data.qpos) - np.asarray(ref.data.qpos)).max()
        worst = max(worst, float(gap))
        contacts += float(nxt.metrics["cost_vases_contact"])
        s = nxt
    assert contacts >= 2  # the robot was in contact with a vase on some steps
    vase = np.asarray(s.data.qpos[env.index.elements["vases"].qpos_adr[0]])
    assert np.linalg.norm(vase - [0.35, 0.0]) > 0.05
    assert worst < 1e-4
