"""Environment names: "PointGoal1" -> EnvConfig, with Safety Gym and Safety-Gymnasium aliases.

The suite's levels are rows of data in configs/suite.yaml; this module merges them.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import re

import yaml

from safejax.config import EnvConfig, check_keys

ROBOT_NAMES = {"point": "Point", "car": "Car", "doggo": "Doggo"}
TASK_NAMES = {"goal": "Goal", "button": "Button", "push": "Push"}
LEVELS = (0, 1, 2)
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
        for lvl in LEVELS
    ]


def canonical_name(name: str) -> str:
    """Resolves aliases ("Safexp-PointGoal1-v0", "SafetyPointGoal1-v0") to "PointGoal1"."""
    m = _ALIAS.match(name)
    base = m.group("base") if m else name
    names = registered_names()
    if base not in names:
        close = difflib.get_close_matches(base, names, n=1)
        hint = f" Closest match: {close[0]!r}." if close else ""
        raise ValueError(f"unknown environment {name!r}.{hint} Valid names: {', '.join(names)}")
    return base


def config_for(name: str, **overrides) -> EnvConfig:
    """The merged EnvConfig of a registered name, with overrides applied (unknown keys error)."""
    base = canonical_name(name)
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
