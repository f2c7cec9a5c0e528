"""The task protocol: what a task contributes to a world besides its reward.

A task is built once per environment from its config (`Task(config)`), contributes its bodies
to the scene (`xml`), finds them in the compiled model (`bind`), and is then given the scene's
index tables (`task.index`, a `safejax.scene.SceneIndex`) before the first reset. It declares:

  layout:   the layout entries it adds right after the robot, (group, count, keepout param)
  PARAMS:   the config keys it adds to the numeric params (`Env.params`)
  lidars(): the lidar groups it observes, as (lidar rank, group); elements declare theirs
            (`Element.lidar_rank`) and the observation orders them all by rank
  COSTS:    cost metrics of its own (each `cost_...`), for tasks with a constraint of their own
  SETTINGS: its own config keys with their defaults (accepted wherever EnvConfig keys are)

and implements, purely and traceably:

  place(key, placed, world) -> world      its physics objects at their sampled layout
  positions(data, task) -> {group: (n, 2)}  its lidar groups' and layout entries' positions
  reset(key, frame, placed, params) -> task state (a dict of arrays)
  step(frame, task, params, key, others) -> TaskStep (new state, clipped dense reward, goal
           met, re-sampling failed); `others` are the (xy, keepout) of every layout entry but
           the goal, at their current positions, for goal re-sampling
  costs(frame, task, params) -> {metric: raw cost}   its own constraint (default: none)
"""

from __future__ import annotations

from typing import Any, ClassVar

from safejax.config import EnvConfig
from safejax.elements.base import SceneInfo, World
from safejax.types import Array, Frame

# Lidar ranks of the task's groups among the elements' (Safety-Gymnasium's per-task orders
# [goal, hazards, vases], [buttons, goal, hazards, gremlins], [goal, hazards, pillars, box] are
# all sub-sequences of buttons 0, goal 1, hazards 2, vases 3, pillars 4, gremlins 5, box 6).
GOAL_LIDAR_RANK = 1
BOX_LIDAR_RANK = 6


class Task:
    """Defaults shared by the tasks (no bodies, no params or costs of their own)."""

    name: ClassVar[str] = ""
    # Whether the task state has a "goal" (2,) position (drawn by `safejax.render`).
    HAS_GOAL: ClassVar[bool] = True
    layout: ClassVar[tuple[tuple[str, int, str], ...]] = ()
    PARAMS: ClassVar[tuple[str, ...]] = ()
    COSTS: ClassVar[tuple[str, ...]] = ()
    # The task's own config keys and their defaults (`config.circle_radius`, ...).
    SETTINGS: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: EnvConfig):
        self.config = config
        self.index: Any = None  # the scene's index tables, set by the Env after `bind`

    @classmethod
    def cost_keys(cls) -> tuple[str, ...]:
        return tuple(f"cost_{c}" for c in cls.COSTS)

    def validate(self) -> None:
        """Raises ValueError naming the key of a config this task cannot run."""

    def xml(self) -> str:
        return ""

    def bind(self, model, scene: SceneInfo) -> Any:
        return None

    def lidars(self) -> tuple[tuple[int, str], ...]:
        return ((GOAL_LIDAR_RANK, "goal"),) if self.config.observe_goal_lidar else ()

    def place(self, key: Array, placed: dict[str, Array], world: World) -> World:
        return world

    def positions(self, data, task: dict) -> dict[str, Array]:
        return {"goal": task["goal"][None, :]}

    def costs(self, frame: Frame, task: dict, params: dict) -> dict[str, Array]:
        return {}


