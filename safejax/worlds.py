"""User-built worlds: any robot, task and elements, as Safety Gym's Engine allowed.

    env = safejax.make_custom(
        robot="point", task="goal",
        elements={"hazards": {"num": 12, "size": 0.25, "constrain": True, "observe": True},
                  "vases": 3},
        name="PointGoalCrowded",              # optional: register it under this name
        placements_extents=(-2, -2, 2, 2),    # any EnvConfig key
    )

A world starts from Safety Gym's engine defaults (or from a registered environment, `base=`),
takes the given elements (a count, or a dict of the element's fields) and settings, and is
checked before anything compiles: an unknown robot, task, element, element field or setting, or
an impossible value, raises ValueError naming the key. With a `name` it is registered, so
`safejax.make(name)`, `benchmarks.run`, the sweep and the Gymnasium and Brax adapters find it
in this process. A YAML world file holds the same keys (`name`, `robot`, `task`, `base`,
`elements`, `settings`) and is accepted wherever an environment name is (`--env worlds/x.yaml`),
which lets a run directory rebuild the world in a later process.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from safejax import elements as element_registry
from safejax import registry
from safejax.config import EnvConfig, check_keys

FILE_KEYS = ("name", "robot", "task", "base", "elements", "settings")


def _closest(word: str, valid) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _element_overrides(elements: Mapping[str, Any]) -> dict[str, Any]:
    """{"hazards": 12 | {"num": 12, ...}} -> flat keys {"hazards_num": 12, ...}, checked."""
    if not isinstance(elements, Mapping):
        raise ValueError(f"elements must be a mapping of element name to count or fields, "
                         f"got {type(elements).__name__}")  # fmt: skip
    by_group = {cls.group: cls for cls in element_registry.ELEMENTS}
    out: dict[str, Any] = {}
    for group, spec in elements.items():
        if group not in by_group:
            raise ValueError(
                f"unknown element {group!r}{_closest(str(group), by_group)}; "
                f"elements: {', '.join(by_group)}"
            )
        cls = by_group[group]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if isinstance(spec, bool) or not isinstance(spec, int | Mapping):
            raise ValueError(
                f"element {group!r}: give a count or a mapping of its fields "
                f"({', '.join(fields)}), got {spec!r}"
            )
        spec = {"num": spec} if isinstance(spec, int) else dict(spec)
        keys = cls.flat_keys()
        inverse = {f: k for k, f in keys.items()}
        for field, value in spec.items():
            if field not in fields:
                raise ValueError(
                    f"unknown key {field!r} for element {group!r}{_closest(str(field), fields)}; "
                    f"its keys: {', '.join(fields)}"
                )
            out[inverse[field]] = value
    return out


def build_config(
    robot: str | None = None,
    task: str | None = None,
    elements: Mapping[str, Any] | None = None,
    base: str | None = None,
    **settings: Any,
) -> EnvConfig:
    """The checked EnvConfig of a user-built world (see the module docstring)."""
    from safejax.robots import ROBOTS
    from safejax.tasks import TASKS

    config = registry.config_for(base) if base is not None else EnvConfig()
    if robot is not None and robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}{_closest(robot, ROBOTS)}; robots: "
                         f"{', '.join(ROBOTS)}")  # fmt: skip
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}{_closest(task, TASKS)}; tasks: "
                         f"{', '.join(TASKS)}")  # fmt: skip
    for key in ("robot", "task", "base", "elements", "task_settings"):
        if key in settings:
            raise ValueError(f"give {key!r} as its own argument, not as a setting")
    check_keys(settings, "setting")
    overrides = dict(settings)
    if robot is not None:
        overrides["robot"] = robot
    if task is not None:
        overrides["task"] = task
    overrides.update(_element_overrides(elements or {}))
    try:
        config = config.replace(**overrides)
    except TypeError as e:
        raise ValueError(str(e)) from e
    config.validate()  # element fields' types included
    TASKS[config.task](config).validate()
    for spec in config.elements:
        if spec.constrain and spec.group == "buttons" and config.task != "button":
            raise ValueError("constrain_buttons needs task='button' (it names the goal button)")
    foreign = set(dict(config.task_settings)) - set(TASKS[config.task].SETTINGS)
    if foreign:
        k = sorted(foreign)[0]
        owner = next(n for n, t in TASKS.items() if k in t.SETTINGS)
        raise ValueError(f"{k} is a setting of the {owner} task; this world's task is "
                         f"{config.task!r}")  # fmt: skip
    return config


def make_custom(
    robot: str | None = None,
    task: str | None = None,
    elements: Mapping[str, Any] | None = None,
    name: str | None = None,
    base: str | None = None,
    **settings: Any,
):
    """Builds (and, with `name`, registers) a user-built world; returns its `Env`. `robot` and
    `task` default to those of `base`, or to Safety Gym's engine defaults (point, goal)."""
    from safejax.env import Env

    config = build_config(robot, task, elements, base=base, **settings)
    if name is not None:
        registry.register(name, config, overwrite=True)
    return Env(config, name=name or f"Custom{config.robot.capitalize()}{config.task.capitalize()}")


def parse(spec: Mapping[str, Any], source: str = "world") -> tuple[str, EnvConfig]:
    """(name, config) of a world file's mapping."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{source}: a world file holds a mapping with keys {', '.join(FILE_KEYS)}")
    unknown = [k for k in spec if k not in FILE_KEYS]
    if unknown:
        k = str(unknown[0])
        raise ValueError(f"{source}: unknown key {k!r}{_closest(k, FILE_KEYS)}; "
                         f"keys: {', '.join(FILE_KEYS)}")  # fmt: skip
    if "name" not in spec:
        raise ValueError(f"{source}: a world needs a 'name'")
    settings = spec.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"{source}: 'settings' must be a mapping of EnvConfig keys")
    for key in ("robot", "task", "base", "elements", "name"):
        if key in settings:
            raise ValueError(f"{source}: {key!r} belongs at the top level, not under 'settings'")
    try:
        config = build_config(
            spec.get("robot"), spec.get("task"), spec.get("elements"), spec.get("base"),
            **settings,
        )  # fmt: skip
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from e
    return str(spec["name"]), config


@functools.cache
def _load(path: str, mtime: float) -> tuple[str, EnvConfig]:
    with open(path) as f:
        spec = yaml.safe_load(f)
    name, config = parse(spec, source=path)
    registry.register(name, config, overwrite=True)
    return name, config


def load(path: str | os.PathLike) -> tuple[str, EnvConfig]:
    """(name, config) of a YAML world file, registered under its name."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no world file at {str(path)!r}")
    return _load(os.path.abspath(p), p.stat().st_mtime)
