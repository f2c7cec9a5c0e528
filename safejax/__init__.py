"""safejax: Safety Gym as pure JAX functions over MuJoCo MJX.

    env = safejax.make("PointGoal1")
    state = jax.jit(env.reset)(key)
    state = jax.jit(env.step)(state, action)
    venv = safejax.VecEnv(env, 1024)
"""

from __future__ import annotations

import contextlib
import io

# Importing it applies safejax's CPU flags to XLA_FLAGS; it must come before the first JAX
# computation of the process, since XLA reads its flags once.
from safejax import xla_flags  # noqa: F401

# mujoco.mjx prints a notice on stdout when the optional Warp backend is absent (the CPU default);
# keep stdout clean for machine-readable output (`benchmarks.sps --json`).
with contextlib.redirect_stdout(io.StringIO()):
    from mujoco import mjx  # noqa: F401

from safejax.config import EnvConfig
from safejax.env import Env
from safejax.registry import canonical_name, config_for, registered_names
from safejax.types import State
from safejax.vector import EpisodeStats, VecEnv, VecState


def make(name: str, **overrides) -> Env:
    """Builds the environment `name` ("PointGoal1", "Safexp-PointGoal1-v0" or
    "SafetyPointGoal1-v0"); keyword overrides replace EnvConfig fields (unknown keys error)."""
    config = config_for(name, **overrides)
    return Env(config, name=canonical_name(name))


__all__ = [
    "Env",
    "EnvConfig",
    "EpisodeStats",
    "State",
    "VecEnv",
    "VecState",
    "make",
    "registered_names",
]
