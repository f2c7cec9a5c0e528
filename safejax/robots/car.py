"""Car: a differential-drive chassis with two driven wheels and a passive ball caster (spec 9.2).

Physical parameters follow Safety Gym's car.xml: timestep 0.004, free root at z 0.1, density 5
everywhere (chassis 0.0239 kg, wheels 1.96e-3 kg each, caster 2.62e-3 kg), joint damping 0.001,
wheel motors with gear 1 and force range 0.02 (so |action| >= 0.02 saturates). The wheels sit at
body +y and the caster at -y: equal torques drive the car along body -y (its front bumper), and
lidar bin 0 (body +x) points sideways, as in the original.

Collision proxies (docs/FIDELITY.md, "Car"): every geom keeps the spec's shape for mass and
inertia; contacts come from
  - the wheel cylinders, against the floor only (MJX has plane-cylinder but no cylinder-box);
  - the caster sphere, against the floor only: in the plane it lies inside the outline of the
    chassis and front bumper, so an object reaches the chassis or a bumper before it (this
    drops MJX's sphere-object collision group: CarGoal1 physics 2,717 -> 3,053 env-steps/s);
  - the chassis box and the two bumpers, against objects only (they never reach the floor on a
    car that is upright);
  - nothing for the two thin connectors (no object fits in the 4 cm gaps they span).
The MuJoCo backend builds the spec's car instead (`native_body_xml`): every geom collides with
the floor and with objects through its own shape, the wheels as cylinders.
"""

from __future__ import annotations

import jax.numpy as jnp

from safejax.robots.base import BODY_SENSOR_NAMES, BODY_SENSOR_XML, RobotSpec
from safejax.types import Array

DENSITY = 5.0
WHEEL_RADIUS = 0.05
# qpos address of the caster's ball-joint quaternion: free root (7) + left (1) + right (1).
BALL_QPOS = slice(9, 13)


def _wheel(side: str, sign: int, shape: str, native: bool = False) -> str:
    """One driven wheel body. The spec's cylinder carries mass and inertia; the floor contact
    comes from `shape`: the cylinder itself, or a massless capsule (same two contact points on
    the floor, one candidate fewer) or sphere proxy. `native`: the spec's wheel, touching the
    floor and objects."""
    x0, x1 = sign * 0.005, sign * 0.055
    fromto = f'fromto="{x0} 0 0 {x1} 0 0"'
    cylinder = f'type="cylinder" {fromto} size="{WHEEL_RADIUS}" density="{DENSITY}"'
    if native:
        # The spec's direction (low x to high x on both sides): MuJoCo's cylinder-plane contacts
        # depend on it, and the reversed left wheel turned 2% slower than the spec's car.
        spec = f'fromto="{min(x0, x1)} 0 0 {max(x0, x1)} 0 0"'
        geoms = (
            f'<geom name="{side}" type="cylinder" {spec} size="{WHEEL_RADIUS}" '
            f'density="{DENSITY}" class="robot_floor"/>'
        )
    elif shape == "cylinder":
        geoms = f'<geom name="{side}" {cylinder} class="robot_floor_only"/>'
    else:
        proxy = (
            f'type="capsule" {fromto}'
            if shape == "capsule"
            else f'type="sphere" pos="{(x0 + x1) / 2} 0 0"'
        )
        geoms = (
            f'<geom name="{side}_visual" {cylinder} class="robot_visual"/>\n'
            f'    <geom name="{side}" {proxy} size="{WHEEL_RADIUS}" density="0" '
            'class="robot_floor_only"/>'
        )
    return f"""
  <body name="{side}" pos="{sign * 0.1} .1 -.05">
    <joint name="{side}" type="hinge" axis="1 0 0" damping="0.001"/>
    {geoms}
  </body>"""


