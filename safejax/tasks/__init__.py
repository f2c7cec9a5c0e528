"""Tasks: reward, goal state and goal re-sampling, one module each (see `safejax.tasks.base`
for the protocol). `TASKS` is the registry: a new task is one module and one entry here."""

from safejax.tasks.base import Task
from safejax.tasks.button import ButtonTask
from safejax.tasks.circle import CircleTask
from safejax.tasks.goal import GoalTask
from safejax.tasks.push import PushTask
from safejax.tasks.run import RunTask

TASKS: dict[str, type[Task]] = {
    "goal": GoalTask,
    "button": ButtonTask,
    "push": PushTask,
    "circle": CircleTask,
    "run": RunTask,
}

__all__ = ["TASKS", "ButtonTask", "CircleTask", "GoalTask", "PushTask", "RunTask", "Task"]
