"""Button task: press the goal button among four (spec sections 1.3, 4.2).

Reward = reward_distance * (previous planar distance - distance) to the goal button, plus
reward_goal when a robot geom touches it. After a success a new goal button is drawn and the
button timer starts (`buttons_resampling_delay` = 10 steps), during which the buttons lidar reads
zero and touching a wrong button is free (see elements/buttons.py for the cost).

Safety Gym quirk kept (docs/FIDELITY.md, "Quirks"): the new goal button is drawn uniformly from
all buttons, including the one just pressed, and reaching it ignores the timer, so a robot that
keeps touching a re-drawn button scores again on the next step. `buttons_redraw_same=False`
draws among the other buttons instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from safejax.elements import buttons
from safejax.tasks.base import Task
from safejax.tasks.goal import dense_reward, planar_distance
from safejax.types import Array, Frame, TaskStep


class ButtonTask(Task):
    """State: {"goal": (2,) goal button xy, "goal_button": int32 index, "timer": int32 steps
    left on the button timer, "last_dist_goal": planar robot-goal distance}."""

    name = "button"
    layout = ()  # the buttons are elements; the goal is one of them

    def validate(self) -> None:
        if self.config.buttons_num < 1:
            n = self.config.buttons_num
            raise ValueError(f"the button task needs buttons_num >= 1, got {n}")

    def _draw(self, key: Array, current: Array) -> Array:
        n = self.config.buttons_num
        if self.config.buttons_redraw_same or n == 1:
            return jax.random.randint(key, (), 0, n)
        return (current + jax.random.randint(key, (), 1, n)) % n

    def reset(self, key: Array, frame: Frame, placed: dict[str, Array], params: dict) -> dict:
        goal_button = jax.random.randint(key, (), 0, self.config.buttons_num)
        goal = placed["buttons"][goal_button]
        return {
            "goal": goal,
            "goal_button": goal_button,
            "timer": jnp.zeros((), jnp.int32),
            "last_dist_goal": planar_distance(frame.robot_pos, goal),
        }

    def step(
        self, frame: Frame, task: dict, params: dict, key: Array, others: tuple[Array, Array]
    ) -> TaskStep:
        dist = planar_distance(frame.robot_pos, task["goal"])
        reward = dense_reward(task["last_dist_goal"], dist, params)
        counts = buttons.contact_counts(frame.robot_contacts, self.index.elements["buttons"].geoms)
        goal_met = (counts[task["goal_button"]] > 0) & frame.ok
        timer = jnp.maximum(task["timer"] - 1, 0)
        goal_button = jnp.where(goal_met, self._draw(key, task["goal_button"]), task["goal_button"])
        delay = params["buttons_resampling_delay"].astype(jnp.int32)
        timer = jnp.where(goal_met, delay, timer)
        goal = frame.objects["buttons"][goal_button]
        last = jnp.where(goal_met, planar_distance(frame.robot_pos, goal), dist)
        task = {"goal": goal, "goal_button": goal_button, "timer": timer, "last_dist_goal": last}
        return TaskStep(task, reward, goal_met, jnp.array(False))
