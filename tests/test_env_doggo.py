"""DoggoGoal0-2: the API contract, joint and touch observations, and walking under random
actions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import safejax
from benchmarks import fidelity_robots
from safejax.robots import doggo

KEY = jax.random.PRNGKey(5)
OBS_SIZE = {"DoggoGoal0": 72, "DoggoGoal1": 104, "DoggoGoal2": 104}
SENSORS = ["accelerometer", "velocimeter", "gyro", "magnetometer", "touch", "jointvel", "jointpos"]


@pytest.mark.parametrize("name", list(OBS_SIZE))
def test_sizes_and_aliases(name):
    env = safejax.make(name)  # builds the model; no compile
    assert env.observation_size == OBS_SIZE[name]
    assert env.action_size == 12
    assert list(env.obs_layout)[: len(SENSORS)] == SENSORS
    assert env.obs_layout["jointpos"].stop == 56  # 12 + 8 + 12 + 24 sensor values
    for alias in (f"Safexp-{name}-v0", f"Safety{name}-v0"):
        assert safejax.registry.canonical_name(alias) == name
    m = env.mj_model
    nvase = env.config.vases_num
    # Spec 9.4; each MJX vase adds three joints (slide x, slide y, yaw hinge).
    assert (m.nq - 3 * nvase, m.nv - 3 * nvase, m.nu) == (20, 19, 12)
    assert m.body_subtreemass[env.index.robot_body] == pytest.approx(0.03968, abs=1e-5)
    assert m.opt.timestep == 0.01


def test_joint_tables_match_the_model():
    m = safejax.make("DoggoGoal0").mj_model
    names = [f"hip_{i}_z" for i in range(1, 5)] + [f"hip_{i}_y" for i in range(1, 5)]
    names += [f"ankle_{i}" for i in range(1, 5)]
    jid = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in names]
    np.testing.assert_array_equal(m.jnt_qposadr[jid], doggo.HINGE_QPOS)
    np.testing.assert_array_equal(m.jnt_dofadr[jid], doggo.HINGE_DOF)
    np.testing.assert_array_equal(m.actuator_trnid[:, 0], jid)  # action i drives joint i
    touch = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, n) for n in doggo.TOUCH_NAMES]
    np.testing.assert_array_equal(m.sensor_adr[touch], np.arange(12, 20))
    # Spring references in radians (spec: -10 deg front hip_y, -20 deg ankles).
    np.testing.assert_allclose(m.qpos_spring[doggo.HINGE_QPOS[4]], np.radians(-10), atol=1e-9)
    np.testing.assert_allclose(m.qpos_spring[doggo.HINGE_QPOS[8:]], np.radians(-20), atol=1e-9)


def test_api_contract(envs):
    env, reset, step = envs("DoggoGoal1")
    s = reset(KEY)
    assert s.obs.shape == (104,) and s.obs.dtype == jnp.float32
    assert np.isfinite(np.asarray(s.obs)).all()
    assert list(env.obs_layout)[len(SENSORS) :] == ["goal_lidar", "hazards_lidar", "vases_lidar"]
    # Joints start at qpos0 = 0: (sin, cos) = (0, 1) per joint, interleaved.
    jp = np.asarray(s.obs[env.obs_layout["jointpos"]]).reshape(12, 2)
    np.testing.assert_allclose(jp, np.tile([0.0, 1.0], (12, 1)), atol=1e-6)
    for i in range(3):
        s = step(s, jnp.full((12,), 0.3 * i - 0.3))
    assert step._cache_size() == 1 and reset._cache_size() == 1
    assert np.isfinite(np.asarray(s.obs)).all() and int(s.step) == 3
    q = np.asarray(s.data.qpos[doggo.HINGE_QPOS])
    jp = np.asarray(s.obs[env.obs_layout["jointpos"]]).reshape(12, 2)
    np.testing.assert_allclose(jp, np.stack([np.sin(q), np.cos(q)], 1), atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(s.obs[env.obs_layout["jointvel"]]),
        np.asarray(s.data.qvel[doggo.HINGE_DOF]),
        atol=1e-5,
    )


def test_random_actions_walk_and_stay_upright(envs):
    """1000 steps (100 s) of uniform random actions from six resets: the torso stays finite and
    above the floor in every episode; in most it stays in the standing height band and travels.
    Plain MuJoCo on the spec's model, 100 episodes: torso height mean 0.167 m, net travel mean
    3.6 m, 5 of 100 upside down at the end (docs/FIDELITY.md, "Doggo robot"); so up to two of six
    may leave the band. The random walk's statistics against the reference over 64 episodes are
    the fidelity table's "doggo" rows (tests/test_fidelity_table.py)."""
    env, reset, step = envs("DoggoGoal1")
    upright, travels = [], []
    for seed in range(6):
        key = jax.random.PRNGKey(seed)
        s = reset(key)
        actions = np.asarray(jax.random.uniform(key, (1000, 12), minval=-1.0, maxval=1.0))
        xyz = np.zeros((1001, 3))
        xyz[0] = np.asarray(s.data.xpos[1])
        for t in range(1000):
            s = step(s, actions[t])
            xyz[t + 1] = np.asarray(s.data.xpos[1])
        assert np.isfinite(np.asarray(s.obs)).all() and np.isfinite(xyz).all()
        assert float(s.metrics["physics_error"]) == 0.0
        z = xyz[1:, 2]
        assert 0.05 < z.min() and z.max() < 0.3, (seed, z.min(), z.max())
        if 0.13 < z.mean() < 0.2:
            upright.append(seed)
            path = np.linalg.norm(np.diff(xyz[:, :2], axis=0), axis=1).sum()
            travel = np.linalg.norm(xyz[-1, :2] - xyz[0, :2])
            assert path > 10.0, (seed, path)
            travels.append(travel)
    assert len(upright) >= 4, upright
    # Net travel is a random walk's: one episode may end near its start (seed 2 covers a 23.5 m
    # path and ends 0.49 m away), so the mean over the upright episodes is what must be clear.
    assert np.mean(travels) > 1.0, travels


