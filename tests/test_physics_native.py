"""The MuJoCo backend (`physics="mujoco"`): same interface as MJX, exact against plain MuJoCo."""

from __future__ import annotations

import copy
import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import safejax
from benchmarks.fidelity_robots import REFERENCE_CAR, REFERENCE_DOGGO
from benchmarks.regression import seek_action
from safejax import physics
from safejax.registry import registered_names

NATIVE = {"physics": "mujoco"}


def _row(data) -> np.ndarray:
    return np.asarray(data.row).view(np.float64)


def test_every_env_has_the_same_layout_on_both_backends():
    """Observation layout, sizes and action size agree for every registered environment (the
    build half only: nothing is compiled by XLA)."""
    for name in registered_names():
        mjx_env = safejax.make(name)
        native = safejax.make(name, **NATIVE)
        assert native.host_physics and not mjx_env.host_physics
        assert native.obs_layout == mjx_env.obs_layout, name
        assert native.observation_size == mjx_env.observation_size, name
        assert native.action_size == mjx_env.action_size, name
        assert native.cost_keys == mjx_env.cost_keys, name


def test_bad_backend_is_named():
    with pytest.raises(ValueError, match="physics must be one of"):
        safejax.make("PointGoal1", physics="warp")


@pytest.mark.parametrize("name", ["PointGoal2", "CarGoal2"])
def test_jit_vmap_equals_a_plain_mj_step_loop(envs, name):
    """Four worlds under jit(vmap(step)) and a Python loop of `mj_step` over the backend's own
    model from the same rows give bit-identical states (float64 rows carried between steps),
    with a scripted robot driving through hazards and ten vases."""
    env, _, _ = envs(name, **NATIVE)
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
    seek = jax.jit(jax.vmap(functools.partial(seek_action, env)))
    state = reset(jax.random.split(jax.random.key(0), 4))
    m = env.physics.model
    datas = []
    for row in _row(state.data):
        d = mujoco.MjData(m)
        mujoco.mj_setState(m, d, row, mujoco.mjtState.mjSTATE_INTEGRATION)
        datas.append(d)
    keys = jax.random.split(jax.random.key(1), 60)
    touched = 0.0
    for t in range(60):
        action = seek(state, jax.random.split(keys[t], 4))
        state = step(state, action)
        touched += float(state.metrics["cost_vases_contact"].sum())
        for i, d in enumerate(datas):
            d.ctrl[:] = np.clip(np.asarray(action[i], np.float64), -1, 1)
            for _ in range(env.physics.substeps):
                mujoco.mj_step(m, d)
            mujoco.mj_forward(m, d)
    rows = _row(state.data)
    for i, d in enumerate(datas):
        expect = np.zeros(rows.shape[1])
        mujoco.mj_getState(m, d, expect, mujoco.mjtState.mjSTATE_INTEGRATION)
        np.testing.assert_array_equal(rows[i], expect)
        np.testing.assert_array_equal(
            np.asarray(state.data.sensordata[i]),
            d.sensordata[: env.physics.nsensordata].astype(np.float32),
        )


def test_a_resting_vase_sleeps_and_a_new_row_wakes_its_world(envs):
    """Sleeping (the default on this backend): after some steps the resting vases sleep; a row
    the world's simulation did not return (here a vase lifted 5 cm) wakes the world first, so
    the lifted vase falls, and the steps equal a plain `mj_step` loop started from that row."""
    env, reset, step = envs("PointGoal2", **NATIVE)
    pm = env.physics
    assert pm.sleep and pm.model.opt.sleep_tolerance == pytest.approx(1e-5)
    state = reset(jax.random.key(3))
    zero = jnp.zeros(env.action_size)
    for _ in range(15):
        state = step(state, zero)
    sim = pm.batch(1, pm.substeps).get_data(0)
    assert sim.ntree_awake == 1  # the robot only: its tree is actuated and never sleeps
    vase_z = int(env.index.elements["vases"].qpos_adr[0, 0]) + 2
    rest = float(state.data.qpos[vase_z])
    lifted = state.replace(data=state.data.replace(qpos=state.data.qpos.at[vase_z].add(0.05)))
    row = _row(lifted.data).copy()
    row[1 + vase_z] = float(np.float32(lifted.data.qpos[vase_z]))  # the written entry
    m = pm.model
    d = mujoco.MjData(m)
    mujoco.mj_setState(m, d, row, mujoco.mjtState.mjSTATE_INTEGRATION)
    state = lifted
    for _ in range(20):
        state = step(state, zero)
        for _ in range(pm.substeps):
            mujoco.mj_step(m, d)
        mujoco.mj_forward(m, d)
    assert float(state.data.qpos[vase_z]) == pytest.approx(rest, abs=2e-3)
    expect = np.zeros(row.shape[0])
    mujoco.mj_getState(m, d, expect, mujoco.mjtState.mjSTATE_INTEGRATION)
    np.testing.assert_array_equal(_row(state.data), expect)


