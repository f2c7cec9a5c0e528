"""safejax: Safety Gym as pure JAX functions over MuJoCo MJX.

    env = safejax.make("PointGoal1")
    state = jax.jit(env.reset)(key)
    state = jax.jit(env.step)(state, action)
    venv = safejax.VecEnv(env, 1024)
"""

from __future__ import annotations

import contextlib
import io

# Imported first for their effect: `xla_flags` appends safejax's CPU flags to XLA_FLAGS (XLA reads
# them once, at the first JAX computation); `render_backend` picks a headless OpenGL backend (EGL,
# else OSMesa) for `safejax.render` unless MUJOCO_GL is set (MuJoCo reads it once, on import).
from safejax import render_backend, xla_flags  # noqa: F401

# mujoco.mjx prints a notice on stdout when the optional Warp backend is absent (the CPU default);
# keep stdout clean for machine-readable output (`benchmarks.sps --json`).
with contextlib.redirect_stdout(io.StringIO()):
    from mujoco import mjx  # noqa: F401

from safejax import registry
from safejax.config import EnvConfig
from safejax.env import Env
from safejax.registry import canonical_name, config_for, registered_names
from safejax.render import Renderer, render
from safejax.types import State
from safejax.vector import EpisodeStats, VecEnv, VecState, stagger_clocks
from safejax.worlds import make_custom


def make(name: str, **overrides) -> Env:
    """Builds the environment `name` ("PointGoal1", "Safexp-PointGoal1-v0" or
    "SafetyPointGoal1-v0", a world registered by `make_custom(..., name=)`, or a YAML world file
    `path.yaml`); keyword overrides replace EnvConfig keys (unknown keys error)."""
    config = config_for(name, **overrides)
    return Env(config, name=registry.display_name(name))


__all__ = [
    "Env",
    "EnvConfig",
    "EpisodeStats",
    "State",
    "VecEnv",
    "VecState",
    "stagger_clocks",
    "Renderer",
    "canonical_name",
    "config_for",
    "make",
    "make_custom",
    "render",
    "registered_names",
]
