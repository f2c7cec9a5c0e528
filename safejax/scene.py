"""Builds the MjModel once per environment, and the static index tables the run half needs.

One scene holds the robot, the task's physics objects (the push box) and every element's bodies
(`Element.xml`). Things that need no contact force (goal, hazards) are not physics bodies at
all: they live in `State` and are handled analytically. Collision filtering keeps MJX's candidate
contact set small:

  robot geoms:   contype=ROBOT, conaffinity=0          (touch objects; no self-collision on
                 MJX; the MuJoCo backend adds SELF to both, so that the robot's own geoms touch
                 as the spec's do, less MuJoCo's parent-child exclusion)
  robot feet:    contype=ROBOT|FLOOR (class robot_floor), or FLOOR only (robot_floor_only)
  robot visuals: contype=0, conaffinity=0 (class robot_visual: mass and looks, no contacts)
  objects:       contype=0,     conaffinity=ROBOT      (touched only by the robot)
  push box:      its geoms are objects; a massless hull: contype=BOX, conaffinity=0
  pillars:       contype=0,     conaffinity=ROBOT|BOX  (touched by the robot and the box hull;
                 MuJoCo backend: also OBJECT, touched by the spec's free box and vases)
  free objects:  contype=OBJECT, conaffinity=ROBOT|OBJECT (MuJoCo backend: the spec's free vases,
                 on a floor of contype OBJECT)
  floor:         conaffinity=FLOOR only for robots that stand on it (Car, Doggo), so that only
                 the geoms a robot stands on (wheels, caster, legs) enter the contact set
  buttons:       contype=0, conaffinity=ROBOT|NOSE (class button)
  Point's nose:  MJX: the spec's box touches only the buttons (class robot_nose: contype NOSE; a
                 cheap box-sphere pair), and an inscribed massless sphere (class robot_nose_proxy:
                 contype PROXY) touches every other object (MJX's box-box contacts cost about
                 twice as much); MuJoCo: the box touches everything and the sphere nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import mujoco
import numpy as np

from safejax import physics
from safejax.config import EnvConfig
from safejax.elements.base import SceneInfo
from safejax.physics.mjx import subtree_geoms
from safejax.robots.base import RobotSpec

ROBOT_BIT = 2
FLOOR_BIT = 4
BOX_BIT = 8
OBJECT_BIT = 16
NOSE_BIT = 32
PROXY_BIT = 64
SELF_BIT = 128


@dataclasses.dataclass(frozen=True)
class SceneIndex:
    """Static ids and addresses into the model, as numpy arrays (constants under jit)."""

    robot_body: int
    robot_geom_mask: np.ndarray  # (ngeom,) bool
    sensor_slices: tuple[tuple[str, int, int], ...]  # (name, adr, dim)
    elements: dict[str, Any]  # group -> what that element's `bind` returned
    task: Any  # what the task's `bind` returned


def build_xml(config: EnvConfig, robot: RobotSpec, task_xml: str = "") -> str:
    """The scene's MJCF; the physics backend contributes the `<custom>` and `<option>` elements
    (timestep, solver settings, contact caps), the task and the elements their bodies."""
    floor_aff = FLOOR_BIT if robot.floor_contact else 0
    objects = "".join(spec.xml_for(config.physics) for spec in config.elements) + task_xml
    top = "".join(spec.model_xml_for(config.physics) for spec in config.elements)
    # The MuJoCo backend's free objects (the spec's vases) rest on the floor and touch each
    # other; MJX's proxies have no floor contact.
    floor_type = OBJECT_BIT if config.physics == "mujoco" else 0
    native = config.physics == "mujoco"
    nose = ROBOT_BIT if native else NOSE_BIT
    proxy = 0 if native else PROXY_BIT
    own = SELF_BIT if native else 0
    dim = config.contact_dim
    classes = "\n    ".join(
        _geom_class(name, contype, conaffinity, None if name == "robot_visual" else dim)
        for name, contype, conaffinity in (
            ("robot", ROBOT_BIT | own, own),
            ("robot_floor", ROBOT_BIT | FLOOR_BIT | own, own),
            ("robot_floor_only", FLOOR_BIT, 0),
            ("robot_nose", nose, 0),
            ("robot_nose_proxy", proxy, 0),
            ("robot_visual", 0, 0),
            ("object", 0, ROBOT_BIT | PROXY_BIT),
            ("button", 0, ROBOT_BIT | NOSE_BIT),
            ("pillar", 0, ROBOT_BIT | BOX_BIT | PROXY_BIT | (OBJECT_BIT if native else 0)),
            ("free_object", OBJECT_BIT, ROBOT_BIT | OBJECT_BIT | PROXY_BIT),
            ("box", BOX_BIT, 0),
        )
    )
    return f"""
<mujoco model="safejax-{robot.name}-{config.task}{config.level}">
  <compiler angle="radian" inertiafromgeom="true"/>
  {physics.mjcf(config, robot)}
  <default>
    {classes}
    {robot.default_xml}
  </default>
  <worldbody>
    <light name="light" pos="0 0 4" dir="0 0 -1"/>
    <geom name="floor" type="plane" size="{config.floor_size} {config.floor_size} .1"
          rgba="1 1 1 1" contype="{floor_type}" conaffinity="{floor_aff}"
          condim="{config.contact_dim}"/>
    {robot.body_for(config.physics)}
    {objects}
  </worldbody>
  {top}
  <actuator>{robot.actuator_xml}</actuator>
  <sensor>{robot.sensor_xml}</sensor>
</mujoco>
"""


def _geom_class(name: str, contype: int, conaffinity: int, condim: int | None) -> str:
    """A `<default>` class of geoms with the given collision bits and contact dimension (None:
    MuJoCo's default)."""
    dim = "" if condim is None else f' condim="{condim}"'
    return (
        f'<default class="{name}"><geom contype="{contype}" conaffinity="{conaffinity}"{dim}/>'
        "</default>"
    )


def build(config: EnvConfig, robot: RobotSpec, task) -> tuple[mujoco.MjModel, SceneIndex, str]:
    """Compiles the scene and collects its index tables (the robot's, each element's from its
    `bind`, the task's from its `bind`). Returns the model, the index and the MJCF."""
    xml = build_xml(config, robot, task.xml())
    model = mujoco.MjModel.from_xml_string(xml)
    robot_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "robot")
    # Robot geoms: every geom of the robot's subtree.
    robot_geom_mask = subtree_geoms(model, robot_body)
    sensor_slices = []
    for name, dim in robot.sensor_names:
        sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SENSOR, name)
        if sid < 0:
            raise ValueError(f"robot {robot.name} has no sensor {name!r}")
        if model.sensor_dim[sid] != dim:
            raise ValueError(f"sensor {name} has dim {model.sensor_dim[sid]}, expected {dim}")
        sensor_slices.append((name, int(model.sensor_adr[sid]), dim))
    info = SceneInfo(robot_geom_mask=robot_geom_mask, physics=config.physics)
    index = SceneIndex(
        robot_body=robot_body,
        robot_geom_mask=robot_geom_mask,
        sensor_slices=tuple(sensor_slices),
        elements={spec.group: spec.bind(model, info) for spec in config.elements},
        task=task.bind(model, info),
    )
    return model, index, xml


def robot_velocity(data, index: SceneIndex):
    """(3,) world-frame linear velocity of the robot's origin: its velocimeter (at the `robot`
    site, which every robot puts at its body's origin with the body's axes) turned into the
    world frame."""
    adr = {name: a for name, a, _ in index.sensor_slices}["velocimeter"]
    return data.xmat[index.robot_body] @ data.sensordata[adr : adr + 3]