def test_touch_on_the_floor_and_in_the_air(envs):
    env, reset, step = envs("DoggoGoal1")
    s = reset(KEY)
    for _ in range(20):  # settle onto its feet under zero action
        s = step(s, jnp.zeros(12))
    touch = np.asarray(s.obs[env.obs_layout["touch"]])
    feet, knees = touch[1::2], touch[0::2]
    assert (feet > 0.01).all(), touch  # the four feet carry the weight
    weight = env.mj_model.body_subtreemass[1] * 9.81
    assert feet.sum() == pytest.approx(weight, rel=0.2)
    assert (knees == 0).all()
    # MJX's touch sensor equals plain MuJoCo's on the same model and state.
    m = env.mj_model
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = np.asarray(s.data.qpos), np.asarray(s.data.qvel)
    mujoco.mj_forward(m, d)
    np.testing.assert_allclose(touch, d.sensordata[12:20], rtol=0.05, atol=2e-3)
    # Lifted 1 m into the air: no contact, every reading zero.
    qpos = s.data.qpos.at[2].add(1.0)
    up = step(s.replace(data=s.data.replace(qpos=qpos)), jnp.zeros(12))
    np.testing.assert_array_equal(np.asarray(up.obs[env.obs_layout["touch"]]), np.zeros(8))


def test_random_walk_command_refuses_a_world_without_the_doggo(capsys):
    """`python -m benchmarks.fidelity_robots --doggo-env` takes Doggo worlds only, and says which
    before compiling anything."""
    with pytest.raises(SystemExit):
        fidelity_robots.main(["--robot", "doggo", "--doggo-env", "PointGoal1"])
    err = capsys.readouterr().err
    assert "'PointGoal1' is not a Doggo environment" in err and "DoggoButton1" in err


def test_reference_random_walk_steps_as_a_plain_loop():
    """The reference episodes run through `mujoco.rollout` on several threads; each must be the
    episode a plain `mj_step` loop with the same seed gives (controls held for 10 substeps,
    statistics read after each env step)."""
    steps = 60
    fast = fidelity_robots.doggo_reference_episodes(3, steps=steps, threads=2)
    model = mujoco.MjModel.from_xml_string(fidelity_robots.REFERENCE_DOGGO)
    for seed in range(3):
        data = mujoco.MjData(model)
        rng = np.random.default_rng(seed)
        z, touch = [], []
        for _ in range(steps):
            data.ctrl[:] = rng.uniform(-1, 1, model.nu)
            for _ in range(10):
                mujoco.mj_step(model, data)
            z.append(data.qpos[2])
            touch.append(data.sensordata.copy())
        touch = np.array(touch)
        mujoco.mj_kinematics(model, data)
        assert fast["z"][seed] == np.mean(z)
        assert fast["z_min"][seed] == np.min(z)
        assert fast["travel"][seed] == np.linalg.norm(data.qpos[:2])
        assert fast["foot"][seed] == (touch[:, 1::2] > 0).mean()
        assert fast["knee"][seed] == (touch[:, 0::2] > 0).mean()
        assert fast["flipped"][seed] == float(data.xmat[1][8] < 0)
    # Random actions move the robot: the episodes differ from each other.
    assert len(set(fast["travel"])) == 3
