"""Goal task: reach a series of goal circles (spec section 4.1).

Reward = reward_distance * (previous planar distance - distance) + reward_goal on reaching the
goal (distance <= goal_size); the goal is then re-sampled against the current layout and the
previous distance reset, so re-sampling never produces a shaping jump.
"""

from __future__ import annotations

import jax.numpy as jnp

from safejax import placement
from safejax.config import EnvConfig
from safejax.tasks.base import Task
from safejax.types import Array, Frame, TaskStep


def clip_reward(r: Array, params: dict) -> Array:
    """Safety Gym clips the dense reward to +-reward_clip (before the goal bonus is added)."""
    return jnp.clip(r, -params["reward_clip"], params["reward_clip"])


def dense_reward(last_dist: Array, dist: Array, params: dict) -> Array:
    """Distance shaping toward the goal, clipped."""
    return clip_reward(params["reward_distance"] * (last_dist - dist), params)


def planar_distance(a: Array, b: Array) -> Array:
    return jnp.linalg.norm(a[:2] - b[:2])


def resample_goal(
    key: Array, need: Array, others: tuple[Array, Array], params: dict, config: EnvConfig
) -> tuple[Array, Array]:
    """A new goal position clear of every other layout entry (spec section 7.3), drawn only
    where `need`; returns (xy, found)."""
    others_xy, others_keepout = others
    return placement.resample_point(
        key,
        need,
        params["placements_extents"],
        params["goal_keepout"],
        others_xy,
        others_keepout,
        num_candidates=config.goal_candidates,
        max_rounds=config.goal_max_rounds,
    )


class GoalTask(Task):
    """State: {"goal": (2,) goal xy, "last_dist_goal": planar robot-goal distance}."""

    name = "goal"
    layout = (("goal", 1, "goal_keepout"),)

    def reset(self, key: Array, frame: Frame, placed: dict[str, Array], params: dict) -> dict:
        goal = placed["goal"][0]
        return {"goal": goal, "last_dist_goal": planar_distance(frame.robot_pos, goal)}

    def step(
        self, frame: Frame, task: dict, params: dict, key: Array, others: tuple[Array, Array]
    ) -> TaskStep:
        dist = planar_distance(frame.robot_pos, task["goal"])
        reward = dense_reward(task["last_dist_goal"], dist, params)
        goal_met = (dist <= params["goal_size"]) & frame.ok
        new_goal, found = resample_goal(key, goal_met, others, params, self.config)
        goal = jnp.where(goal_met & found, new_goal, task["goal"])
        last = jnp.where(goal_met, planar_distance(frame.robot_pos, goal), dist)
        task = {"goal": goal, "last_dist_goal": last}
        return TaskStep(task, reward, goal_met, goal_met & ~found)
