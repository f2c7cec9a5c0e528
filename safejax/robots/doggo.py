"""Doggo: a 12-actuator quadruped with a two-part torso and a passive waist (spec 9.3).

Physical parameters follow Safety Gym's doggo.xml (MuJoCo 2.0, angles in degrees there, radians
here): timestep 0.01, free root at z 0.22, limited hinges with joint springs (stiffness 0.01)
toward the listed spring references, no damping or armature, capsules of radius 0.032 and
density 5, torso cylinders of radius 0.075 and density 0.5 (total mass 0.0397 kg), motors of
gear 0.0125 without force limits. Legs 1 (front left) and 4 (front right) hang from the front
torso; legs 2 (rear left) and 3 (rear right) from the rear half, which turns about the passive
`waist_x` hinge. Forward is body +x.

Observation (Safety-Gymnasium's insertion order): accelerometer, velocimeter, gyro,
magnetometer, the 8 touch sensors (knee `a`, foot `b`, legs 1-4), joint velocities (12) and
joint positions as interleaved (sin, cos) pairs (24), each in actuator order (hip_z 1-4,
hip_y 1-4, ankle 1-4); the waist is unobserved.

Collision proxies (docs/FIDELITY.md, "Doggo"): the torso cylinders keep mass and inertia but
collide through capsules of the same radius spanning the same length (MJX has no cylinder-box
collision); every leg capsule is the spec's own. Contact culling limits the candidates MJX
carries (`max_contact_points`, `max_geom_pairs`). The MuJoCo backend builds the spec's torso
cylinders (`native_body_xml`) and lets the robot's geoms touch each other (scene.py).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from safejax.robots.base import BODY_SENSOR_NAMES, BODY_SENSOR_XML, RobotSpec
from safejax.types import Array

LEG_RADIUS = 0.032
TORSO_RADIUS = 0.075
# (leg, front?, sigma): 1 front-left, 4 front-right on the torso; 2 rear-left, 3 rear-right on
# the rear half. Body order in the XML (and so qpos order) is 1, 4, rear(waist), 2, 3.
LEGS = {1: (True, 1), 2: (False, 1), 3: (False, -1), 4: (True, -1)}
_BODY_ORDER = (1, 4, "waist", 2, 3)


def _deg(x: float) -> float:
    return math.radians(x)


def _joint(name: str, axis: str, lo: float, hi: float, ref: float, native: bool = False) -> str:
    # Nine digits are float32-exact for MJX; the MuJoCo backend writes every digit, so that its
    # float64 model is the spec's (whose angles MuJoCo converts from degrees) to the last bit.
    fmt = ".17g" if native else ".9g"
    lo, hi, ref = (format(_deg(v), fmt) for v in (lo, hi, ref))
    return (
        f'<joint name="{name}" type="hinge" axis="{axis}" limited="true" '
        f'range="{lo} {hi}" springref="{ref}" stiffness="0.01"/>'
    )


def _capsule(name: str, fromto: tuple[float, ...], cls: str) -> str:
    ft = " ".join(f"{v:.9g}" for v in fromto)
    return (
        f'<geom name="{name}" type="capsule" fromto="{ft}" size="{LEG_RADIUS}" density="5" '
        f'class="{cls}"/>'
    )


def _leg(i: int, classes: dict[str, str], native: bool = False) -> str:
    front, s = LEGS[i]
    sx = 1.0 if front else -1.0
    hip_y = (-75.0, 15.0, -10.0) if front else (0.0, 135.0, 0.0)
    thigh = (0.098, s * 0.0566, -0.05)
    shank = (-0.1176, -s * 0.0679, -0.1)
    return f"""
  {_capsule(f"aux_{i}", (sx * 0.1, 0, 0, sx * 0.2, s * 0.1, 0), classes["aux"])}
  <body name="hip_{i}" pos="{sx * 0.2} {s * 0.1} 0">
    {_joint(f"hip_{i}_z", f"0 0 {s}", -10, 30, 0, native)}
    {_joint(f"hip_{i}_y", "0 1 0", *hip_y, native)}
    {_capsule(f"thigh_{i}", (0, 0, 0, *thigh), classes["thigh"])}
    <body name="shank_{i}" pos="{thigh[0]} {thigh[1]} {thigh[2]}">
      {_joint(f"ankle_{i}", f"{-s * 0.5} 0.866 0", -75, 0, -20, native)}
      {_capsule(f"shank_{i}", (0, 0, 0, *shank), classes["shank"])}
      <site name="ankle_{i}a" pos="0 0 0" size="0.036" rgba="0 0 0 0"/>
      <site name="ankle_{i}b" pos="{shank[0]} {shank[1]} {shank[2]}" size="0.036" rgba="0 0 0 0"/>
    </body>
  </body>"""


def _torso(name: str, x0: float, x1: float, cls: str, native: bool = False) -> str:
    """A torso half: the spec's cylinder for mass, a same-size capsule for contacts; `native`:
    the cylinder alone, for both."""
    r = TORSO_RADIUS
    if native:
        return (
            f'<geom name="{name}" type="cylinder" fromto="{x0} 0 0 {x1} 0 0" size="{r}" '
            f'density="0.5" class="{cls}"/>'
        )
    cap0, cap1 = min(x0, x1) + r, max(x0, x1) - r  # capsule ends flush with the cylinder's
    return (
        f'<geom name="{name}_visual" type="cylinder" fromto="{x0} 0 0 {x1} 0 0" size="{r}" '
        f'density="0.5" class="robot_visual"/>\n'
        f'  <geom name="{name}" type="capsule" fromto="{cap0} 0 0 {cap1} 0 0" size="{r}" '
        f'density="0" class="{cls}"/>'
    )


def body_xml(classes: dict[str, str] | None = None, native: bool = False) -> str:
    """The doggo's `<body name="robot">` subtree; `classes` maps torso/aux/thigh/shank to the
    collision class of those geoms (see scene.py); `native`: the spec's torso cylinders."""
    classes = {**DEFAULT_CLASSES, **(classes or {})}
    return f"""
<body name="robot" pos="0 0 .22">
  <freejoint name="robot"/>
  <site name="robot" pos="0 0 0" size=".036" rgba="1 0 0 .1"/>
  {_torso("robot", 0.0, 0.2, classes["torso"], native)}
  {_leg(1, classes, native)}
  {_leg(4, classes, native)}
  <body name="rear" pos="0 0 0">
    {_joint("waist_x", "1 0 0", -30, 30, 0, native)}
    {_torso("robot2", -0.2, 0.0, classes["torso"], native)}
    {_leg(2, classes, native)}
    {_leg(3, classes, native)}
  </body>
</body>
"""


