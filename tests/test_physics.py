"""safejax.physics: the backend contract on a small hand-built scene (cheap to compile).

A sliding sphere robot with an accelerometer, a vase (a box on two slides) and a mocap button,
both touched only by the robot: the same collision classes as a safejax scene.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

import safejax
from safejax import physics
from safejax.elements import buttons
from safejax.elements.contacts import count_contacts
from safejax.physics import arrow
from safejax.physics.linalg import pure_cholesky

SCENE = """
<mujoco>
  <option timestep="0.01"/>
  <worldbody>
    <geom name="floor" type="plane" size="3 3 .1" contype="0" conaffinity="0"/>
    <body name="robot" pos="0 0 .1">
      <joint name="x" type="slide" axis="1 0 0" damping="0.01"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0.01"/>
      <geom name="robot" type="sphere" size=".1" mass="1" contype="2" conaffinity="0"/>
      <site name="robot"/>
    </body>
    <body name="vase" pos="1 0 .1">
      <joint name="vase_x" type="slide" axis="1 0 0"/>
      <joint name="vase_y" type="slide" axis="0 1 0"/>
      <geom name="vase" type="box" size=".1 .1 .1" mass=".1" contype="0" conaffinity="2"/>
    </body>
    <body name="button" mocap="true" pos="0 1 .1">
      <geom name="button" type="sphere" size=".1" contype="0" conaffinity="2"/>
    </body>
  </worldbody>
  <actuator><motor joint="x" gear="1"/><motor joint="y" gear="1"/></actuator>
  <sensor><accelerometer name="accelerometer" site="robot"/></sensor>
</mujoco>
"""
SUBSTEPS = 4


@pytest.fixture(scope="module")
def scene():
    mj_model = mujoco.MjModel.from_xml_string(SCENE)
    config = dataclasses.replace(safejax.config_for("PointGoal1"), substeps=SUBSTEPS)
    robot = mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_BODY, "robot")
    pm = physics.compile(mj_model, config, hub_body=robot)
    names = ("robot", "vase", "button")
    geom = {n: mujoco.mj_name2id(mj_model, mujoco.mjtObj.mjOBJ_GEOM, n) for n in names}
    masks = {n: np.arange(mj_model.ngeom) == g for n, g in geom.items()}
    return pm, geom, masks


def test_compile_prepares_the_substep_model_and_blank_data(scene):
    pm, _, _ = scene
    assert pm.substeps == SUBSTEPS and pm.final_forward
    # Sensors are off in the substeps and on in the final forward.
    assert pm.substep_model.opt.disableflags & mjx.DisableBit.SENSOR
    assert not pm.model.opt.disableflags & mjx.DisableBit.SENSOR
    # The vase would be a block of an arrow around the robot's two slides, but a 4 x 4 matrix
    # gains too little from it (arrow.MAX_COST_RATIO): the factor is dense.
    st = arrow.arrow_structure(pm.mj_model, 1)
    assert st.hub.tolist() == [0, 1] and [b.tolist() for b in st.blocks] == [[[2, 3]]]
    assert pm.arrow is None
    data = physics.reset_data(pm, qpos=jnp.array([0.1, 0.2, 0.0, 0.0]))
    np.testing.assert_allclose(np.asarray(data.qpos), [0.1, 0.2, 0.0, 0.0])
    np.testing.assert_allclose(np.asarray(data.mocap_pos), [[0.0, 1.0, 0.1]])
    state = physics.integration_state(data)
    assert tuple(state) == physics.INTEGRATION_STATE
    assert physics.contact_slots(pm) == physics.contacts(data).dist.shape[0] == 2


def test_step_with_no_hook_is_plain_mjx_stepping(scene):
    """ctrl written, `substeps` MJX steps of the sensor-less model, then one forward of the full
    model (with the same Cholesky factor)."""
    pm, _, _ = scene
    data = physics.reset_data(pm, qpos=jnp.array([0.85, 0.05, 0.0, 0.0]))
    ctrl = jnp.array([1.0, -0.5])
    ours = jax.jit(lambda d: physics.step(pm, d, ctrl))(data)
    with pure_cholesky(pm.arrow):
        mj_step = jax.jit(mjx.step)
        ref = data.replace(ctrl=ctrl)
        for _ in range(SUBSTEPS):
            ref = mj_step(pm.substep_model, ref)
        ref = jax.jit(mjx.forward)(pm.model, ref)
    assert float(ours.time) == pytest.approx(SUBSTEPS * 0.01)
    for field in ("qpos", "qvel", "sensordata", "xpos"):
        np.testing.assert_allclose(
            np.asarray(getattr(ours, field)), np.asarray(getattr(ref, field)), rtol=1e-5, atol=1e-6
        )
    # The robot pushed the vase (they overlap by 5 cm), and the accelerometer reads gravity.
    assert float(ours.qpos[2]) > 0.0
    assert float(ours.sensordata[2]) == pytest.approx(9.81, rel=1e-3)


def test_the_hook_runs_before_every_substep(scene):
    """The callback sees each substep's start time; `substep` runs it once, `step` every time."""
    pm, _, _ = scene

    def hook(d):  # moves the button to x = time, as gremlins follow their paths
        return d.replace(mocap_pos=d.mocap_pos.at[0, 0].set(d.time))

    data = physics.reset_data(pm)
    one = jax.jit(lambda d: physics.substep(pm, d, hook))(data)
    assert float(one.time) == pytest.approx(0.01) and float(one.mocap_pos[0, 0]) == 0.0
    full = jax.jit(lambda d: physics.step(pm, d, jnp.zeros(2), hook))(data)
    assert float(full.mocap_pos[0, 0]) == pytest.approx((SUBSTEPS - 1) * 0.01)


def test_contact_queries_agree_with_what_the_costs_count(scene):
    """Robot 1 cm into the button, 10 cm clear of the vase: one penetrating slot, robot-button,
    and the element counters (vase and gremlin contacts, button contacts) read the same."""
    pm, geom, masks = scene
    qpos = jnp.array([0.0, 1.0 - 0.19, 0.0, 0.0])
    data = jax.jit(lambda d: physics.forward(pm, d))(physics.reset_data(pm, qpos=qpos))
    c = physics.contacts(data)
    assert c.dist.shape == c.geom1.shape == c.geom2.shape == (physics.contact_slots(pm),)
    dist = np.asarray(c.dist)
    pairs = {frozenset((int(a), int(b))) for a, b in zip(c.geom1, c.geom2, strict=True)}
    robot = geom["robot"]
    assert pairs == {frozenset((robot, geom["vase"])), frozenset((robot, geom["button"]))}
    pressing = dist < 0
    assert pressing.sum() == 1
    k = int(np.flatnonzero(pressing)[0])
    assert {int(c.geom1[k]), int(c.geom2[k])} == {geom["robot"], geom["button"]}
    assert dist[k] == pytest.approx(-0.01, abs=1e-5)
    per_geom = physics.robot_contacts(pm, data)
    expect = np.zeros(per_geom.shape)
    expect[geom["button"]] = 1.0
    np.testing.assert_array_equal(np.asarray(per_geom), expect)
    assert float(count_contacts(per_geom, masks["button"])) == 1.0
    assert float(count_contacts(per_geom, masks["vase"])) == 0.0
    counts = buttons.contact_counts(per_geom, np.array([geom["button"]]))
    np.testing.assert_array_equal(np.asarray(counts), [1.0])
