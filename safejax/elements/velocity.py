"""Velocity: a speed limit on the robot, the constraint of Safety-Gymnasium's velocity tasks.

No body and no layout entry: while `constrain_velocity` is set, every step whose planar speed of
the robot's origin exceeds `velocity_limit` (m/s) costs 1, as Safety-Gymnasium's
`cost = float(velocity > threshold)`, which measures the speed over the control step: the
displacement during the step divided by its duration (`(p_after - p_before) / dt`), the xy
speed for its planar agents (Ant, Humanoid). A step's average, not the instantaneous velocity,
so that a legged robot's jitter does not count as speed. Any world can carry it; the Run task's
level 1 does (configs/suite.yaml).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp

from safejax.elements.base import CostContext, Element
from safejax.types import Array


@dataclasses.dataclass(frozen=True)
class Velocity(Element):
    """A speed limit (m/s) on the robot."""

    group: ClassVar[str] = "velocity"
    PARAMS: ClassVar[tuple[str, ...]] = ("limit",)
    COSTS: ClassVar[tuple[str, ...]] = ("velocity",)
    STORES_POSITIONS: ClassVar[bool] = False
    PLACED: ClassVar[bool] = False

    num: int = 0
    size: float = 1.0
    keepout: float = 0.0
    limit: float = 1.0
    constrain: bool = False
    observe: bool = False

    def validate(self) -> None:
        super().validate()
        if self.observe:
            raise ValueError("observe_velocity: the speed limit has no lidar")
        if self.num != 0:
            raise ValueError("velocity_num: the speed limit has no bodies; set constrain_velocity")
        if not self.limit > 0:
            raise ValueError(f"velocity_limit must be > 0, got {self.limit!r}")

    def costs(self, ix, ctx: CostContext, params: dict) -> dict[str, Array]:
        speed = jnp.linalg.norm(ctx.robot_pos[:2] - ctx.robot_prev_pos[:2]) / ctx.control_dt
        return {"cost_velocity": (speed > params["velocity_limit"]).astype(jnp.float32)}
