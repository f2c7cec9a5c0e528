"""Push task: push the box onto a series of goal circles (spec sections 1.4, 4.3).

Reward = reward_box_dist * (previous - current robot-box distance) [gated off within
box_null_dist * box_size of the box; the suite sets box_null_dist = 0, so never]
+ reward_box_goal * (previous - current box-goal distance), clipped to +-reward_clip, plus
reward_goal when the box centre is within goal_size of the goal. Both distances are 3-D, as in
Safety Gym (a quirk kept): the robot origin is at its rest height, the box centre at z = box_size
and the goal at z = goal_size / 2 + 0.01. On success the goal is re-sampled against the current
layout (the box stays where it is) and the previous distances are reset.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from safejax.elements import box
from safejax.elements.base import SceneInfo, World
from safejax.tasks.base import BOX_LIDAR_RANK, Task
from safejax.tasks.goal import clip_reward, resample_goal
from safejax.types import Array, Frame, TaskStep


def goal_point(goal_xy: Array, params: dict) -> Array:
    """(3,) the goal body's position: Safety Gym's goal cylinder sits at z = size / 2 + 0.01."""
    return jnp.concatenate([goal_xy, (params["goal_size"] / 2 + 0.01)[None]])


class PushTask(Task):
    """State: {"goal": (2,) goal xy, "last_dist_box": 3-D robot-box distance,
    "last_box_goal": 3-D box-goal distance}. The task owns the push box (`elements/box.py`):
    its body, layout entry, pose at reset and lidar."""

    name = "push"
    layout = (("goal", 1, "goal_keepout"), ("box", 1, "box_keepout"))
    PARAMS = ("box_size", "box_keepout", "box_null_dist", "reward_box_dist", "reward_box_goal")

    @property
    def box(self) -> box.BoxIndex:
        return self.index.task

    def xml(self) -> str:
        return box.xml(self.config)

    def bind(self, model, scene: SceneInfo) -> box.BoxIndex:
        return box.index(model, True)

    def lidars(self) -> tuple[tuple[int, str], ...]:
        box_lidar = ((BOX_LIDAR_RANK, "box"),) if self.config.observe_box_lidar else ()
        return super().lidars() + box_lidar

    def place(self, key: Array, placed: dict[str, Array], world: World) -> World:
        """The box at its sampled position, at a uniformly random yaw."""
        yaw = jax.random.uniform(key, (), minval=0.0, maxval=2 * jnp.pi)
        return world._replace(qpos=box.set_pose(world.qpos, self.box, placed["box"][0], yaw))

    def positions(self, data, task: dict) -> dict[str, Array]:
        return {**super().positions(data, task), "box": box.position(data, self.box)[None, :2]}

    def reset(self, key: Array, frame: Frame, placed: dict[str, Array], params: dict) -> dict:
        box_pos = box.position(frame.data, self.box)
        goal = placed["goal"][0]
        return {
            "goal": goal,
            "last_dist_box": jnp.linalg.norm(frame.robot_pos - box_pos),
            "last_box_goal": jnp.linalg.norm(box_pos - goal_point(goal, params)),
        }

    def step(
        self, frame: Frame, task: dict, params: dict, key: Array, others: tuple[Array, Array]
    ) -> TaskStep:
        box_pos = box.position(frame.data, self.box)
        dist_box = jnp.linalg.norm(frame.robot_pos - box_pos)
        box_goal = jnp.linalg.norm(box_pos - goal_point(task["goal"], params))
        gate = task["last_dist_box"] > params["box_null_dist"] * params["box_size"]
        reward = params["reward_box_dist"] * (task["last_dist_box"] - dist_box) * gate
        reward += params["reward_box_goal"] * (task["last_box_goal"] - box_goal)
        reward = clip_reward(reward, params)
        goal_met = (box_goal <= params["goal_size"]) & frame.ok
        new_goal, found = resample_goal(key, goal_met, others, params, self.config)
        goal = jnp.where(goal_met & found, new_goal, task["goal"])
        last_box_goal = jnp.where(
            goal_met, jnp.linalg.norm(box_pos - goal_point(goal, params)), box_goal
        )
        task = {"goal": goal, "last_dist_box": dist_box, "last_box_goal": last_box_goal}
        return TaskStep(task, reward, goal_met, goal_met & ~found)