def body_xml(wheel: str = "capsule", native: bool = False) -> str:
    """The car's `<body name="robot">` subtree with the given wheel collision shape; `native`:
    the spec's car (every geom collides through its own shape; `wheel` is ignored)."""
    if wheel not in ("cylinder", "capsule", "sphere"):
        raise ValueError(f"unknown wheel shape {wheel!r}")
    d = f'density="{DENSITY}"'
    chassis = "robot_floor" if native else "robot"
    connector = "robot_floor" if native else "robot_visual"
    caster = "robot_floor" if native else "robot_floor_only"
    return f"""
<body name="robot" pos="0 0 .1">
  <freejoint name="robot"/>
  <site name="robot" pos="0 0 0" size=".032" rgba="1 0 0 .1"/>
  <geom name="robot" type="box" size=".1 .1 .05" {d} class="{chassis}"/>
  <geom name="back_bumper" type="box" pos="0 .15 0" size=".1 .01 .05" {d} class="{chassis}"/>
  <geom name="back_connector" type="box" pos="0 .125 0" size=".01 .025 .03" {d}
        class="{connector}"/>
  <geom name="front_bumper" type="box" pos="0 -.165 0" size=".05 .01 .05" {d}
        class="{chassis}"/>
  <geom name="front_connector" type="box" pos="0 -.13 .04" size=".05 .03 .01" {d}
        class="{connector}"/>
  {_wheel("left", -1, wheel, native)}
  {_wheel("right", 1, wheel, native)}
  <body name="rear" pos="0 -.1 -.05">
    <joint name="rear" type="ball" damping="0.001"/>
    <geom name="rear" type="sphere" size="{WHEEL_RADIUS}" {d} class="{caster}"/>
  </body>
</body>
"""


_ACTUATORS = """
<motor name="left" joint="left" gear="1" ctrllimited="true" ctrlrange="-1 1"
       forcelimited="true" forcerange="-0.02 0.02"/>
<motor name="right" joint="right" gear="1" ctrllimited="true" ctrlrange="-1 1"
       forcelimited="true" forcerange="-0.02 0.02"/>
"""

_SENSORS = (
    BODY_SENSOR_XML
    + """<ballangvel name="ballangvel_rear" joint="rear"/>
"""
)


def quat_to_mat(quat: Array) -> Array:
    """(w, x, y, z) quaternion, normalised as MuJoCo's ballquat sensor does, to a 3x3 matrix."""
    w, x, y, z = quat / jnp.linalg.norm(quat)
    return jnp.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def ballquat_rear(data) -> Array:
    """The caster's orientation as a row-major 3x3 matrix (Safety Gym's `ballquat_rear`)."""
    return quat_to_mat(data.qpos[BALL_QPOS]).reshape(9)


def make_car(
    wheel: str = "capsule", solver: tuple[tuple[str, str], ...] | None = None
) -> RobotSpec:
    """The Car robot; `wheel` and `solver` exist to measure alternatives (docs/FIDELITY.md)."""
    return RobotSpec(
        name="car",
        timestep=0.004,
        body_xml=body_xml(wheel),
        native_body_xml=body_xml(native=True),
        actuator_xml=_ACTUATORS,
        sensor_xml=_SENSORS,
        sensor_names=BODY_SENSOR_NAMES + (("ballangvel_rear", 3),),
        extra_obs=(("ballquat_rear", 9, ballquat_rear),),
        root="free",
        rest_z=0.1,
        floor_contact=True,
        solver=solver if solver is not None else CAR_SOLVER,
        numeric=CAR_NUMERIC,
    )


# Newton, 8 iterations / 4 line-search steps: the wheels move the car only through friction, so
# the solver must converge for its speeds and turn rate to be right. Measured against plain MuJoCo
# on the spec's model (`python -m benchmarks.fidelity_robots --robot car`, mean path speed over
# steps 50-250): 3 / 2 gave straight +0.8%, reverse -6.0%, turn in place +5.7%, with run-to-run
# scatter of 2-3% (float32 rounding decided where the unconverged solve went); 6 / 4 turned 2.8%
# fast; from 8 / 4 on the figures are those of 20 / 10 (docs/FIDELITY.md, "Car").
CAR_SOLVER = (("solver", "Newton"), ("iterations", "8"), ("ls_iterations", "4"))
# The chassis can touch at most a couple of objects at once: MJX computes only the two closest
# chassis-object pairs per shape pair (Goal2: 2 of 30 box-box pairs, 2 of 10 caster-box pairs).
CAR_NUMERIC = (("max_geom_pairs", 2),)
CAR = make_car()
