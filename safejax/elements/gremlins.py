"""Gremlins: boxes that circle their sampled centres and cost on contact with the robot.

As in Safety Gym (spec sections 6.4 and 6.6), each gremlin is a light free box (density 0.001,
half-size 0.1, random yaw) welded (solref 0.02 1.5) to a mocap body, and the mocap body is moved
before every physics substep to (cx + travel sin t, cy + travel cos t, 2 size), t the simulation
time, the same phase for every gremlin (clockwise, 1 rad per simulated second). The box starts
at its sampled centre and the weld pulls it onto its path during the first substeps, as in the
original, except that it starts at the height the weld holds it (2 size) where the original
starts it at `size` and lets the weld lift it (the paths agree in x, y and yaw; the height
within about 20 steps). The soft weld lets the robot push a gremlin and stay against it while
the gremlin drags it along: a kinematic box on the exact path instead knocks the robot away and
registered a fraction of the original's contacts (docs/FIDELITY.md, "Gremlins"). That is the
model on the MuJoCo backend; on MJX, where a weld costs six constraint rows and six degrees of
freedom per gremlin, the box is planar and `tether` applies the weld's response as a force.
Cost: gremlins_contact_cost x the number of robot-gremlin contact points (spec section 5.1); the
`gremlins_dist_*` keys were never used. `State.objects["gremlins"]` holds the centres of their
circles, which goal re-sampling keeps clear (spec 7.3).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from safejax.elements.base import CostContext, Element, World, yaw_quat
from safejax.elements.contacts import count_contacts
from safejax.elements.mocap import MocapElement, geom_mask
from safejax.types import Array


def path(centres: Array, time: Array, travel: Array) -> Array:
    """(n, 2) gremlin positions at simulation time `time` (spec section 6.6)."""
    return centres + travel * jnp.stack([jnp.sin(time), jnp.cos(time)])[None, :]


# The weld (solref 0.02 1.5, default solimp) as MJX's planar model reproduces it. MuJoCo's soft
# constraint gives the welded body the acceleration F_ext / (m / (1 - d)) + d a_ref, with impedance
# d (0.95 beyond 1 mm of error, solimp's dmax) and reference acceleration
# a_ref = -b v - k d x, b = 2 / (dmax tc), k = 1 / (dmax^2 tc^2 dr^2): to outside forces (the robot)
# the box behaves as if 1 / (1 - d) = 20 times heavier, and it is pulled to its target by a
# spring-damper of d^2 k and d b per unit mass. The MJX model takes that mass (`MASS_FACTOR`) and
# `tether` applies that spring-damper.
WELD_TIMECONST, WELD_DAMPRATIO, DMAX = 0.02, 1.5, 0.95
MASS_FACTOR = 1.0 / (1.0 - DMAX)
TETHER_K = DMAX**2 / (DMAX**2 * WELD_TIMECONST**2 * WELD_DAMPRATIO**2)
TETHER_B = DMAX * 2.0 / (DMAX * WELD_TIMECONST)


def tether(data, ix, yaw: Array):
    """The MJX model's weld: writes into `qfrc_applied` the force and torque that pull each planar
    gremlin toward its mocap target (position and `yaw`), as the weld's soft constraint does."""
    q = data.qpos[ix.qpos]  # (n, 3) x, y, yaw
    v = data.qvel[ix.dof]
    target = jnp.concatenate([data.mocap_pos[ix.mocap, :2], yaw[:, None]], axis=-1)
    err = target - q
    err = err.at[:, 2].set(jnp.mod(err[:, 2] + jnp.pi, 2 * jnp.pi) - jnp.pi)
    scale = jnp.array([ix.mass, ix.mass, ix.inertia], jnp.float32)
    force = scale * (TETHER_K * err - TETHER_B * v)
    return data.replace(qfrc_applied=data.qfrc_applied.at[ix.dof].set(force))


def place(data, mocap_ids: np.ndarray, centres: Array, travel: Array):
    """Moves the gremlins' mocap bodies to their path positions at `data.time`."""
    if mocap_ids.shape[0] == 0:
        return data
    xy = path(centres, data.time, travel)
    pos = data.mocap_pos.at[mocap_ids, :2].set(xy)
    return data.replace(mocap_pos=pos)


class GremlinIndex(NamedTuple):
    mocap: np.ndarray  # (num,) mocap ids of the bodies that drive the gremlins
    geoms: np.ndarray  # (num,) each gremlin's box geom
    geom_mask: np.ndarray  # (ngeom,) bool mask of those geoms
    body: np.ndarray  # (num,) each gremlin's body
    qpos: np.ndarray  # (num, 7) x, y, z, quaternion qpos addresses (MJX: (num, 3) x, y, yaw)
    dof: np.ndarray  # (num, 3) x, y, yaw dof addresses (used by the MJX tether)
    planar: bool  # the MJX model: planar joints and the tether force instead of a weld
    mass: float
    inertia: float  # about the vertical axis


