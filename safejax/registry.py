"""Environment names: "PointGoal1" -> EnvConfig, with Safety Gym and Safety-Gymnasium aliases.

The suite's levels are rows of data in configs/suite.yaml; this module merges them.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import os
import re

import yaml

from safejax.config import EnvConfig, check_keys

ROBOT_NAMES = {"point": "Point", "car": "Car", "doggo": "Doggo"}
TASK_NAMES = {
    "goal": "Goal",
    "button": "Button",
    "push": "Push",
    "circle": "Circle",
    "run": "Run",
}
_ALIAS = re.compile(r"^(?:Safexp-|Safety)(?P<base>[A-Za-z]+\d)-v0$")


@functools.cache
def _suite() -> dict:
    text = importlib.resources.files("configs").joinpath("suite.yaml").read_text()
    return yaml.safe_load(text)


def registered_names() -> list[str]:
    """All canonical environment names, e.g. ["PointGoal0", "PointGoal1", ...]."""
    suite = _suite()
    return [
        f"{ROBOT_NAMES[r]}{TASK_NAMES[t]}{lvl}"
        for r in ROBOT_NAMES
        if r in suite["robots"]
        for t in TASK_NAMES
        if t in suite["tasks"]
        for lvl in sorted(suite["tasks"][t]["levels"])
    ]


# User-built worlds registered in this process (`safejax.make_custom(..., name=)`, `register`).
_CUSTOM: dict[str, EnvConfig] = {}


def is_world_file(name: str) -> bool:
    """Whether `name` is a path to a YAML world file (`safejax.worlds`)."""
    return isinstance(name, str) and name.endswith((".yaml", ".yml"))


def register(name: str, config: EnvConfig, overwrite: bool = False) -> str:
    """Registers a user-built world under `name`, so that `safejax.make(name)`, the CLIs in this
    process and the Gymnasium and Brax adapters find it. Suite names cannot be taken."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", name):
        raise ValueError(f"world name {name!r} must be letters, digits, '_' or '-'")
    if name in registered_names() or _ALIAS.match(name):
        raise ValueError(f"{name!r} is a suite environment's name; choose another")
    if name in _CUSTOM and not overwrite and _CUSTOM[name] != config:
        raise ValueError(f"a different world is already registered as {name!r}")
    _CUSTOM[name] = config
    return name


def custom_names() -> list[str]:
    """The names of the user-built worlds registered in this process."""
    return list(_CUSTOM)


def canonical_name(name: str) -> str:
    """Resolves aliases ("Safexp-PointGoal1-v0", "SafetyPointGoal1-v0") to "PointGoal1". User
    worlds keep their name; a YAML world file (`path.yaml`) is loaded, registered and kept as
    its absolute path, so that a run that names it can rebuild it later from any directory."""
    if is_world_file(name):
        from safejax import worlds

        worlds.load(name)
        return os.path.abspath(name)
    m = _ALIAS.match(name)
    base = m.group("base") if m else name
    names = registered_names()
    if base not in names and base not in _CUSTOM:
        valid = names + custom_names()
        close = difflib.get_close_matches(base, valid, n=1)
        hint = f" Closest match: {close[0]!r}." if close else ""
        raise ValueError(
            f"unknown environment {name!r}.{hint} Valid names: {', '.join(valid)} "
            "(or a world file, path.yaml)"
        )
    return base


def display_name(name: str) -> str:
    """The environment's own name: a world file's `name`, else the canonical name."""
    if is_world_file(name):
        from safejax import worlds

        return worlds.load(name)[0]
    return canonical_name(name)


def config_for(name: str, **overrides) -> EnvConfig:
    """The merged EnvConfig of a registered name, with overrides applied (unknown keys error)."""
    base = canonical_name(name)
    if is_world_file(base):
        from safejax import worlds

        return worlds.load(base)[1].replace(**overrides)
    if base in _CUSTOM:
        return _CUSTOM[base].replace(**overrides)
    m = re.match(r"^([A-Z][a-z]+)([A-Z][a-z]+)(\d)$", base)
    robot = {v: k for k, v in ROBOT_NAMES.items()}[m.group(1)]
    task = {v: k for k, v in TASK_NAMES.items()}[m.group(2)]
    level = int(m.group(3))
    suite = _suite()
    tdict = suite["tasks"][task]
    merged: dict = {}
    merged.update(tdict.get("all", {}))
    merged.update((suite["robots"].get(robot) or {}).get(task, {}))
    if level > 0:
        merged.update(tdict.get("constrained", {}))
    merged.update(tdict["levels"][level] or {})
    check_keys(merged, f"key in configs/suite.yaml for {base}:")
    merged.update(robot=robot, task=task, level=level)
    return EnvConfig().replace(**merged).replace(**overrides)
