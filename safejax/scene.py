"""Builds the MjModel once per environment name, and the static index tables the run half needs.

One scene holds the robot and every physics object of the task (vases, ...). Things that need no
contact force (goal, hazards) are not physics bodies at all: they live in `State` and are handled
analytically. Collision filtering keeps MJX's candidate contact set small:

  robot geoms:   contype=ROBOT, conaffinity=0          (touch objects; no self-collision)
  robot feet:    contype=ROBOT|FLOOR (class robot_floor), or FLOOR only (robot_floor_only)
  robot visuals: contype=0, conaffinity=0 (class robot_visual: mass and looks, no contacts)
  objects:       contype=0,     conaffinity=ROBOT      (touched only by the robot)
  push box:      its geoms are objects; a massless hull: contype=BOX, conaffinity=0
  pillars:       contype=0,     conaffinity=ROBOT|BOX  (touched by the robot and the box hull)
  floor:         conaffinity=FLOOR only for robots that stand on it (Car, Doggo), so that only
                 the geoms a robot stands on (wheels, caster, legs) enter the contact set
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
from mujoco.mjx._src import collision_driver

from safejax.config import EnvConfig
from safejax.elements import box, buttons, gremlins, pillars, vases
from safejax.linalg import ArrowStructure
from safejax.robots.base import RobotSpec

ROBOT_BIT = 2
FLOOR_BIT = 4
BOX_BIT = 8


@dataclasses.dataclass(frozen=True)
class SceneIndex:
    """Static ids and addresses into the model, as numpy arrays (constants under jit)."""

    robot_body: int
    robot_geom_mask: np.ndarray  # (ngeom,) bool
    sensor_slices: tuple[tuple[str, int, int], ...]  # (name, adr, dim)
    vase_geom_mask: np.ndarray  # (ngeom,) bool
    vase_qpos_adr: np.ndarray  # (n, 2) qpos addresses of each vase's x, y slides
    vase_dof_adr: np.ndarray  # (n, 2)
    pillar_mocap: np.ndarray  # (n,) mocap ids
    pillar_geom_mask: np.ndarray  # (ngeom,) bool
    button_mocap: np.ndarray  # (n,) mocap ids
    button_geoms: np.ndarray  # (n,) geom id of each button
    gremlin_mocap: np.ndarray  # (n,) mocap ids
    gremlin_geom_mask: np.ndarray  # (ngeom,) bool
    box: box.BoxIndex


def _option_xml(config: EnvConfig, robot: RobotSpec) -> str:
    solver = dict(robot.solver)
    if config.solver is not None:
        solver["solver"] = config.solver
    if config.solver_iterations is not None:
        solver["iterations"] = str(config.solver_iterations)
    if config.ls_iterations is not None:
        solver["ls_iterations"] = str(config.ls_iterations)
    attrs = " ".join(f'{k}="{v}"' for k, v in solver.items())
    # MuJoCo's default Euler integrator with implicit joint damping (eulerdamp on), as Safety Gym's
    # engine had: with it the Point's trajectories match plain MuJoCo within 2 cm over 2 s
    # (benchmarks.fidelity); with it off, the yaw servo's arc turn rate was 27% slower.
    return f'<option timestep="{robot.timestep}" {attrs}/>'


def build_xml(config: EnvConfig, robot: RobotSpec) -> str:
    # MJX contact culling: the robot's defaults, overridden by the config where set.
    numeric = dict(robot.numeric)
    for key in ("max_geom_pairs", "max_contact_points"):
        if getattr(config, key) is not None:
            numeric[key] = getattr(config, key)
    custom = "".join(f'<numeric name="{k}" data="{v}"/>' for k, v in numeric.items())
    custom = f"<custom>{custom}</custom>" if custom else ""
    floor_aff = FLOOR_BIT if robot.floor_contact else 0
    objects = "".join(m.xml(config) for m in (vases, pillars, buttons, gremlins)) + (
        box.xml(config) if config.task == "push" else ""
    )
    return f"""
<mujoco model="safejax-{robot.name}-{config.task}{config.level}">
  <compiler angle="radian" inertiafromgeom="true"/>
  {custom}
  {_option_xml(config, robot)}
  <default>
    <default class="robot">
      <geom contype="{ROBOT_BIT}" conaffinity="0" condim="{config.condim}"/>
    </default>
    <default class="robot_floor">
      <geom contype="{ROBOT_BIT | FLOOR_BIT}" conaffinity="0" condim="{config.condim}"/>
    </default>
    <default class="robot_floor_only">
      <geom contype="{FLOOR_BIT}" conaffinity="0" condim="{config.condim}"/>
    </default>
    <default class="robot_visual">
      <geom contype="0" conaffinity="0"/>
    </default>
    <default class="object">
      <geom contype="0" conaffinity="{ROBOT_BIT}" condim="{config.condim}"/>
    </default>
    <default class="pillar">
      <geom contype="0" conaffinity="{ROBOT_BIT | BOX_BIT}" condim="{config.condim}"/>
    </default>
    <default class="box">
      <geom contype="{BOX_BIT}" conaffinity="0" condim="{config.condim}"/>
    </default>
    {robot.default_xml}
  </default>
  <worldbody>
    <light name="light" pos="0 0 4" dir="0 0 -1"/>
    <geom name="floor" type="plane" size="3.5 3.5 .1" rgba="1 1 1 1" contype="0"
          conaffinity="{floor_aff}" condim="{config.condim}"/>
    {robot.body_xml}
    {objects}
  </worldbody>
  <actuator>{robot.actuator_xml}</actuator>
  <sensor>{robot.sensor_xml}</sensor>
</mujoco>
"""


def build(config: EnvConfig, robot: RobotSpec) -> tuple[mujoco.MjModel, SceneIndex]:
    """Compiles the scene and collects its index tables."""
    model = mujoco.MjModel.from_xml_string(build_xml(config, robot))
    robot_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "robot")
    # Robot geoms: every geom of the robot's subtree.
    body_is_robot = np.zeros(model.nbody, bool)
    for b in range(model.nbody):
        p = b
        while p > 0:
            if p == robot_body:
                body_is_robot[b] = True
                break
            p = model.body_parentid[p]
    robot_geom_mask = body_is_robot[model.geom_bodyid]
    sensor_slices = []
    for name, dim in robot.sensor_names:
        sid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SENSOR, name)
        if sid < 0:
            raise ValueError(f"robot {robot.name} has no sensor {name!r}")
        if model.sensor_dim[sid] != dim:
            raise ValueError(f"sensor {name} has dim {model.sensor_dim[sid]}, expected {dim}")
        sensor_slices.append((name, int(model.sensor_adr[sid]), dim))
    vase_geom_mask, vase_qpos, vase_dof = vases.index(model, config.vases_num)
    pillar_mocap, pillar_geom_mask = pillars.index(model, config.pillars_num)
    button_mocap, button_geoms = buttons.index(model, config.buttons_num)
    gremlin_mocap, gremlin_geom_mask = gremlins.index(model, config.gremlins_num)
    index = SceneIndex(
        robot_body=robot_body,
        robot_geom_mask=robot_geom_mask,
        sensor_slices=tuple(sensor_slices),
        vase_geom_mask=vase_geom_mask,
        vase_qpos_adr=vase_qpos,
        vase_dof_adr=vase_dof,
        pillar_mocap=pillar_mocap,
        pillar_geom_mask=pillar_geom_mask,
        button_mocap=button_mocap,
        button_geoms=button_geoms,
        gremlin_mocap=gremlin_mocap,
        gremlin_geom_mask=gremlin_geom_mask,
        box=box.index(model, config.task == "push"),
    )
    return model, index


def arrow_structure(model: mujoco.MjModel, hub_body: int) -> ArrowStructure | None:
    """The cheapest dof partition under which the model's mass matrix and contact Hessian are
    arrow shaped (see `safejax.linalg`), by `arrow_flops`. None where a tendon or an
    equality constraint could couple any dofs.

    The hub always holds the root body of `hub_body`'s tree (the robot's free joint, which every
    contact of the robot moves). The candidate blocks are
      - the subtrees hanging below a hub set of robot bodies (a wheel, the caster, a leg): in the
        mass matrix a dof couples only to its ancestors and descendants;
      - every other kinematic tree with dofs (a vase, the push box).
    Two candidate blocks that some geom pair may touch together (a leg and a vase) are coupled by
    that contact's Jacobian rows: one of them joins the hub. Every upward-closed set of robot
    bodies is tried, with the robot's or the objects' coupled blocks moved into the hub first.
    """
    if model.ntendon or model.neq or model.nv == 0:
        return None
    robot_root = int(model.body_rootid[hub_body])
    robot_bodies = [b for b in range(model.nbody) if model.body_rootid[b] == robot_root]
    children: dict[int, list[int]] = {b: [] for b in robot_bodies}
    for b in robot_bodies:
        if b != robot_root:
            children[int(model.body_parentid[b])].append(b)
    body_dofs = {b: list(range(model.body_dofadr[b], model.body_dofadr[b] + model.body_dofnum[b]))
                 for b in range(model.nbody)}

    def subtree(b: int) -> list[int]:
        return [b] + [d for c in children[b] for d in subtree(c)]

    # Pairs of bodies MJX may collide (contype/conaffinity filter, excludes, explicit <pair>s).
    pairs = {(int(model.geom_bodyid[g1]), int(model.geom_bodyid[g2]))
             for g1, g2, _ in collision_driver.geom_pairs(model)}
    object_units = {}
    for b in range(model.nbody):
        root = int(model.body_rootid[b])
        if root != robot_root and root != 0:
            object_units.setdefault(root, []).append(b)
    best: tuple[int, ArrowStructure] | None = None
    for hub_set in _upward_closed_sets(robot_root, children):
        robot_units = [subtree(c) for b in hub_set for c in children[b] if c not in hub_set]
        units = [(u, True) for u in robot_units] + [(u, False) for u in object_units.values()]
        # A subtree without dofs (a pillar, a welded part) moves nothing: its contacts couple no
        # dofs beyond the other side's.
        units = [(u, r) for u, r in units if any(body_dofs[b] for b in u)]
        for robot_first in (True, False):
            st = _arrow_partition(model, hub_set, units, pairs, body_dofs, robot_first)
            cost = arrow_flops(st)
            if best is None or cost < best[0]:
                best = (cost, st)
    return best[1]


def arrow_flops(st: ArrowStructure) -> int:
    """Multiply-adds of `linalg.arrow_factor` under `st`, the model used to pick a partition:
    each block's own factor, its coupling solve and its Schur update, then the hub's factor."""
    nh = st.hub.size
    total = nh**3 // 3
    for group in st.blocks:
        k, s = group.shape
        total += k * (s**3 // 3 + s * s * nh + s * nh * nh)
    return total


def dense_flops(nv: int) -> int:
    """Multiply-adds of the dense factor, to compare with `arrow_flops`."""
    return nv**3 // 3


def _upward_closed_sets(root: int, children: dict[int, list[int]], limit: int = 4096):
    """Every set of bodies of one tree that holds `root` and each member's parent."""
    out: list[frozenset[int]] = []

    def grow(current: frozenset[int], frontier: tuple[int, ...]):
        if len(out) >= limit:
            return
        if not frontier:
            out.append(current)
            return
        head, rest = frontier[0], frontier[1:]
        grow(current, rest)  # head and its subtree stay out
        grow(current | {head}, rest + tuple(children[head]))

    grow(frozenset([root]), tuple(children[root]))
    return out


