"""Vases: small boxes the robot can push; they cost on contact and while moving (Goal2).

Physics proxy (docs/FIDELITY.md): each vase is a box of the spec's size and mass on two slide
joints (x, y), touched only by the robot, so no vase-floor contact enters MJX's solver. Floor
friction is applied analytically before each substep (`friction`): a Coulomb force of constant
deceleration `vases_friction` against the motion that stops the vase, never reverses it. The vase's
yaw is fixed (axis-aligned), and its contacts with the robot are frictionless (condim 1, by geom
priority): a yaw-locked vase with contact friction is dragged along by a grazing robot where a
real one turns away, and one contact row instead of four makes the solver cheaper.
"""

from __future__ import annotations

import jax.numpy as jnp
import mujoco
import numpy as np

from safejax.config import EnvConfig
from safejax.elements.contacts import count_contacts
from safejax.types import Array


def xml(config: EnvConfig) -> str:
    s = config.vases_size
    out = []
    for i in range(config.vases_num):
        out.append(
            f"""
<body name="vase{i}" pos="0 0 {s - 4e-5}">
  <joint name="vase{i}_x" type="slide" axis="1 0 0" damping="0"/>
  <joint name="vase{i}_y" type="slide" axis="0 1 0" damping="0"/>
  <geom name="vase{i}" type="box" size="{s} {s} {s}" mass="{mass(config)}" rgba="0 1 1 1"
        class="object" condim="1" priority="1"/>
</body>"""
        )
    return "".join(out)


def index(model: mujoco.MjModel, num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(geom mask, qpos addresses (num, 2), dof addresses (num, 2)) of the vases."""
    mask = np.zeros(model.ngeom, bool)
    qpos = np.zeros((num, 2), np.int32)
    dof = np.zeros((num, 2), np.int32)
    for i in range(num):
        mask[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"vase{i}")] = True
        for j, axis in enumerate("xy"):
            jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"vase{i}_{axis}")
            qpos[i, j] = model.jnt_qposadr[jid]
            dof[i, j] = model.jnt_dofadr[jid]
    return mask, qpos, dof


def mass(config: EnvConfig) -> float:
    return config.vases_density * (2 * config.vases_size) ** 3


def friction(data, dof_adr: np.ndarray, vase_mass: float, decel: Array, dt: float):
    """Writes the floor-friction force of every vase into `qfrc_applied` (call before a substep).

    Kinetic friction of magnitude mass * decel opposes the planar velocity; where that would
    reverse the velocity within one substep, the force instead brings the vase exactly to rest
    (static friction). Costs a few elementwise ops instead of a contact per vase.
    """
    if dof_adr.shape[0] == 0:
        return data
    vel = data.qvel[dof_adr]  # (n, 2)
    speed = jnp.linalg.norm(vel, axis=-1, keepdims=True)
    magnitude = jnp.minimum(vase_mass * decel, vase_mass * speed / dt)
    force = -vel / jnp.maximum(speed, 1e-12) * magnitude
    return data.replace(qfrc_applied=data.qfrc_applied.at[dof_adr].set(force))


def positions(data, qpos_adr: np.ndarray) -> Array:
    """(n, 2) current vase xy."""
    return data.qpos[qpos_adr]


def costs(data, idx, params: dict) -> tuple[Array, Array]:
    """(contact cost, velocity cost) before binarisation (spec section 5.1)."""
    contact = params["vases_contact_cost"] * count_contacts(
        data, idx.robot_geom_mask, idx.vase_geom_mask
    )
    vel = data.qvel[idx.vase_dof_adr]  # (n, 2)
    speed = jnp.linalg.norm(vel, axis=-1)
    moving = speed >= params["vases_velocity_threshold"]
    velocity = params["vases_velocity_cost"] * jnp.sum(jnp.where(moving, speed, 0.0))
    return contact, velocity
