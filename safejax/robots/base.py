"""What a robot contributes to a scene: MJCF (build half) and pose/sensor functions (run half)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax.numpy as jnp

from safejax.types import Array

# The four body sensors every robot carries first, at its `robot` site (spec 8.1).
BODY_SENSOR_XML = """
<accelerometer name="accelerometer" site="robot"/>
<velocimeter name="velocimeter" site="robot"/>
<gyro name="gyro" site="robot"/>
<magnetometer name="magnetometer" site="robot"/>
"""
BODY_SENSOR_NAMES = (("accelerometer", 3), ("velocimeter", 3), ("gyro", 3), ("magnetometer", 3))


@dataclasses.dataclass(frozen=True)
class RobotSpec:
    """A robot, as data.

    Attributes:
      name: "point", "car" or "doggo".
      timestep: physics timestep (s); the env takes `EnvConfig.substeps` of them per step.
      body_xml: the `<body name="robot">` subtree (worldbody fragment).
      native_body_xml: the subtree the MuJoCo backend (`physics="mujoco"`) builds instead: the
        spec's own collision shapes where `body_xml` has MJX proxies; empty: `body_xml`.
      actuator_xml / sensor_xml / default_xml: fragments for `<actuator>`, `<sensor>`, `<default>`.
      sensor_names: observed MuJoCo sensors in observation order, each read whole from
        `sensordata` (accelerometer, velocimeter, ...).
      extra_obs: extra observation blocks computed from `mjx.Data` (name, dim, fn(data) -> (dim,)),
        appended after the MuJoCo sensors (e.g. the Car's caster orientation matrix).
      root: "planar" (slide x, slide y, hinge yaw as the first three qpos) or "free".
      rest_z: height of the robot body at rest (used for free roots).
      floor_contact: whether robot geoms must collide with the floor (wheels, feet).
      solver: MJX solver settings tuned for this robot (iterations, ls_iterations, ...).
      numeric: MJX contact culling defaults for this robot (`max_geom_pairs`,
        `max_contact_points` custom numerics); EnvConfig fields of the same name override them.
    """

    name: str
    timestep: float
    body_xml: str
    actuator_xml: str
    sensor_xml: str
    sensor_names: tuple[tuple[str, int], ...]
    root: str
    rest_z: float
    floor_contact: bool
    default_xml: str = ""
    extra_obs: tuple[tuple[str, int, Callable], ...] = ()
    solver: tuple[tuple[str, str], ...] = ()
    numeric: tuple[tuple[str, int], ...] = ()
    native_body_xml: str = ""

    def body_for(self, physics: str) -> str:
        """The `<body name="robot">` subtree the scene of a physics backend holds."""
        if physics == "mujoco" and self.native_body_xml:
            return self.native_body_xml
        return self.body_xml


def set_root_pose(spec: RobotSpec, qpos: Array, xy: Array, yaw: Array) -> Array:
    """Writes the robot's initial planar position and yaw into qpos (robot joints come first)."""
    if spec.root == "planar":
        return qpos.at[0:3].set(jnp.array([xy[0], xy[1], yaw]))
    if spec.root == "free":
        quat = jnp.array([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])
        pose = jnp.concatenate([xy, jnp.array([spec.rest_z]), quat])
        return qpos.at[0:7].set(pose)
    raise ValueError(f"unknown robot root {spec.root!r}")
