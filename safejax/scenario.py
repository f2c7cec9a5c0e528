"""Hand-placed worlds: put the robot and chosen objects where a scenario needs them.

Used by the fidelity comparisons (`benchmarks.fidelity_table`) and the task tests to stage one
situation (a robot 0.35 m from a button, a box before a pillar) from a normal reset:

    state = place(env, env.reset(key), (0.0, 0.0), yaw=0.0, buttons=xy, gremlins=far)

Groups not named keep their sampled positions, except the hazards, which are moved out of the way
(`FAR`) unless given, so no scenario collects hazard cost it did not ask for.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from safejax.elements import box as push_box
from safejax.robots.base import set_root_pose

FAR = 10.0  # out of everyone's way


def place(env, state, robot_xy, yaw=0.0, box_xy=None, **groups):
    """The robot at rest at `robot_xy`, heading `yaw` (the Point's slide and hinge joints; a
    free-jointed robot, Car or Doggo, upright at its resting height, its other joints as the
    reset left them); optionally the push box (`box_xy`) and any element group moved to the
    given (n, 2) positions: mocap groups (pillars, buttons) directly, gremlins by the centres of
    their circles (their boxes start there), vases by their position coordinates (axis-aligned),
    hazards (analytic) in `State.objects`."""
    xy = jnp.asarray(robot_xy, state.data.qpos.dtype)
    qpos = set_root_pose(env.robot, state.data.qpos, xy, jnp.asarray(yaw, xy.dtype))
    if box_xy is not None:
        qpos = push_box.set_pose(qpos, env.index.task, jnp.asarray(box_xy, jnp.float32), 0.0)
    mocap = state.data.mocap_pos
    objects = dict(state.objects)
    if "hazards" in objects and "hazards" not in groups:
        objects["hazards"] = objects["hazards"] + FAR
    for group, xy in groups.items():
        if group not in env.index.elements:
            raise ValueError(
                f"place: {env.name} has no {group!r}; it has {sorted(env.index.elements)}"
            )
        xy = jnp.asarray(xy, jnp.float32)
        ix = env.index.elements[group]
        if group in objects:
            objects[group] = xy
        if group == "gremlins":
            qpos = qpos.at[ix.qpos[:, :2]].set(xy)
        elif group == "vases":
            qpos = qpos.at[ix.qpos_adr[:, :2]].set(xy)
            # Axis-aligned: the free vase's quaternion, the planar proxy's yaw hinge.
            qpos = qpos.at[ix.quat_adr].set(jnp.array([1.0, 0.0, 0.0, 0.0])).at[ix.yaw_adr].set(0.0)
        elif hasattr(ix, "mocap"):
            mocap = mocap.at[ix.mocap, :2].set(xy)
    data = state.data.replace(qpos=qpos, qvel=jnp.zeros_like(state.data.qvel), mocap_pos=mocap)
    return state.replace(data=data, objects=objects)


def turn_gremlins(env, state, yaw):
    """Every gremlin (its box and the mocap body it is tied to) at yaw `yaw`."""
    ix = env.index.elements["gremlins"]
    quat = jnp.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)], jnp.float32)
    if ix.planar:
        qpos = state.data.qpos.at[ix.qpos[:, 2]].set(yaw)
    else:
        qpos = state.data.qpos.at[ix.qpos[:, 3:]].set(quat)
    mocap_quat = state.data.mocap_quat.at[ix.mocap].set(quat)
    return state.replace(data=state.data.replace(qpos=qpos, mocap_quat=mocap_quat))


def far(n: int) -> np.ndarray:
    """(n, 2) positions out of everyone's way, apart from each other."""
    return np.stack([np.full(n, FAR), np.arange(n, dtype=np.float64)], axis=1)
