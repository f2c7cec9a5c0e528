"""Physics behind one door: everything engine-specific about stepping a safejax scene.

The rest of the library builds the scene's MJCF (`safejax.scene`), decides what happens before
each substep (element logic: vase friction, gremlin paths) and reads costs and observations;
this package compiles the model, steps it and answers contact queries. Nothing outside it reads
an engine's private state (`mjx.Data._impl`, `mujoco.mjx._src`).

A backend is one module here that provides:

  mjcf(config, robot) -> str
      The engine's settings as MJCF elements (`<custom>`, `<option>`) for the scene to embed:
      timestep, solver and iteration counts tuned per robot, contact caps.
  compile(mj_model, config, hub_body) -> PhysicsModel
      Everything the steps need, made once per environment: the device model, the model the
      substeps run, blank data, and whatever the engine precomputes (MJX: the arrow structure of
      the Cholesky factor around `hub_body`'s tree, the robot).
  reset_data(pm, **fields) -> data
      Blank data with the given state fields (`INTEGRATION_STATE` names) replaced.
  integration_state(data) -> dict
      The fields that carry a world to the next step, or to another model of the same scene.
  step(pm, data, ctrl, before_substep) -> data
      One control step: ctrl written, `pm.substeps` substeps, each preceded by the
      `before_substep(data) -> data` callback, and the final forward where configured.
  substep(pm, data, before_substep) -> data
      One of those substeps alone (for measurements between substeps).
  forward(pm, data) -> data
      Kinematics, sensors and contacts of a state, as at the end of `step` (used at reset).
  robot_contacts(pm, data) -> (ngeom,)
      How many contacts the robot (`hub_body`'s subtree) has with each geom: every contact
      cost (vases, pillars, gremlins, buttons) is a sum over it.

Every function is pure and traceable: the caller owns `jit` and `vmap`. The data they return is
the engine's own (`mjx.Data` here); its public fields (`qpos`, `xpos`, `sensordata`, ...) are
read by the rest of the library.

Two backends, chosen by `EnvConfig.physics` (`safejax.make(..., physics="mujoco")`, or
`--env-set physics=mujoco` on every CLI):

  "mjx"     MuJoCo MJX (`safejax.physics.mjx`): the default; runs on any JAX device, with the
            approximations docs/FIDELITY.md records (solver iterations, contact caps, proxies).
  "mujoco"  MuJoCo's C engine on the CPU through a batched host callback
            (`safejax.physics.native`): the default solver, no contact caps, float64 state.

The functions below take the backend from the config (`mjcf`, `compile`), the compiled model
(`step`, `forward`, ...) or the data (`integration_state`). MJX alone also answers `contacts`
(its raw contact buffer) and `contact_slots`.
"""

from __future__ import annotations

from safejax.physics import mjx as _mjx
from safejax.physics import native as _native
from safejax.physics.mjx import CONTACT_CAPS, Contacts, PhysicsModel, SubstepHook, contacts
from safejax.physics.native import NativeData, NativeModel

BACKENDS = {"mjx": _mjx, "mujoco": _native}
INTEGRATION_STATE = _mjx.INTEGRATION_STATE


def backend(name: str):
    """The backend module of a name in `BACKENDS`."""
    if name not in BACKENDS:
        raise ValueError(f"unknown physics backend {name!r}; valid: {sorted(BACKENDS)}")
    return BACKENDS[name]


def _of(pm):
    return _native if isinstance(pm, NativeModel) else _mjx


def mjcf(config, robot) -> str:
    return backend(config.physics).mjcf(config, robot)


def compile(mj_model, config, hub_body: int, xml: str | None = None):
    return backend(config.physics).compile(mj_model, config, hub_body, xml=xml)


def reset_data(pm, **fields):
    return _of(pm).reset_data(pm, **fields)


def integration_state(data) -> dict:
    mod = _native if isinstance(data, NativeData) else _mjx
    return mod.integration_state(data)


def step(pm, data, ctrl, before_substep: SubstepHook | None = None):
    return _of(pm).step(pm, data, ctrl, before_substep)


def substep(pm, data, before_substep: SubstepHook | None = None):
    return _of(pm).substep(pm, data, before_substep)


def forward(pm, data):
    return _of(pm).forward(pm, data)


def robot_contacts(pm, data):
    return _of(pm).robot_contacts(pm, data)


def contact_slots(pm) -> int:
    if isinstance(pm, NativeModel):
        raise ValueError("contact_slots: the MuJoCo backend has no fixed contact buffer")
    return _mjx.contact_slots(pm)


__all__ = [
    "BACKENDS",
    "CONTACT_CAPS",
    "INTEGRATION_STATE",
    "Contacts",
    "NativeData",
    "NativeModel",
    "PhysicsModel",
    "SubstepHook",
    "backend",
    "compile",
    "contact_slots",
    "contacts",
    "forward",
    "integration_state",
    "mjcf",
    "reset_data",
    "robot_contacts",
    "step",
    "substep",
]
