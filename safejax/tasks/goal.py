"""Goal task: reach a series of goal circles (spec section 4.1).

Reward = reward_distance * (previous planar distance - distance) + reward_goal on reaching the
goal (distance <= goal_size); the goal is then re-sampled against the current layout and the
previous distance reset, so re-sampling never produces a shaping jump.
"""

from __future__ import annotations

import jax.numpy as jnp

from safejax.types import Array


def dense_reward(last_dist: Array, dist: Array, params: dict) -> Array:
    """Distance shaping, clipped to +-reward_clip as Safety Gym does (before the goal bonus)."""
    r = params["reward_distance"] * (last_dist - dist)
    return jnp.clip(r, -params["reward_clip"], params["reward_clip"])


def planar_distance(a: Array, b: Array) -> Array:
    return jnp.linalg.norm(a[:2] - b[:2])