def test_sleep_tolerance_is_checked():
    with pytest.raises(ValueError, match="needs physics='mujoco'"):
        safejax.make("PointGoal1", sleep_tolerance=1e-5)
    with pytest.raises(ValueError, match="sleep_tolerance must be >= 0"):
        safejax.make("PointGoal1", physics="mujoco", sleep_tolerance=-1.0)
    assert not safejax.make("PointGoal1", physics="mujoco", sleep_tolerance=0).physics.sleep


@pytest.mark.parametrize("name", ["CarGoal0", "DoggoGoal0"])
def test_a_scene_with_nothing_but_the_robot_moving_does_not_sleep(name):
    """A scene whose only moving tree is the robot's runs without the sleep flag (an actuated
    tree never sleeps, so the flag is pure bookkeeping), and its steps equal those of the same
    model with the flag on, bit for bit; a scene with a vase keeps it."""
    pm = safejax.make(name, **NATIVE).physics
    assert not pm.sleep
    assert safejax.make(name.replace("0", "1"), **NATIVE).physics.sleep
    sleeping = copy.copy(pm.model)
    sleeping.opt.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    sleeping.opt.sleep_tolerance = physics.native.SLEEP_TOLERANCE
    rng = np.random.default_rng(0)
    d0, d1 = mujoco.MjData(pm.model), mujoco.MjData(sleeping)
    for _ in range(300):
        d0.ctrl[:] = d1.ctrl[:] = rng.uniform(-1, 1, pm.model.nu)
        mujoco.mj_step(pm.model, d0)
        mujoco.mj_step(sleeping, d1)
    np.testing.assert_array_equal(d0.qpos, d1.qpos)
    np.testing.assert_array_equal(d0.qvel, d1.qvel)


def test_gremlins_move_every_substep_as_on_mjx(envs):
    """The gremlins' hook sets their mocap targets before each substep: after a step, both
    backends leave them where the last substep put them (their path at that substep's time)."""
    after = {}
    for backend in ("mjx", "mujoco"):
        env, reset, step = envs("PointButton1", physics=backend)
        state = step(reset(jax.random.key(4)), jnp.zeros(2))
        ids = env.index.elements["gremlins"].mocap
        after[backend] = np.asarray(state.data.mocap_pos[ids])
    assert after["mjx"].shape[0] > 0
    np.testing.assert_allclose(after["mujoco"], after["mjx"], atol=1e-6)


def test_point_trajectory_agrees_with_mjx(envs):
    """Same keys and random actions: the Point's path on the two backends stays within 5 mm over
    100 steps (no contacts in these worlds; the gap is MJX's float32 state against the float64
    one, 1.7 mm at most when measured)."""
    paths = {}
    for backend in ("mjx", "mujoco"):
        env, _, _ = envs("PointGoal1", physics=backend)
        reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
        state = reset(jax.random.split(jax.random.key(1), 8))
        rng = np.random.default_rng(0)
        path = []
        for _ in range(100):
            action = jnp.asarray(rng.uniform(-1, 1, (8, 2)), jnp.float32)
            state = step(state, action)
            path.append(np.asarray(state.data.xpos[:, env.index.robot_body, :2]))
        paths[backend] = np.array(path)
        assert np.isfinite(np.asarray(state.obs)).all()
    gap = np.linalg.norm(paths["mjx"] - paths["mujoco"], axis=-1)
    assert gap.max() < 5e-3, gap.max()
    assert np.abs(paths["mjx"][-1] - paths["mjx"][0]).max() > 0.1  # the robot did move


def test_deterministic_and_costs_register(envs):
    """The same keys and actions give bit-identical runs, and contact costs register: a scripted
    Point driving through PointGoal2 (ten vases) is charged for touching and moving vases."""
    env, _, _ = envs("PointGoal2", **NATIVE)
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    seek = jax.jit(jax.vmap(functools.partial(seek_action, env)))

    def rollout():
        state = reset(jax.random.split(jax.random.key(2), 8))
        total = {k: 0.0 for k in state.metrics}
        for t in range(400):
            keys = jax.random.split(jax.random.fold_in(jax.random.key(3), t), 8)
            state = step(state, seek(state, keys))
            for k, v in state.metrics.items():
                total[k] += float(v.sum())
        return state, total

    a, totals = rollout()
    b, _ = rollout()
    np.testing.assert_array_equal(np.asarray(a.data.row), np.asarray(b.data.row))
    np.testing.assert_array_equal(np.asarray(a.obs), np.asarray(b.obs))
    assert totals["cost_vases_contact"] > 0 and totals["cost_vases_velocity"] > 0, totals


