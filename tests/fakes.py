"""Stand-ins for fast tests: a physics-free env with the `safejax` Env API and a tiny config.

`FakeEnv`: a point on a plane must reach a goal while avoiding a circular hazard (cost 1 per step
inside it). Leaving the square arena terminates the episode (no bootstrap); the time limit
truncates it (bootstrap). The reward is the decrease in distance to the goal, as Safety Gym's
dense goal reward. Everything is analytic, so a rollout compiles in seconds.

`TINY`: learner overrides small enough that a run of a few updates on `FakeEnv` compiles and
trains in seconds (4 worlds x 8 steps per update); `tiny_args()` is the same as `--set` flags.
Modules that run learners through `agents.run`, sweeps or the command lines share it, so their
runs are comparable and a change of size is made once.

Imported as `tests.fakes` (the repository root is on `sys.path` under pytest, see pyproject.toml,
and in subprocesses started from the root).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from safejax.types import Array, State

TINY: dict[str, Any] = {
    "num_envs": 4,
    "rollout_len": 8,
    "hidden_sizes": [8, 8],
    "pi_iters": 2,
    "vf_iters": 2,
    "vf_minibatches": 2,
}


def tiny_args() -> list[str]:
    """`TINY` as command-line flags: `--set KEY=VALUE` for each entry."""
    return [f"--set={key}={value}" for key, value in TINY.items()]


class FakeEnv:
    """Point, goal and hazard drawn in [-spawn, spawn]^2; leaving [-arena, arena]^2 terminates."""

    def __init__(
        self,
        num_steps: int = 20,
        arena: float = 2.0,
        spawn: float = 1.0,
        hazard_radius: float = 0.5,
        speed: float = 0.2,
        name: str = "FakeGoal",
    ):
        self.name = name
        self.num_steps = int(num_steps)
        self.arena = float(arena)
        self.spawn = float(spawn)
        self.hazard_radius = float(hazard_radius)
        self.speed = float(speed)
        self.action_size = 2
        self.obs_layout = {"pos": slice(0, 2), "goal": slice(2, 4), "hazard": slice(4, 6)}
        self.observation_size = 6

    def _obs(self, pos: Array, goal: Array, hazard: Array) -> Array:
        return jnp.concatenate([pos, goal - pos, hazard - pos]).astype(jnp.float32)

    def reset(self, key: Array) -> State:
        key, k_pos, k_goal, k_haz = jax.random.split(key, 4)
        pos = jax.random.uniform(k_pos, (2,), minval=-self.spawn, maxval=self.spawn)
        goal = jax.random.uniform(k_goal, (2,), minval=-self.spawn, maxval=self.spawn)
        hazard = 0.5 * (pos + goal) + 0.1 * jax.random.normal(k_haz, (2,))
        zero = jnp.zeros((), jnp.float32)
        return State(
            data=None,
            task={"pos": pos, "goal": goal},
            objects={"hazard": hazard},
            obs=self._obs(pos, goal, hazard),
            reward=zero,
            cost=zero,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            step=jnp.zeros((), jnp.int32),
            key=key,
            metrics={"cost_hazards": zero, "goal_met": zero},
        )

    def step(self, state: State, action: Array) -> State:
        pos, goal = state.task["pos"], state.task["goal"]
        hazard = state.objects["hazard"]
        new_pos = pos + self.speed * jnp.clip(action, -1.0, 1.0)
        reward = jnp.linalg.norm(goal - pos) - jnp.linalg.norm(goal - new_pos)
        cost = (jnp.linalg.norm(new_pos - hazard) < self.hazard_radius).astype(jnp.float32)
        goal_met = (jnp.linalg.norm(goal - new_pos) < 0.2).astype(jnp.float32)
        step = state.step + 1
        terminated = jnp.any(jnp.abs(new_pos) > self.arena)
        truncated = (step >= self.num_steps) & ~terminated
        return state.replace(
            task={"pos": new_pos, "goal": goal},
            obs=self._obs(new_pos, goal, hazard),
            reward=reward.astype(jnp.float32),
            cost=cost,
            terminated=terminated,
            truncated=truncated,
            step=step,
            metrics={"cost_hazards": cost, "goal_met": goal_met},
        )
