"""Core pytree types shared by every environment: the per-world `State`.

`State` follows brax's env/State split: everything that changes per world and per step lives
here, the `Env` itself is immutable. Fields are typed; `metrics` has fixed keys for a given
environment so that it can be stacked, vmapped and scanned.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
from flax import struct

Array = jax.Array

# The metric that flags a world's layout (placement failed at reset): set by `Env.reset`, passed
# on by `Env.step`, and kept with the new layout by `VecEnv`'s auto-reset.
LAYOUT_FLAG = "layout_failed"


class Frame(NamedTuple):
    """What a task sees of one world after a physics step (or at reset).

    Attributes:
      data: the physics state after the step (`mjx.Data`, or `physics.NativeData`).
      robot_pos: (3,) world position of the robot body's origin.
      objects: the world's analytic object positions (`State.objects`).
      ok: bool, the physics step stayed finite (no goal can be met on a failed step).
      robot_contacts: (ngeom,) the robot's contacts with each geom (`physics.robot_contacts`).
    """

    data: Any
    robot_pos: Array
    objects: Any
    ok: Array
    robot_contacts: Any = None


class TaskStep(NamedTuple):
    """A task's answer to one step: its new state, the dense reward (already clipped as Safety
    Gym clips it, before the goal bonus), whether the goal was met, and whether re-sampling a
    new goal failed (which ends the episode)."""

    task: Any
    reward: Array
    goal_met: Array
    resample_failed: Array


@struct.dataclass
class State:
    """One world's state after a reset or a step.

    Attributes:
      data: the MJX physics state (`mjx.Data`); `None` for physics-free test environments.
      task: task-specific pytree (goal position, last distances, button timer, ...).
      objects: analytic object positions that are not physics bodies (hazards, ...).
      obs: flat float32 observation, laid out as `Env.obs_layout` says.
      reward: float32 scalar reward of the last step (0 after reset).
      cost: float32 scalar in {0, 1}: Safety Gym's binarised total cost of the last step.
      terminated: bool, the episode ended in a terminal state (no bootstrap).
      truncated: bool, the episode hit its time limit (bootstrap from the final obs).
      step: int32 steps taken in this episode.
      key: PRNG key of this world (layout resampling, goal resampling).
      metrics: dict of float32 scalars with fixed keys (per-constraint costs, goal_met, ...).
    """

    data: Any
    task: Any
    objects: Any
    obs: Array
    reward: Array
    cost: Array
    terminated: Array
    truncated: Array
    step: Array
    key: Array
    metrics: dict[str, Array]

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated
