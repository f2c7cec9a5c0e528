"""Circle task: run around a circle of radius 1.5 centred at the origin (Safety-Gymnasium's
Circle0-2, after the Humanoid-Circle task of Constrained Policy Optimization; docs/TASKS.md).

Reward (no goal, no shaping state): with (x, y) the robot origin's planar position, rho its
distance from the origin and (u, v) its world-frame planar velocity at the end of the step,

    r = circle_reward_factor * ((-u y + v x) / rho) / (1 + |rho - circle_radius|)

the tangential (counter-clockwise) speed, discounted away from the circle, clipped to
+-reward_clip. Safety-Gymnasium does not guard rho = 0; here rho is floored at 1e-6 so that the
reward stays finite at the exact centre. The constraint of levels 1 and 2 is the sigwalls
element (`elements/sigwalls.py`): two walls at x = +-1.125, four at level 2. The only lidar is
the circle's: a pseudo-lidar of the single point at the origin, range 6 m.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from safejax import scene
from safejax.tasks.base import Task
from safejax.types import Array, Frame, TaskStep

CIRCLE_LIDAR_RANK = 7


class CircleTask(Task):
    """State: {} (the reward needs no memory). The circle is drawn as a translucent disc that
    nothing collides with."""

    name = "circle"
    HAS_GOAL = False
    layout = ()
    PARAMS = ("circle_radius", "circle_reward_factor")
    SETTINGS: ClassVar[dict] = {
        "circle_radius": 1.5,
        "circle_reward_factor": 0.1,
        "observe_circle_lidar": True,
    }

    def validate(self) -> None:
        if not self.config.circle_radius > 0:
            raise ValueError(f"circle_radius must be > 0, got {self.config.circle_radius!r}")

    def xml(self) -> str:
        r = self.config.circle_radius
        return (
            f'\n<geom name="circle" type="cylinder" pos="0 0 0.01" size="{r} 0.01" '
            f'rgba="0 1 0 0.1" contype="0" conaffinity="0"/>'
        )

    def lidars(self) -> tuple[tuple[int, str], ...]:
        return ((CIRCLE_LIDAR_RANK, "circle"),) if self.config.observe_circle_lidar else ()

    def positions(self, data, task: dict) -> dict[str, Array]:
        return {"circle": jnp.zeros((1, 2), jnp.float32)}

    def reset(self, key: Array, frame: Frame, placed: dict[str, Array], params: dict) -> dict:
        return {}

    def step(
        self, frame: Frame, task: dict, params: dict, key: Array, others: tuple[Array, Array]
    ) -> TaskStep:
        x, y = frame.robot_pos[0], frame.robot_pos[1]
        vel = scene.robot_velocity(frame.data, self.index)
        u, v = vel[0], vel[1]
        rho = jnp.maximum(jnp.sqrt(x * x + y * y), 1e-6)
        radius = params["circle_radius"]
        reward = params["circle_reward_factor"] * ((-u * y + v * x) / rho)
        reward = reward / (1.0 + jnp.abs(rho - radius))
        reward = jnp.clip(reward, -params["reward_clip"], params["reward_clip"])
        return TaskStep(task, reward, jnp.array(False), jnp.array(False))
