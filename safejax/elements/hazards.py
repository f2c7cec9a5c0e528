"""Hazards: flat circles that cost while the robot's origin is inside them.

Analytic: no physics body and no contact, only positions kept in `State`.
"""

from __future__ import annotations

import jax.numpy as jnp

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
