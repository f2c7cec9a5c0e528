"""The push box: the Push task's object, moved by the robot toward the goal.

Shape (spec section 6.3): a main box of half-extent s plus four corner posts of half-extents
(s/2, s/2, s) at (+-s, +-s), so the footprint is +-1.5 s with a notch at each edge midpoint; the
total mass is box_density x 16 s^3 (1.28e-4 kg for s = 0.2). All five geoms are kept.

Physics proxy (docs/FIDELITY.md, "Push box"): Safety Gym's box is a free body resting on the
floor. Here it slides on the floor plane through slide x, slide y and a yaw hinge, so no
box-floor contact enters MJX's solver; viscous joint damping stands in for floor friction, scaled
with the box's mass (linear) and mass x size^2 (yaw). The rates were fitted in plain MuJoCo
against the free box pushed by the Point robot. The five geoms collide with the robot only; the
pillars meet a massless hull instead, one box of the full +-1.5 s footprint, so that each pillar
adds one box-pillar pair rather than five (a pillar of radius 0.2 could reach at most 2.7 cm
into a notch of the real shape, 1 cm into the Car's smaller box).

The MuJoCo backend builds the spec's box instead (`xml(config, physics="mujoco")`): a free body
resting on the floor, its five geoms colliding with the floor, the robot, the pillars and the
vases, with the engine's friction and no damping.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import mujoco
import numpy as np

from safejax.config import EnvConfig
from safejax.elements.base import yaw_quat
from safejax.types import Array

CORNERS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


@dataclasses.dataclass(frozen=True)
class BoxIndex:
    """Static addresses of the push box (all empty/-1 when the task has no box)."""

    body: int
    qpos_adr: np.ndarray  # (3,) x, y, yaw of the planar proxy; (2,) x, y of the free box
    geom_mask: np.ndarray  # (ngeom,)
    quat_adr: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int32))
    # (4,) the free box's orientation quaternion (MuJoCo backend); empty for the planar proxy


def mass(config: EnvConfig) -> float:
    return config.box_density * 16 * config.box_size**3


def _geoms(s: float, rho: float, cls: str) -> str:
    """The main box and its four corner posts (spec 6.3), of collision class `cls`."""
    posts = "".join(
        f'\n  <geom name="box_col{i + 1}" type="box" pos="{x * s} {y * s} 0" '
        f'size="{s / 2} {s / 2} {s}" density="{rho}" rgba="1 1 0 1" class="{cls}"/>'
        for i, (x, y) in enumerate(CORNERS)
    )
    return (
        f'<geom name="box" type="box" size="{s} {s} {s}" density="{rho}" rgba="1 1 0 1"\n'
        f'        class="{cls}"/>{posts}'
    )


def xml(config: EnvConfig) -> str:
    s, rho = config.box_size, config.box_density
    if config.physics == "mujoco":
        return f"""
<body name="box" pos="0 0 {s}">
  <freejoint name="box"/>
  {_geoms(s, rho, "free_object")}
</body>"""
    damping = config.box_damping_rate * mass(config)
    yaw_damping = config.box_yaw_damping_rate * mass(config) * s**2
    return f"""
<body name="box" pos="0 0 {s}">
  <joint name="box_x" type="slide" axis="1 0 0" damping="{damping}"/>
  <joint name="box_y" type="slide" axis="0 1 0" damping="{damping}"/>
  <joint name="box_yaw" type="hinge" axis="0 0 1" damping="{yaw_damping}"/>
  {_geoms(s, rho, "object")}
  <geom name="box_hull" type="box" size="{1.5 * s} {1.5 * s} {s}" density="0" rgba="0 0 0 0"
        group="3" class="box"/>
</body>"""


def index(model: mujoco.MjModel, present: bool) -> BoxIndex:
    if not present:
        return BoxIndex(body=-1, qpos_adr=np.zeros(0, np.int32), geom_mask=np.zeros(0, bool))
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "box")
    free = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "box")
    if free >= 0:  # the spec's free box: x, y, z, then the quaternion
        adr = int(model.jnt_qposadr[free])
        return BoxIndex(
            body=body,
            qpos_adr=adr + np.arange(2, dtype=np.int32),
            geom_mask=model.geom_bodyid == body,
            quat_adr=adr + 3 + np.arange(4, dtype=np.int32),
        )
    qpos = np.array(
        [
            model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"box_{j}")]
            for j in ("x", "y", "yaw")
        ],
        np.int32,
    )
    return BoxIndex(body=body, qpos_adr=qpos, geom_mask=model.geom_bodyid == body)


def set_pose(qpos: Array, idx: BoxIndex, xy: Array, yaw: Array) -> Array:
    """Writes the box's planar pose into qpos (the free box: its position and a yaw quaternion;
    its height stays the rest height of qpos0)."""
    if idx.quat_adr.size:
        quat = yaw_quat(jnp.asarray(yaw, jnp.float32))
        return qpos.at[idx.qpos_adr].set(jnp.asarray(xy)).at[idx.quat_adr].set(quat)
    return qpos.at[idx.qpos_adr].set(jnp.array([xy[0], xy[1], yaw]))


def position(data, idx: BoxIndex) -> Array:
    """(3,) box centre in the world (z = box_size: Push rewards use 3-D distances)."""
    return data.xpos[idx.body]
