"""Hazards: flat circles that cost while the robot's origin is inside them.

Analytic: no physics body and no contact, only positions kept in `State.objects`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp

from safejax.elements.base import CostContext, Element
from safejax.types import Array


def hazard_cost(robot_xy: Array, hazards_xy: Array, size: Array, weight: Array) -> Array:
    """Safety Gym's distance-shaped hazard cost before binarisation (spec section 5.1).

    Sum over hazards whose centre is within `size` of the robot body origin of
    weight * (size - distance).
    """
    if hazards_xy.shape[0] == 0:
        return jnp.zeros((), jnp.float32)
    d = jnp.linalg.norm(hazards_xy - robot_xy[None, :], axis=-1)
    return jnp.sum(jnp.where(d <= size, weight * (size - d), 0.0))


@dataclasses.dataclass(frozen=True)
class Hazards(Element):
    """Safety Gym's hazards (engine defaults, spec section 2)."""

    group: ClassVar[str] = "hazards"
    lidar_rank: ClassVar[int] = 2
    PARAMS: ClassVar[tuple[str, ...]] = ("size", "keepout", "cost")
    COSTS: ClassVar[tuple[str, ...]] = ("hazards",)
    ALWAYS_STORED: ClassVar[bool] = True  # every world's state has its hazards, as before

    num: int = 0
    size: float = 0.3
    keepout: float = 0.4
    cost: float = 1.0
    constrain: bool = False
    observe: bool = False

    def costs(self, ix, ctx: CostContext, params: dict) -> dict[str, Array]:
        xy = self.positions(ix, ctx.data, ctx.objects)
        size, weight = params["hazards_size"], params["hazards_cost"]
        return {"cost_hazards": hazard_cost(ctx.robot_pos[:2], xy, size, weight)}
