"""CarGoal0-2: the API contract, the caster sensors, and differential-drive behaviour."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

import safejax
from benchmarks import fidelity_robots
from safejax.physics.linalg import pure_cholesky
from safejax.robots import car

KEY = jax.random.PRNGKey(3)
OBS_SIZE = {"CarGoal0": 40, "CarGoal1": 72, "CarGoal2": 72}
SENSORS = [
    "accelerometer",
    "velocimeter",
    "gyro",
    "magnetometer",
    "ballangvel_rear",
    "ballquat_rear",
]


@pytest.mark.parametrize("name", list(OBS_SIZE))
def test_sizes_and_aliases(name):
    env = safejax.make(name)  # builds the model; no compile
    assert env.observation_size == OBS_SIZE[name]
    assert env.action_size == 2
    assert list(env.obs_layout)[: len(SENSORS)] == SENSORS
    assert sum(s.stop - s.start for k, s in env.obs_layout.items() if k in SENSORS) == 24
    for alias in (f"Safexp-{name}-v0", f"Safety{name}-v0"):
        assert safejax.registry.canonical_name(alias) == name
    # Spec 9.2: nq 13, nv 11, mass 0.0304 kg, timestep 0.004 (control period 0.04 s).
    m = env.mj_model
    # Each MJX vase adds three joints (slide x, slide y, yaw hinge) of one coordinate each.
    assert (m.nq - 3 * env.config.vases_num, m.nv - 3 * env.config.vases_num) == (13, 11)
    assert m.body_subtreemass[env.index.robot_body] == pytest.approx(0.03044, abs=1e-5)
    assert m.opt.timestep == 0.004
    rear = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "rear")
    assert m.jnt_qposadr[rear] == car.BALL_QPOS.start


def test_api_contract(envs):
    env, reset, step = envs("CarGoal1")
    s = reset(KEY)
    assert s.obs.shape == (72,) and s.obs.dtype == jnp.float32
    assert np.isfinite(np.asarray(s.obs)).all()
    assert list(env.obs_layout)[len(SENSORS) :] == ["goal_lidar", "hazards_lidar", "vases_lidar"]
    # The caster starts unrotated: its orientation matrix is the identity.
    quat = np.asarray(s.obs[env.obs_layout["ballquat_rear"]])
    np.testing.assert_allclose(quat, np.eye(3).ravel(), atol=1e-6)
    mag = np.asarray(s.obs[env.obs_layout["magnetometer"]])
    assert np.linalg.norm(mag) == pytest.approx(0.5, abs=1e-4)
    for i in range(3):
        s = step(s, jnp.array([0.5 - 0.4 * i, 0.3]))
    assert step._cache_size() == 1 and reset._cache_size() == 1
    assert np.isfinite(np.asarray(s.obs)).all() and int(s.step) == 3
    for v in s.metrics.values():
        assert v.shape == () and np.isfinite(float(v))
    # ballquat_rear is the row-major rotation matrix of the caster's (normalised) quaternion.
    q = np.asarray(s.data.qpos[car.BALL_QPOS], np.float64)
    expect = np.zeros(9)
    mujoco.mju_quat2Mat(expect, q / np.linalg.norm(q))
    np.testing.assert_allclose(
        np.asarray(s.obs[env.obs_layout["ballquat_rear"]]), expect, atol=1e-5
    )
    # Determinism: the same key and actions give the same observation.
    a, b = reset(KEY), reset(KEY)
    for act in (jnp.array([1.0, -0.2]), jnp.array([0.1, 0.9])):
        a, b = step(a, act), step(b, act)
    np.testing.assert_array_equal(np.asarray(a.obs), np.asarray(b.obs))


def _drive(envs, action, steps=50):
    """Drives the car from rest at (4, 4) with yaw 0 (away from every object) for `steps`."""
    env, reset, step = envs("CarGoal1")
    s = reset(KEY)
    qpos = s.data.qpos.at[0:7].set(jnp.array([4.0, 4.0, 0.1, 1.0, 0.0, 0.0, 0.0]))
    s = s.replace(data=s.data.replace(qpos=qpos, qvel=jnp.zeros_like(s.data.qvel)))
    poses = []
    for _ in range(steps):
        s = step(s, jnp.asarray(action, jnp.float32))
        poses.append(np.asarray(s.data.qpos[0:7]))
    poses = np.array(poses)
    yaw = np.unwrap(2 * np.arctan2(poses[:, 6], poses[:, 3]))
    return poses[:, :3] - np.array([4.0, 4.0, 0.0]), yaw, s


def test_equal_torques_drive_straight_along_forward_axis(envs):
    # 50 steps = 2 s. Spec 9.2: the wheels sit at +y, so equal torques drive along body -y (the
    # front bumper). Plain MuJoCo on the spec's model reaches 0.75 m/s (docs/FIDELITY.md).
    disp, yaw, s = _drive(envs, [1.0, 1.0])
    assert disp[-1, 1] < -1.2  # about 1.4 m forward
    assert abs(disp[-1, 0]) < 0.05 and abs(yaw[-1]) < 0.05  # straight
    speed = np.linalg.norm(disp[-1, :2] - disp[24, :2]) / (25 * 0.04)
    assert 0.6 < speed < 0.9
    assert abs(disp[-1, 2] - 0.1) < 0.005  # still on its wheels (chassis centre at z 0.1)
    back, _, _ = _drive(envs, [-1.0, -1.0])
    assert back[-1, 1] > 1.2


def test_opposite_torques_turn_in_place(envs):
    disp, yaw, s = _drive(envs, [1.0, -1.0])
    rate = (yaw[-1] - yaw[24]) / (25 * 0.04)
    assert 0.9 < rate < 1.6  # plain MuJoCo on the spec's model: 1.32 rad/s
    assert np.linalg.norm(disp[-1, :2]) < 0.15  # pivots about the axle centre
    gyro = np.asarray(s.obs[s_layout(envs)["gyro"]])
    assert gyro[2] == pytest.approx(rate, rel=0.3)  # the gyro sees the yaw rate
    other, yaw2, _ = _drive(envs, [-1.0, 1.0])
    assert (yaw2[-1] - yaw2[24]) / (25 * 0.04) == pytest.approx(-rate, rel=0.1)


@pytest.mark.parametrize("scenario", sorted(fidelity_robots.CAR_SCENARIOS))
def test_speeds_within_2_percent_of_plain_mujoco(envs, scenario):
    """Fixed wheel torques for 10 s from rest; mean path speed (turning in place: yaw rate) from
    2 s on, against plain MuJoCo on the spec's model (cylinder wheels, condim 6, default solver)
    computed here (`benchmarks.fidelity_robots`)."""
    env, reset, step = envs("CarGoal1")
    action = fidelity_robots.CAR_SCENARIOS[scenario]
    ours = fidelity_robots.car_safejax(env, reset, step, action)
    reference = fidelity_robots.car_reference(action)
    if action[0] == action[1]:
        assert ours["speed"] == pytest.approx(reference["speed"], rel=0.02), (ours, reference)
    else:
        # Turning in place is 2.2-2.5% fast on MJX (CarGoal0 and CarGoal1 alike, mean over 16
        # caster orientations): a known deviation (docs/FIDELITY.md, "Car").
        assert ours["yaw_rate"] == pytest.approx(reference["yaw_rate"], rel=0.04), (ours, reference)


def s_layout(envs):
    return envs("CarGoal1")[0].obs_layout


def test_push_contact_cap_keeps_every_penetrating_contact():
    """CarPush keeps only the 20 deepest of MJX's 29 contact slots (configs/suite.yaml). Only
    penetrating contacts carry force, so while at most 20 penetrate, a capped physics step must
    equal the uncapped model's. Checked with the car's front bumper pressed into the notch of the
    push box and the box pressed into a pillar: 11 contacts penetrate, 18 do not, and the cap
    must drop only the latter."""
    capped = safejax.make("CarPush2")
    uncapped = safejax.make("CarPush2", max_contact_points=-1)
    assert capped.physics.data0._impl.contact.dist.shape == (20,)
    assert uncapped.physics.data0._impl.contact.dist.shape == (29,)
    idx = capped.index
    # Car at the origin facing -y, 1 mm into the floor; its front bumper's face (y = -0.175)
    # 5 mm into the notch bottom of the box (centre y - 0.125); a pillar (radius 0.2) 5 mm
    # into the far side of the box's hull (centre y - 0.1875).
    box_y = -0.175 - 0.125 + 0.005
    qpos = capped.physics.data0.qpos.at[0:3].set(jnp.array([0.0, 0.0, 0.099]))
    pillars = idx.elements["pillars"].mocap
    qpos = qpos.at[idx.task.qpos_adr].set(jnp.array([0.0, box_y, 0.0]))
    mocap = capped.physics.data0.mocap_pos.at[pillars, :2].set(10.0)
    mocap = mocap.at[pillars[0], :2].set(jnp.array([0.0, box_y - 0.1875 - 0.195]))
    ctrl = jnp.array([1.0, 1.0])
    with pure_cholesky(capped.arrow):
        results = []
        for env in (capped, uncapped):
            d = env.physics.data0.replace(qpos=qpos, mocap_pos=mocap, ctrl=ctrl)
            results.append(jax.jit(lambda d, m=env.physics.substep_model: mjx.step(m, d))(d))
    a, b = results
    pressing = int((b._impl.contact.dist < 0).sum())
    assert pressing == 5 + 4 + 2, pressing  # floor, bumper-box (a face), hull-pillar
    assert int((a._impl.contact.dist < 0).sum()) == pressing
    np.testing.assert_allclose(np.asarray(a.qacc), np.asarray(b.qacc), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(a.qpos), np.asarray(b.qpos), atol=1e-7)
    # The contacts carry force (the car weighs 0.3 N), the same in total in both models.
    force_a, force_b = (float(jnp.abs(x._impl.efc_force).sum()) for x in (a, b))
    assert force_b > 0.1
    assert force_a == pytest.approx(force_b, rel=1e-4)
