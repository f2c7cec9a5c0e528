"""Run task: run as far as possible along -y down a corridor (Safety-Gymnasium's Run0;
docs/TASKS.md).

The robot starts at y = 16.5 with x uniform in [-0.2, 0.2] (placements_extents) and a random
heading, and is rewarded for approaching a point run_distance (1000 m) beyond the origin along -y:

    r = run_reward_factor * (d_{t-1} - d_t),   d = || p_xy - (0, -run_distance) ||

(60 x the progress, about 60 x the distance run along -y), not clipped (Safety-Gymnasium sets
no clip for Run). The difference is computed as (a - b).(a + b) / (|a| + |b|) from the two
positions, which keeps the progress of a step exact in float32 a kilometre from the target.
Level 0's constraint is the sigwalls element at x = +-0.5 (cost 1 while |x| > 0.5); level 1
adds the velocity element (a speed limit, `velocity_limit`), the constraint of
Safety-Gymnasium's velocity tasks. No lidar: the observation is the robot's sensors alone.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from safejax.tasks.base import Task
from safejax.types import Array, Frame, TaskStep


def progress(last_xy: Array, xy: Array, target: Array) -> Array:
    """d(last) - d(now) to `target`, in the cancellation-free form."""
    a, b = last_xy - target, xy - target
    return jnp.dot(a - b, a + b) / (jnp.linalg.norm(a) + jnp.linalg.norm(b))


class RunTask(Task):
    """State: {"last_xy": (2,) the robot's planar position after the previous step}."""

    name = "run"
    HAS_GOAL = False
    layout = ()
    PARAMS = ("run_reward_factor", "run_distance")
    SETTINGS: ClassVar[dict] = {"run_reward_factor": 60.0, "run_distance": 1000.0}

    def validate(self) -> None:
        if not self.config.run_distance > 0:
            raise ValueError(f"run_distance must be > 0, got {self.config.run_distance!r}")

    def lidars(self) -> tuple[tuple[int, str], ...]:
        return ()

    def positions(self, data, task: dict) -> dict[str, Array]:
        return {}

    def _target(self, params: dict) -> Array:
        return jnp.stack([jnp.zeros((), jnp.float32), -params["run_distance"]])

    def reset(self, key: Array, frame: Frame, placed: dict[str, Array], params: dict) -> dict:
        return {"last_xy": frame.robot_pos[:2]}

    def step(
        self, frame: Frame, task: dict, params: dict, key: Array, others: tuple[Array, Array]
    ) -> TaskStep:
        xy = frame.robot_pos[:2]
        reward = params["run_reward_factor"] * progress(task["last_xy"], xy, self._target(params))
        return TaskStep({"last_xy": xy}, reward, jnp.array(False), jnp.array(False))
