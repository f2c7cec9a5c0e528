"""The MJX backend (MuJoCo MJX, `impl="jax"`): MJCF settings, model, steps and contact queries.

This module and its helpers (`safejax.physics.arrow`, `safejax.physics.linalg`) are the only code
of the library that knows MJX's solver options, its contact caps, its Cholesky calls and the
private parts of `mjx.Data` (`_impl.contact`, `_impl.efc_J`). `safejax.physics` documents the
contract; the functions here implement it.

Every function that traces MJX code runs it with `safejax.physics.linalg`'s Cholesky in place of
LAPACK, under the model's arrow structure (`PhysicsModel.arrow`): callers need no context of their
own and may `jit` and `vmap` these functions as they like.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from safejax.physics import arrow as arrow_partition
from safejax.physics.linalg import ArrowStructure, pure_cholesky
from safejax.types import Array

if TYPE_CHECKING:
    from safejax.config import EnvConfig
    from safejax.robots.base import RobotSpec

# `mjx.Data` fields that carry a world from one step to the next, or from one model to another
# of the same scene (`reset_data(pm, **integration_state(data))`): MuJoCo's
# mjSTATE_INTEGRATION, the state, the user inputs and the solver's warm start. Every other field
# is recomputed from them by the next step.
INTEGRATION_STATE = (
    "time",
    "qpos",
    "qvel",
    "act",
    "history",
    "qacc_warmstart",
    "plugin_state",
    "ctrl",
    "qfrc_applied",
    "xfrc_applied",
    "eq_active",
    "mocap_pos",
    "mocap_quat",
    "userdata",
)
# `<numeric>` entries of the MJCF that cap MJX's contact buffer (its collision culling).
CONTACT_CAPS = ("max_geom_pairs", "max_contact_points")

SubstepHook = Callable[[mjx.Data], mjx.Data]


@dataclasses.dataclass(frozen=True, eq=False)
class PhysicsModel:
    """One compiled scene, fixed for the life of an environment.

    Attributes:
      mj_model: the MuJoCo model (host side: names, sizes, rendering).
      model: the MJX model; the final forward and `reset` use it.
      substep_model: the model the substeps run: `model` with sensor evaluation disabled when a
        final forward recomputes the sensors (`final_forward`), else `model` itself.
      data0: blank data of `model` (qpos0, the mocap bodies' compiled poses, zero velocities).
      arrow: the dof partition the Cholesky factor uses (`safejax.physics.arrow`); None: dense.
      substeps: physics steps per `step`.
      final_forward: whether `step` ends with a forward pass (positions, sensors).
      robot_geoms: (ngeom,) bool, the geoms of `hub_body`'s subtree (`robot_contacts`).
    """

    mj_model: mujoco.MjModel
    model: mjx.Model
    substep_model: mjx.Model
    data0: mjx.Data
    arrow: ArrowStructure | None
    substeps: int
    final_forward: bool
    robot_geoms: np.ndarray


class Contacts(NamedTuple):
    """MJX's fixed-size contact buffer (size `contact_slots(pm)`), one entry per slot.

    Attributes:
      geom1, geom2: (ncon,) geom ids of the two geoms of each slot.
      dist: (ncon,) signed distance; negative where the geoms penetrate. With a contact margin of
        0 only these carry force; the other slots hold candidates MJX checked and found apart.
    """

    geom1: Array
    geom2: Array
    dist: Array


def mjcf(config: EnvConfig, robot: RobotSpec) -> str:
    """The `<custom>` and `<option>` elements of the scene's MJCF: MJX's contact caps (the
    robot's `numeric` defaults, overridden by the config's `max_geom_pairs` /
    `max_contact_points` where set; -1 lifts a cap) and the timestep and solver settings tuned
    per robot (`RobotSpec.solver`, overridden by the config's `solver`, `solver_iterations`,
    `ls_iterations`)."""
    numeric = dict(robot.numeric)
    for key in CONTACT_CAPS:
        if getattr(config, key) is not None:
            numeric[key] = getattr(config, key)
    custom = "".join(f'<numeric name="{k}" data="{v}"/>' for k, v in numeric.items())
    custom = f"<custom>{custom}</custom>" if custom else ""
    return f"{custom}\n  {_option_xml(config, robot)}"


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


def compile(
    mj_model: mujoco.MjModel, config: EnvConfig, hub_body: int, xml: str | None = None
) -> PhysicsModel:
    """Puts `mj_model` (built from MJCF with `mjcf`'s settings) on the device and prepares what
    the steps need: the substep model, blank data and the arrow structure of the Cholesky factor
    around `hub_body`'s tree (the robot), used where it saves enough work
    (`arrow.MAX_COST_RATIO`)."""
    model = mjx.put_model(mj_model)
    # Substeps run without sensors when a final forward recomputes them: sensors (the
    # accelerometer's post-constraint RNE, touch) would otherwise be evaluated 10 times per
    # step and read once. Measured on the Car: 2.1k -> 4.0k physics steps/s.
    substep_model = model
    if config.final_forward:
        opt = model.opt
        quiet = opt.replace(disableflags=opt.disableflags | mjx.DisableBit.SENSOR)
        substep_model = model.replace(opt=quiet)
    return PhysicsModel(
        mj_model=mj_model,
        model=model,
        substep_model=substep_model,
        data0=mjx.make_data(model),
        arrow=arrow_partition.choose(mj_model, hub_body),
        substeps=config.substeps,
        final_forward=config.final_forward,
        robot_geoms=subtree_geoms(mj_model, hub_body),
    )


def subtree_bodies(model: mujoco.MjModel, root: int) -> np.ndarray:
    """(nbody,) bool: the bodies of body `root`'s subtree."""
    inside = np.zeros(model.nbody, bool)
    for b in range(model.nbody):
        p = b
        while p > 0 and p != root:
            p = model.body_parentid[p]
        inside[b] = p == root
    return inside


def subtree_geoms(model: mujoco.MjModel, root: int) -> np.ndarray:
    """(ngeom,) bool: the geoms of body `root`'s subtree."""
    return subtree_bodies(model, root)[model.geom_bodyid]


def reset_data(pm: PhysicsModel, **fields) -> mjx.Data:
    """Blank data (`pm.data0`) with the given fields (`INTEGRATION_STATE` names) replaced. Run
    `forward` before reading positions or sensors from it."""
    return pm.data0.replace(**fields)


def integration_state(data: mjx.Data) -> dict[str, Array]:
    """The fields of `data` that `reset_data` takes to continue the same world (in another model
    of the same scene, e.g. one with other contact caps)."""
    return {k: getattr(data, k) for k in INTEGRATION_STATE}


def step(
    pm: PhysicsModel, data: mjx.Data, ctrl: Array, before_substep: SubstepHook | None = None
) -> mjx.Data:
    """One control step: writes `ctrl`, runs `pm.substeps` substeps (each `before_substep`, then
    one physics step of `pm.substep_model`), then the final forward where `pm.final_forward`."""
    with pure_cholesky(pm.arrow):
        data = data.replace(ctrl=ctrl)

        def body(d, _):
            return _substep(pm, d, before_substep), None

        data, _ = jax.lax.scan(body, data, None, length=pm.substeps)
        if pm.final_forward:
            data = _forward(pm, data)
    return data


def substep(
    pm: PhysicsModel, data: mjx.Data, before_substep: SubstepHook | None = None
) -> mjx.Data:
    """One physics substep as `step` runs it (`before_substep`, then one step of
    `pm.substep_model`; no final forward, so sensors are stale where `pm.final_forward`)."""
    with pure_cholesky(pm.arrow):
        return _substep(pm, data, before_substep)


def forward(pm: PhysicsModel, data: mjx.Data) -> mjx.Data:
    """Positions, velocity-dependent quantities and sensors of `data`'s state, as at the end of
    `step`."""
    with pure_cholesky(pm.arrow):
        return _forward(pm, data)


def _substep(pm: PhysicsModel, data: mjx.Data, before_substep: SubstepHook | None) -> mjx.Data:
    if before_substep is not None:
        data = before_substep(data)
    return mjx.step(pm.substep_model, data)


def _forward(pm: PhysicsModel, data: mjx.Data) -> mjx.Data:
    """mjx.forward, plus the acceleration sensors that MJX skips in a scene without any
    constraint rows (its forward returns before `sensor_acc` when efc is empty), so that the
    accelerometer reads gravity in PointGoal0 as it does in PointGoal1."""
    data = mjx.forward(pm.model, data)
    if data._impl.efc_J.size == 0:
        data = mjx.sensor_acc(pm.model, data)
    return data


def contacts(data: mjx.Data) -> Contacts:
    """The contact buffer of `data` as of its last step or forward."""
    contact = data._impl.contact
    return Contacts(geom1=contact.geom1, geom2=contact.geom2, dist=contact.dist)


def contact_slots(pm: PhysicsModel) -> int:
    """Size of the contact buffer: MJX's candidate contacts after the caps (`mjcf`)."""
    return int(pm.data0._impl.contact.dist.shape[0])


def robot_contacts(pm: PhysicsModel, data: mjx.Data) -> Array:
    """(ngeom,) number of active contacts (penetration distance < 0) between the robot
    (`pm.robot_geoms`) and each geom outside it; zero for the robot's own geoms."""
    c = contacts(data)
    ngeom = pm.robot_geoms.shape[0]
    if c.dist.shape[0] == 0:
        return jnp.zeros((ngeom,), jnp.float32)
    robot = jnp.asarray(pm.robot_geoms)
    r1, r2 = robot[c.geom1], robot[c.geom2]
    hit = (r1 != r2) & (c.dist < 0)
    other = jnp.where(r1, c.geom2, c.geom1)
    return jnp.zeros((ngeom,), jnp.float32).at[other].add(hit.astype(jnp.float32))
