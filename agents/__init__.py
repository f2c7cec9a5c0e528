"""Learners: jitted, vmappable constrained RL algorithms over `safejax.vector.VecEnv`.

`ALGORITHMS` maps an algorithm name to the module that implements it. Each module provides
`Config` (a frozen dataclass whose fields are exactly the keys of its YAML), `DEFAULT_CONFIG`
(the YAML file name in `configs/`) and `make_train(config, env) -> Learner`. Add an algorithm by
adding one module and one entry here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ALGORITHMS: dict[str, str] = {
    "ppo": "agents.ppo",
    "ppo_lag": "agents.ppo_lag",
    "pid_lag": "agents.pid_lag",
    "trpo": "agents.trpo",
    "trpo_lag": "agents.trpo_lag",
    "cpo": "agents.cpo",
}


def algorithm_names() -> list[str]:
    """Registered algorithm names, sorted."""
    return sorted(ALGORITHMS)


def get_algorithm(name: str) -> ModuleType:
    """The module implementing algorithm `name`; a ValueError listing valid names otherwise."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(algorithm_names())}")
    return importlib.import_module(ALGORITHMS[name])