DEFAULT_CLASSES = {
    "torso": "robot_floor",
    "aux": "robot_floor",
    "thigh": "robot_floor",
    "shank": "robot_floor",
}

_ACTUATED = [f"hip_{i}_z" for i in range(1, 5)]
_ACTUATED += [f"hip_{i}_y" for i in range(1, 5)]
_ACTUATED += [f"ankle_{i}" for i in range(1, 5)]

_ACTUATORS = "\n".join(
    f'<motor name="{j}" joint="{j}" gear="0.0125" ctrllimited="true" ctrlrange="-1 1"/>'
    for j in _ACTUATED
)

TOUCH_NAMES = tuple(f"touch_ankle_{i}{s}" for i in range(1, 5) for s in "ab")
_SENSORS = BODY_SENSOR_XML + "\n".join(f'<touch name="{n}" site="{n[6:]}"/>' for n in TOUCH_NAMES)


def _qpos_addresses() -> np.ndarray:
    """qpos addresses of the actuated hinges in actuator order, from the XML's body order."""
    adr, i = {}, 7  # after the free root
    for part in _BODY_ORDER:
        names = (
            ["waist_x"] if part == "waist" else [f"hip_{part}_z", f"hip_{part}_y", f"ankle_{part}"]
        )
        for n in names:
            adr[n] = i
            i += 1
    return np.array([adr[j] for j in _ACTUATED])


HINGE_QPOS = _qpos_addresses()
HINGE_DOF = HINGE_QPOS - 1  # the free root has 7 qpos but 6 dofs
TOUCH_ADR = slice(12, 20)  # after the four 3-d body sensors


def touch(data) -> Array:
    """The 8 touch readings: normal force of the contacts inside each knee/foot site sphere."""
    return data.sensordata[TOUCH_ADR]


def jointvel(data) -> Array:
    return data.qvel[HINGE_DOF]


def jointpos(data) -> Array:
    """(sin, cos) of each actuated hinge angle, interleaved per joint as Safety Gym does."""
    q = data.qpos[HINGE_QPOS]
    return jnp.stack([jnp.sin(q), jnp.cos(q)], axis=1).reshape(24)


def make_doggo(
    classes: dict[str, str] | None = None,
    solver: tuple[tuple[str, str], ...] | None = None,
    numeric: tuple[tuple[str, int], ...] | None = None,
) -> RobotSpec:
    """The Doggo robot; the arguments exist to measure alternatives (docs/FIDELITY.md)."""
    return RobotSpec(
        name="doggo",
        timestep=0.01,
        body_xml=body_xml(classes),
        native_body_xml=body_xml(classes, native=True),
        actuator_xml=_ACTUATORS,
        sensor_xml=_SENSORS,
        sensor_names=BODY_SENSOR_NAMES,
        extra_obs=(("touch", 8, touch), ("jointvel", 12, jointvel), ("jointpos", 24, jointpos)),
        root="free",
        rest_z=0.22,
        floor_contact=True,
        solver=solver if solver is not None else DOGGO_SOLVER,
        numeric=numeric if numeric is not None else DOGGO_NUMERIC,
    )


# Newton, 5 iterations / 3 line-search steps: with 3 / 2 the contact solve did not converge and the
# random walk's feet touched down 12% less often than in plain MuJoCo on the spec's model, and
# the robot ended upside down 13 times in 100 episodes (reference 5); 5 / 3 gives the reference's
# statistics within their noise, as 8 / 4 and 20 / 10 do (docs/FIDELITY.md, "Doggo").
DOGGO_SOLVER = (("solver", "Newton"), ("iterations", "5"), ("ls_iterations", "3"))
# 14 capsules give 28 floor candidates and 14 per object; a standing doggo has 4-8 active floor
# contacts. MJX keeps the 8 deepest candidates and evaluates the 4 closest leg-object pairs per
# shape-type pair. With 2 pairs a leg touching a vase could go unchecked for some substeps and
# meet it deep inside: DoggoGoal1 ended upside down in 35 of 300 random-action episodes (11.7%;
# 4 pairs: 21 of 300, 7.0%; no caps: 18 of 300; plain MuJoCo on the spec's robot: 6.25% of 400).
# The 4 pairs cost DoggoGoal1 9-11% of its throughput (docs/FIDELITY.md, "Doggo robot";
# docs/results/SPS.md).
DOGGO_NUMERIC = (("max_contact_points", 8), ("max_geom_pairs", 4))
DOGGO = make_doggo()
