"""Learners: jitted, vmappable constrained RL algorithms over `safejax.vector.VecEnv`.

`ALGORITHMS` maps an algorithm name to the module that implements it. Each module provides
`Config` (a frozen dataclass whose fields are exactly the keys of its YAML), `DEFAULT_CONFIG`
(the YAML file name in `configs/`), `HYPERPARAMS` (the config fields its learner reads from the
train state, so that runs can vmap over them), `TRAINING_INERT` (config fields that do not change
what it trains) and `make_train(config, env) -> Learner`; optionally `RENAMED_METRICS` (a former
metric name -> its current name, applied to metrics.csv when an older run directory resumes) and
`FORMER_VALUES` (config fields added later -> the value the code had before them, filled into an
older run directory's config when it resumes or loads).
Add an algorithm by adding one module and one entry here.

The library entry points (imported on first use):

    agents.run(env, algo, steps, seeds, overrides, out_dir, grid=..., env_overrides=...)
    agents.resume(run_dir)
    agents.load_policy(run_dir) -> (env, act)        agents.load_run(run_dir) -> LoadedRun
    agents.sweep(envs, algos, seeds, out_dir, grid=...)
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


_LAZY = {
    "run": "agents.runner",
    "resume": "agents.runner",
    "plan": "agents.runner",
    "UsageError": "agents.runner",
    "load_policy": "agents.policy",
    "load_run": "agents.policy",
    "evaluate_run_dir": "agents.policy",
    "sweep": "agents.sweep",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