def _arrow_partition(model, hub_set, units, pairs, body_dofs, robot_first: bool) -> ArrowStructure:
    """Hub = `hub_set`'s dofs plus every unit that must leave the blocks because a geom pair
    can touch it together with another unit; the units that stay are the blocks."""
    unit_of = {}
    for i, (bodies, _) in enumerate(units):
        for b in bodies:
            unit_of[b] = i
    edges = {tuple(sorted((unit_of[b1], unit_of[b2]))) for b1, b2 in pairs
             if b1 in unit_of and b2 in unit_of and unit_of[b1] != unit_of[b2]}
    dofs = [[d for b in bodies for d in body_dofs[b]] for bodies, _ in units]
    moved = set()
    # Greedy vertex cover: robot (or object) units first, then the unit with the most edges.
    while edges:
        degree: dict[int, int] = {}
        for e in edges:
            for i in e:
                degree[i] = degree.get(i, 0) + 1
        pick = max(degree, key=lambda i: (units[i][1] == robot_first, degree[i], -len(dofs[i])))
        moved.add(pick)
        edges = {e for e in edges if pick not in e}
    hub = [d for b in sorted(hub_set) for d in body_dofs[b]]
    by_size: dict[int, list[list[int]]] = {}
    for i, ds in enumerate(dofs):
        if i in moved:
            hub += ds
        elif ds:
            by_size.setdefault(len(ds), []).append(ds)
    blocks = tuple(np.array(v, np.int32) for _, v in sorted(by_size.items()))
    return ArrowStructure(nv=model.nv, hub=np.array(sorted(hub), np.int32), blocks=blocks)