@pytest.mark.parametrize(
    ("name", "reference", "steps", "substeps"),
    [("CarGoal0", REFERENCE_CAR, 250, 10), ("DoggoGoal0", REFERENCE_DOGGO, 300, 2)],
)
def test_the_robot_is_the_spec_model(name, reference, steps, substeps):
    """The backend builds the spec's robot (cylinder wheels and torso, every geom colliding, the
    robot's geoms touching each other), not MJX's proxies: its scene and the plain-MuJoCo model
    written from the spec, started in the same state and driven by the same random controls, step
    to the same state bit for bit."""
    env = safejax.make(name, **NATIVE)
    models = [env.mj_model, mujoco.MjModel.from_xml_string(reference)]
    assert models[0].nq == models[1].nq and models[0].nu == models[1].nu
    controls = np.random.default_rng(0).uniform(-1, 1, (steps, models[0].nu))
    final = []
    for model in models:
        data = mujoco.MjData(model)
        for u in controls:
            data.ctrl[:] = u
            for _ in range(substeps):
                mujoco.mj_step(model, data)
        final.append(np.concatenate([data.qpos, data.qvel]))
    assert np.isfinite(final[0]).all() and np.abs(final[0][:2]).max() > 0.05  # it moved
    np.testing.assert_array_equal(final[0], final[1])


def test_free_vases_and_the_push_box_get_random_yaws(envs):
    """The spec draws every vase's and the push box's yaw uniformly (spec 7); the backend's free
    bodies get them from the layout key, at the sampled positions, resting upright."""
    for name in ("PointGoal2", "PointPush1"):
        env, reset, _ = envs(name, **NATIVE)
        yaws = []
        for seed in range(4):
            state = reset(jax.random.key(seed))
            qpos = np.asarray(state.data.qpos)
            if name == "PointGoal2":
                ix = env.index.elements["vases"]
                quats, z_adr = qpos[ix.quat_adr], ix.qpos_adr[:, 0] + 2
            else:
                ix = env.index.task
                quats, z_adr = qpos[ix.quat_adr][None], ix.qpos_adr[:1] + 2
            # Each body at its rest height, as built.
            np.testing.assert_allclose(qpos[z_adr], env.mj_model.qpos0[z_adr], atol=1e-6)
            # Unit quaternions about z: (cos(yaw / 2), 0, 0, sin(yaw / 2)).
            np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-6)
            np.testing.assert_array_equal(quats[:, 1:3], 0.0)
            yaws.extend(2 * np.arctan2(quats[:, 3], quats[:, 0]))
        yaws = np.mod(yaws, 2 * np.pi)
        assert len(np.unique(np.round(yaws, 4))) == len(yaws), name  # no two alike
        assert yaws.max() - yaws.min() > np.pi / 2, name  # not clustered at 0


def test_robot_contacts_match_mjx_on_one_state():
    """A Point pressed against a pillar: both backends count robot contacts with that pillar's
    geom and no other (MJX counts penetrating contacts; MuJoCo every contact it keeps)."""
    counts = {}
    for backend in ("mjx", "mujoco"):
        env = safejax.make("PointPush2", physics=backend)
        state = jax.jit(env.reset)(jax.random.key(0))
        ix = env.index.elements["pillars"]
        pillar = np.asarray(state.data.mocap_pos[ix.mocap[0], :2])
        qpos = np.asarray(state.data.qpos).copy()
        qpos[:2] = np.asarray(pillar) + np.array([0.28, 0.0])  # radius 0.2 + Point 0.1 - 2 cm
        data = physics.reset_data(
            env.physics,
            qpos=jnp.asarray(qpos),
            mocap_pos=state.data.mocap_pos,
            mocap_quat=state.data.mocap_quat,
        )
        data = jax.jit(lambda d, env=env: physics.forward(env.physics, d))(data)
        counts[backend] = np.asarray(physics.robot_contacts(env.physics, data))
        touched = np.flatnonzero(counts[backend])
        assert touched.size and ix.geom_mask[touched].all(), (backend, touched)
        # By name: the backends' scenes differ in geoms (MJX's box hull, the spec's shapes).
        counts[backend] = {env.mj_model.geom(int(g)).name for g in touched}
    assert counts["mjx"] == counts["mujoco"]


def test_nan_action_and_physics_error_are_flagged(envs):
    env, reset, step = envs("PointGoal1", **NATIVE)
    state = reset(jax.random.key(0))
    nan = step(state, jnp.array([jnp.nan, 0.0]))
    assert float(nan.metrics["nonfinite_action"]) == 1.0
    assert np.isfinite(np.asarray(nan.obs)).all()
    # A world thrown at an absurd speed: MuJoCo rejects the state within the step (a
    # bad-velocity warning, and it resets the world); the env ends the episode with finite
    # observations and the last good state.
    qvel = jnp.full_like(state.data.qvel, 1e12)
    bad = state.replace(data=state.data.replace(qvel=qvel))
    out = step(bad, jnp.zeros(2))
    assert float(out.metrics["physics_error"]) == 1.0
    assert bool(out.terminated)
    assert np.isfinite(np.asarray(out.obs)).all()


