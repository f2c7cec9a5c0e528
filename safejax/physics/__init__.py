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
  contacts(data) -> Contacts
      The fixed-size contact buffer: geom ids of both sides and the signed distance of each
      slot (negative: penetrating, the contacts that carry force).
  contact_slots(pm) -> int
      The buffer's size.

Every function is pure and traceable: the caller owns `jit` and `vmap`. The data they return is
the engine's own (`mjx.Data` here); its public fields (`qpos`, `xpos`, `sensordata`, ...) are
read by the rest of the library. MJX (`safejax.physics.mjx`) is the only backend today; another
(MuJoCo Warp, native MuJoCo on CPU) would be one more module beside it with the same functions.
"""

from __future__ import annotations

from safejax.physics.mjx import (
    CONTACT_CAPS,
    INTEGRATION_STATE,
    Contacts,
    PhysicsModel,
    SubstepHook,
    compile,
    contact_slots,
    contacts,
    forward,
    integration_state,
    mjcf,
    reset_data,
    step,
    substep,
)

__all__ = [
    "CONTACT_CAPS",
    "INTEGRATION_STATE",
    "Contacts",
    "PhysicsModel",
    "SubstepHook",
    "compile",
    "contact_slots",
    "contacts",
    "forward",
    "integration_state",
    "mjcf",
    "reset_data",
    "step",
    "substep",
]