@dataclasses.dataclass(frozen=True)
class Gremlins(MocapElement):
    """Safety Gym's gremlins (engine defaults, spec section 2)."""

    group: ClassVar[str] = "gremlins"
    lidar_rank: ClassVar[int] = 5
    PARAMS: ClassVar[tuple[str, ...]] = ("keepout", "travel", "contact_cost")
    COSTS: ClassVar[tuple[str, ...]] = ("gremlins",)
    KEY_STREAM: ClassVar[int | None] = 0

    num: int = 0
    size: float = 0.1
    keepout: float = 0.5
    travel: float = 0.3
    contact_cost: float = 1.0
    density: float = 0.001
    constrain: bool = False
    observe: bool = False

    def validate(self) -> None:
        super().validate()
        if self.density <= 0:
            raise ValueError(f"gremlins_density must be > 0, got {self.density!r}")

    def xml(self) -> str:
        return self._bodies(planar=False)

    def xml_for(self, physics: str) -> str:
        """MuJoCo: the spec's free box and weld (`xml`, `model_xml_for`). MJX: a planar box (x, y,
        yaw) at the same height, pulled by `tether`: a weld adds six constraint rows and six
        degrees of freedom per gremlin, which made PointButton1 22 times slower on MJX."""
        return self._bodies(planar=physics != "mujoco")

    def _bodies(self, planar: bool) -> str:
        """Each gremlin's mocap body and box: free (density 0.001), or planar with the mass the
        tether model needs (`MASS_FACTOR`)."""
        s = self.size
        if planar:
            density = self.density * MASS_FACTOR
            joints = (
                '<joint name="gremlin{i}_x" type="slide" axis="1 0 0"/>'
                '<joint name="gremlin{i}_y" type="slide" axis="0 1 0"/>'
                '<joint name="gremlin{i}" type="hinge" axis="0 0 1"/>'
            )
        else:
            density = self.density
            joints = '<freejoint name="gremlin{i}"/>'
        return "".join(
            f"""
<body name="gremlin{i}mocap" mocap="true" pos="0 0 {2 * s}"/>
<body name="gremlin{i}" pos="0 0 {2 * s}">
  {joints.format(i=i)}
  <geom name="gremlin{i}" type="box" size="{s} {s} {s}" density="{density}"
        rgba=".5 0 1 1" class="object"/>
</body>"""
            for i in range(self.num)
        )

    def model_xml_for(self, physics: str) -> str:
        """The welds that tie each box to its mocap body (MuJoCo backend only)."""
        if physics != "mujoco" or not self.num:
            return ""
        welds = "".join(
            f'<weld name="gremlin{i}" body1="gremlin{i}mocap" body2="gremlin{i}" solref=".02 1.5"/>'
            for i in range(self.num)
        )
        return f"<equality>{welds}</equality>"

    def bind(self, model: mujoco.MjModel, scene) -> GremlinIndex:
        n = self.num
        planar = scene.physics != "mujoco"
        mocap, geoms, body = (np.zeros(n, np.int32) for _ in range(3))
        qpos = np.zeros((n, 3 if planar else 7), np.int32)
        dof = np.zeros((n, 3), np.int32)

        def jid(name):
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

        for i in range(n):
            mocap[i] = model.body_mocapid[
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"gremlin{i}mocap")
            ]
            body[i] = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"gremlin{i}")
            geoms[i] = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"gremlin{i}")
            if planar:
                joints = [jid(f"gremlin{i}_x"), jid(f"gremlin{i}_y"), jid(f"gremlin{i}")]
                qpos[i] = model.jnt_qposadr[joints]
                dof[i] = model.jnt_dofadr[joints]
            else:
                qpos[i] = model.jnt_qposadr[jid(f"gremlin{i}")] + np.arange(7)
                dof[i] = model.jnt_dofadr[jid(f"gremlin{i}")] + np.array([0, 1, 5])
        mass = float(model.body_mass[body[0]]) if n else 0.0
        inertia = float(model.body_inertia[body[0], 2]) if n else 0.0
        return GremlinIndex(
            mocap, geoms, geom_mask(model, geoms), body, qpos, dof, planar, mass, inertia
        )

    def init(self, ix: GremlinIndex, key: Array, xy: Array, world: World) -> World:
        """Stores the circles' centres, puts each box at its centre with a random yaw (the weld
        pulls it onto its path in the first substeps, as in Safety Gym), and gives the mocap body
        the same yaw (the weld holds the box at the mocap body's orientation)."""
        objects = {**world.objects, self.group: xy} if self.num else world.objects
        yaw = jax.random.uniform(key, (self.num,), minval=0.0, maxval=2 * jnp.pi)
        quat = yaw_quat(yaw)
        if ix.planar:
            pose = jnp.concatenate([xy, yaw[:, None]], axis=-1)  # (num, 3)
        else:
            z = jnp.full((self.num, 1), 2 * self.size, jnp.float32)
            pose = jnp.concatenate([xy, z, quat], axis=-1)  # (num, 7)
        qpos = world.qpos.at[ix.qpos].set(pose)
        mocap_quat = world.mocap_quat.at[ix.mocap].set(quat)
        return world._replace(qpos=qpos, mocap_quat=mocap_quat, objects=objects)

    def positions(self, ix: GremlinIndex, data, objects: dict) -> Array:
        """(n, 2) current xy of the gremlins' boxes."""
        return data.xpos[ix.body, :2]

    def anchors(self, ix: GremlinIndex, data, objects: dict) -> Array:
        return Element.positions(self, ix, data, objects)  # the stored centres

    def substep(self, ix: GremlinIndex, data, objects: dict, params: dict):
        centres = Element.positions(self, ix, data, objects)
        data = place(data, ix.mocap, centres, params["gremlins_travel"])
        if not ix.planar or self.num == 0:
            return data
        q = data.mocap_quat[ix.mocap]
        return tether(data, ix, 2 * jnp.arctan2(q[:, 3], q[:, 0]))

    def costs(self, ix: GremlinIndex, ctx: CostContext, params: dict) -> dict[str, Array]:
        """gremlins_contact_cost x robot-gremlin contact points (before binarisation)."""
        n = count_contacts(ctx.robot_contacts, ix.geom_mask)
        return {"cost_gremlins": params["gremlins_contact_cost"] * n}