def test_a_few_training_updates_run(tmp_path):
    """PPO-Lagrangian trains on the MuJoCo backend through the library API (one device)."""
    import agents

    result = agents.run(
        "PointGoal1",
        "ppo_lag",
        steps=2 * 8 * 8,
        overrides={
            "num_envs": 8,
            "rollout_len": 8,
            "hidden_sizes": [8, 8],
            "pi_iters": 2,
            "vf_iters": 2,
            "vf_minibatches": 2,
        },  # fmt: skip
        env_overrides=NATIVE,
        out_dir=tmp_path / "run",
        eval_episodes=0,
        log=None,
        tensorboard=False,
    )
    assert result.status == 0
    assert result.summary is not None
    assert (tmp_path / "run" / "metrics.csv").exists()


def test_writing_a_state_field_takes_effect(envs):
    """`data.replace(qpos=...)` moves the world on this backend too (the written entries replace
    their row entries; the others keep their float64 values)."""
    env, reset, step = envs("PointGoal1", **NATIVE)
    state = reset(jax.random.key(5))
    qpos = state.data.qpos.at[0].add(1.0)
    moved = step(state.replace(data=state.data.replace(qpos=qpos)), jnp.zeros(2))
    still = step(state, jnp.zeros(2))
    body = env.index.robot_body
    shift = np.asarray(moved.data.xpos[body] - still.data.xpos[body])
    np.testing.assert_allclose(shift, [1.0, 0.0, 0.0], atol=1e-5)
    row_still, row_moved = _row(still.data), _row(moved.data)
    assert row_moved[1] == pytest.approx(row_still[1] + 1.0, abs=1e-5)  # qpos[0] after time


def test_backends_comparison_rows():
    """`benchmarks.fidelity --backends` in small: one row per backend with the same one-step
    gap, a tiny position gap for the Point, and finite statistics."""
    from benchmarks import backends

    rows = backends.compare("PointGoal0", worlds=2, steps=20)
    assert [r["physics"] for r in rows] == list(backends.BACKENDS)
    assert rows[0]["step_pos_gap"] == rows[1]["step_pos_gap"] < 1e-4
    for r in rows:
        assert np.isfinite([r["return"], r["cost"], r["height"], r["travel"]]).all()
        assert r["height"] == pytest.approx(0.1, abs=0.01) and r["flipped"] == 0
    assert "| PointGoal0 | mujoco |" in backends.markdown(rows)
    with pytest.raises(ValueError, match="backend must be one of"):
        backends.compare("PointGoal0", sides=("mjx", "warp"))


def test_sides_compare_settings_of_one_backend():
    """`--sides`: the MuJoCo backend without and with sleeping, as two rows; a Point that starts
    clear of every vase moves the same either way (robots never sleep)."""
    from benchmarks import backends

    sides = ("mujoco:sleep_tolerance=0", "mujoco")
    assert backends.parse_side(sides[0]) == {"physics": "mujoco", "sleep_tolerance": 0}
    rows = backends.compare("PointGoal1", worlds=2, steps=30, sides=sides)
    assert [r["physics"] for r in rows] == list(sides)
    assert rows[0]["step_pos_gap"] == 0.0 and rows[0]["travel"] == rows[1]["travel"]


def test_resetting_only_the_finished_worlds_gives_the_same_worlds():
    """With staggered clocks a few worlds finish in every step; `reset_slots` (the default for
    this backend) resets only them, and the worlds equal those of the full-width reset."""
    settings = {"num_steps": 4, **NATIVE}
    few = safejax.VecEnv(safejax.make("PointGoal1", **settings), 8, devices=None)
    full = safejax.VecEnv(safejax.make("PointGoal1", **settings), 8, devices=None, reset_slots=None)
    assert few.reset_slots == 2 * 2 + 2 and full.reset_slots is None
    runs = []
    for venv in (few, full):
        vs = safejax.stagger_clocks(jax.jit(venv.reset)(jax.random.key(0)), 4)
        step = jax.jit(venv.step)
        ends = []
        for t in range(9):
            action = jax.random.uniform(jax.random.key(t), (8, 2), minval=-1, maxval=1)
            vs = step(vs, action)
            ends.append(int(vs.episode.done.sum()))
        assert ends == [2] * 9  # two worlds finish in every step: the few-worlds path
        runs.append(vs)
    raw = lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x  # noqa: E731
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(raw(a)), np.asarray(raw(b)))
    with pytest.raises(ValueError, match="reset_slots must be"):
        safejax.VecEnv(few.env, 8, reset_slots=0)
