"""Buttons: four static spheres; touching the goal button scores, touching another one costs.

Build half: one mocap body per button (positions per world in `data.mocap_pos`), a sphere that
the robot collides with, as in Safety Gym. Run half: per-button contact counts, from which the
Button task reads "goal reached" and this element the cost (spec sections 4.2 and 5.1): a contact
with a button other than the goal button costs `buttons_cost` per contact point, but only while
the button timer is 0 (the 10 steps after a success are free), and the buttons lidar reads zero
while the timer runs (spec 8.2).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from safejax.elements.base import CostContext
from safejax.elements.mocap import MocapElement, MocapIndex
from safejax.types import Array


def contact_counts(robot_contacts: Array, button_geoms: np.ndarray) -> Array:
    """(num,) robot contact points per button (`physics.robot_contacts`)."""
    if button_geoms.shape[0] == 0:
        return jnp.zeros(button_geoms.shape, jnp.float32)
    return robot_contacts[button_geoms].astype(jnp.float32)


def cost(counts: Array, goal_button: Array, timer: Array, params: dict) -> Array:
    """buttons_cost x contacts with non-goal buttons, while the timer is 0 (before binarising)."""
    others = jnp.where(jnp.arange(counts.shape[0]) == goal_button, 0.0, counts)
    return jnp.where(timer == 0, params["buttons_cost"] * jnp.sum(others), 0.0)


@dataclasses.dataclass(frozen=True)
class Buttons(MocapElement):
    """Safety Gym's buttons (engine defaults, spec section 2). The goal button and the timer are
    the Button task's state (`task["goal_button"]`, `task["timer"]`)."""

    group: ClassVar[str] = "buttons"
    lidar_rank: ClassVar[int] = 0
    PARAMS: ClassVar[tuple[str, ...]] = ("keepout", "cost", "resampling_delay")
    COSTS: ClassVar[tuple[str, ...]] = ("buttons",)

    num: int = 0
    size: float = 0.1
    keepout: float = 0.3
    cost: float = 1.0
    resampling_delay: int = 10
    redraw_same: bool = True  # Safety Gym may re-draw the goal button just pressed
    constrain: bool = False
    observe: bool = False

    def validate(self) -> None:
        super().validate()
        if self.resampling_delay < 0:
            raise ValueError(f"buttons_resampling_delay must be >= 0, got {self.resampling_delay}")

    def xml(self) -> str:
        s = self.size
        return "".join(
            f"""
<body name="button{i}" mocap="true" pos="0 0 {s}">
  <geom name="button{i}" type="sphere" size="{s}" rgba="1 .5 0 1" class="button"/>
</body>"""
            for i in range(self.num)
        )

    def costs(self, ix: MocapIndex, ctx: CostContext, params: dict) -> dict[str, Array]:
        if "goal_button" not in ctx.task:
            raise ValueError("constrain_buttons needs the button task (it names the goal button)")
        counts = contact_counts(ctx.robot_contacts, ix.geoms)
        return {"cost_buttons": cost(counts, ctx.task["goal_button"], ctx.task["timer"], params)}

    def lidar(self, ix: MocapIndex, reading: Array, task: dict) -> Array:
        if "timer" not in task:
            return reading
        return jnp.where(task["timer"] > 0, 0.0, reading)
