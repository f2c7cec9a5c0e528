"""Tasks: reward, goal state and goal re-sampling, one module each (goal, button, push).

A task is built once per environment from its config and the scene's index tables, and exposes
  layout:  the layout entries it adds right after the robot, (group, count, keepout param);
  reset(key, frame, placed, params) -> task state (a dict of arrays, always with "goal");
  step(frame, task, params, key, others) -> TaskStep (new state, clipped dense reward, goal met,
           re-sampling failed); `others` are the (xy, keepout) of every layout entry but the
           goal, at their current positions, for goal re-sampling.
"""

from safejax.tasks.button import ButtonTask
from safejax.tasks.goal import GoalTask
from safejax.tasks.push import PushTask

TASKS = {"goal": GoalTask, "button": ButtonTask, "push": PushTask}

__all__ = ["TASKS", "ButtonTask", "GoalTask", "PushTask"]
