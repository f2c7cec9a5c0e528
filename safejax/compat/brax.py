"""A safejax world behind brax's environment interface, so that brax's training code runs on it.

    from brax.training.agents.ppo import train as ppo
    from safejax.compat.brax import BraxEnv, jax_compat, wrap_for_training

    env = BraxEnv("PointGoal1")
    with jax_compat():
        make_policy, params, metrics = ppo.train(
            env, num_timesteps=10_000_000, num_envs=2048, episode_length=env.episode_length,
            wrap_env_fn=wrap_for_training)

`BraxEnv` has brax's contract: `reset(rng) -> State`, `step(state, action) -> State` on one world
(the caller, or brax's `VmapWrapper`, owns `vmap`), and the properties `observation_size`,
`action_size`, `backend` ("mjx") and `unwrapped`. `State` is `brax.envs.base.State` when brax is
importable (the `brax` extra), otherwise a structurally identical flax dataclass defined here, so
that the adapter itself never needs brax. The fields hold:

- `pipeline_state`: the world's `safejax.State`, whole (physics, task, objects, key, step count).
- `obs`: float32 `(observation_size,)`; `reward`: float32 scalar.
- `done`: float32, 1.0 on the step the episode terminates (a non-finite physics step or a failed
  goal re-sampling, `safejax.State.terminated`), 0.0 otherwise.
- `metrics`: `"cost"` (Safety Gym's binarised total cost of the step) and every key of
  `safejax.State.metrics` (each constraint's own cost, `cost_hazards` ..., and the flags
  `goal_met`, `physics_error`, ...). brax's `EpisodeWrapper` sums each over the episode, so its
  `episode_metrics["cost"]` is the episode cost and `episode_metrics["goal_met"]` the goals reached.
- `info`: `"cost"` as well (where brax's wrappers and learners read per-step extras), next to
  whatever the wrappers put there, which `step` carries along.

Episode length. The adapter exposes the raw world without safejax's time limit (its `params`
set `num_steps` to infinity), so `done` never reports a time-out and brax's `EpisodeWrapper` owns
episode length: pass `episode_length=env.episode_length` (Safety Gym's 1000 steps) to brax's
trainers. This is what brax's PPO needs to treat time-outs correctly. `EpisodeWrapper` sets
`done` at its limit and `info["truncation"] = 1 - done_of_the_inner_step`, and PPO's loss treats
`done` without `truncation` as a terminal state (no bootstrapping). Had the world also ended the
episode at its own limit, the inner `done` would be 1.0 at step 1000, `EpisodeWrapper` would
compute `truncation = 0`, and every time-out would be learned as a terminal state; a limit inside
the adapter cannot set `truncation` itself either, since `EpisodeWrapper` overwrites it each step.

Resets. brax's default training wrapper (`brax.envs.training.wrap`, used by `ppo.train` unless
`wrap_env_fn` is given) resets a finished world to the first state it had, so every episode of
a world replays that world's layout. Safety Gym draws a new layout for every episode;
`wrap_for_training`, a drop-in for brax's `wrap` (`wrap_env_fn=wrap_for_training`), does so: it
is brax's `VmapWrapper` and `EpisodeWrapper` with `LayoutResetWrapper`, an auto-reset that resets
finished worlds with fresh keys drawn from each world's own key stream (the same streams as
`safejax.VecEnv`), only on steps where some world finished.

jax versions. brax 0.14.2, the newest release, runs the adapter and its wrappers as they are, but
its trainers call `jax.device_put_replicated`, which jax 0.10 removed (the pinned jax is 0.10.2;
google/brax issue 671). `jax_compat()` provides it, as the drop-in of JAX's pmap migration guide
(a stacked copy per device, sharded over them), for the duration of a `with` block.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import safejax
from safejax.env import Env

Array = jax.Array

try:
    # mujoco.mjx prints a notice on stdout when its optional Warp backend is absent; brax's
    # imports reach it again.
    with contextlib.redirect_stdout(io.StringIO()):
        from brax.envs.base import Env as _EnvBase
        from brax.envs.base import State
    BRAX_AVAILABLE = True
except ImportError:
    BRAX_AVAILABLE = False
    _EnvBase = object

    @struct.dataclass
    class State:
        """brax's environment state (`brax.envs.base.State`), for use without brax: the same
        fields, in the same order, with the same defaults."""

        pipeline_state: Any
        obs: Any
        reward: Array
        done: Array
        metrics: dict[str, Array] = struct.field(default_factory=dict)
        info: dict[str, Any] = struct.field(default_factory=dict)


class BraxEnv(_EnvBase):
    """One safejax world with brax's `Env` interface (a subclass of `brax.envs.base.Env` when
    brax is importable)."""

    def __init__(self, env: Env | str, params: dict | None = None, **overrides):
        """`env`: a safejax `Env`, or a registered name built with `safejax.make(env,
        **overrides)`. `params`: the world's numeric settings (default `env.params`); their
        `num_steps` is replaced by infinity, since brax's `EpisodeWrapper` owns episode length
        (module docstring)."""
        if isinstance(env, str):
            env = safejax.make(env, **overrides)
        elif overrides:
            raise ValueError("keyword overrides apply only when env is a name")
        self.safejax_env = env
        params = dict(env.params if params is None else params)
        params["num_steps"] = jnp.asarray(jnp.inf, jnp.float32)
        self.params = params

    @property
    def observation_size(self) -> int:
        return self.safejax_env.observation_size

    @property
    def action_size(self) -> int:
        return self.safejax_env.action_size

    @property
    def backend(self) -> str:
        return "mjx"

    @property
    def unwrapped(self) -> BraxEnv:
        return self

    @property
    def episode_length(self) -> int:
        """Safety Gym's episode length for this world (1000 steps): the `episode_length` to
        give brax's trainers."""
        return int(self.safejax_env.num_steps)

    @property
    def dt(self) -> float:
        """Seconds of simulated time per `step`."""
        env = self.safejax_env
        return float(env.mj_model.opt.timestep) * env.config.substeps

    def reset(self, rng: Array) -> State:
        """A fresh world (a new layout) from a PRNG key."""
        s = self.safejax_env.reset(rng, self.params)
        return State(
            pipeline_state=s,
            obs=s.obs,
            reward=s.reward,
            done=s.terminated.astype(jnp.float32),
            metrics=_metrics(s),
            info={"cost": s.cost},
        )

    def step(self, state: State, action: Array) -> State:
        """One control step of the world in `state.pipeline_state`; the metrics and info keys
        that wrappers added to `state` are kept."""
        s = self.safejax_env.step(state.pipeline_state, action, self.params)
        return state.replace(
            pipeline_state=s,
            obs=s.obs,
            reward=s.reward,
            done=s.terminated.astype(jnp.float32),
            metrics={**state.metrics, **_metrics(s)},
            info={**state.info, "cost": s.cost},
        )


def _metrics(s: safejax.State) -> dict[str, Array]:
    return {"cost": s.cost, **s.metrics}


class LayoutResetWrapper(_EnvBase):
    """Auto-reset for a batch of `BraxEnv` worlds (the outermost wrapper, over brax's
    `EpisodeWrapper(VmapWrapper(env))`): a world whose episode ended gets a fresh layout.

    Like brax's `AutoResetWrapper`, a finished world's step count (`info["steps"]`) restarts on
    the next step, and the step that ended the episode keeps its reward, cost, `done`, metrics
    and info, with the observation replaced by the new episode's first one. Unlike it, the new
    state is a new `reset` (keyed from the world's own key stream, as in `safejax.VecEnv`), not
    the world's first state; the reset runs only on steps where some world finished.
    """

    def __init__(self, env: Any):
        self.env = env

    @property
    def observation_size(self) -> int:
        return self.env.observation_size

    @property
    def action_size(self) -> int:
        return self.env.action_size

    @property
    def backend(self) -> str:
        return self.unwrapped.backend

    @property
    def unwrapped(self) -> BraxEnv:
        return self.env.unwrapped

    def __getattr__(self, name: str) -> Any:
        if name in ("__setstate__", "env"):
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, rng: Array) -> State:
        return self.env.reset(rng)

    def step(self, state: State, action: Array) -> State:
        info = dict(state.info)
        if "steps" in info:
            info["steps"] = jnp.where(state.done > 0, jnp.zeros_like(info["steps"]), info["steps"])
        state = state.replace(done=jnp.zeros_like(state.done), info=info)
        state = self.env.step(state, action)
        done = state.done > 0

        def reset_done(st: State) -> State:
            keys = jax.vmap(lambda k: jax.random.split(k)[1])(st.pipeline_state.key)
            fresh = jax.vmap(self.unwrapped.reset)(keys)
            return st.replace(
                pipeline_state=_select(done, fresh.pipeline_state, st.pipeline_state),
                obs=_select(done, fresh.obs, st.obs),
            )

        return jax.lax.cond(jnp.any(done), reset_done, lambda st: st, state)


def _select(mask: Array, on_true: Any, on_false: Any) -> Any:
    """Per-world select over two batched pytrees (mask has shape (num_worlds,))."""

    def sel(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(sel, on_true, on_false)


def wrap_for_training(
    env: BraxEnv,
    episode_length: int = 1000,
    action_repeat: int = 1,
    randomization_fn: Any = None,
) -> LayoutResetWrapper:
    """brax's training wrapper (`brax.envs.training.wrap`) with a fresh layout per episode:
    `LayoutResetWrapper(EpisodeWrapper(VmapWrapper(env)))`. Give it to brax's trainers as
    `wrap_env_fn`. Needs brax; `randomization_fn` (brax's domain randomisation over a
    `brax.System`) has no safejax counterpart and must be None (vary `env.params` instead)."""
    if randomization_fn is not None:
        raise ValueError("randomization_fn is not supported: a safejax world has no brax System")
    if not BRAX_AVAILABLE:
        raise ImportError("wrap_for_training needs brax: pip install 'safejax[brax]'")
    from brax.envs.wrappers.training import EpisodeWrapper, VmapWrapper

    return LayoutResetWrapper(EpisodeWrapper(VmapWrapper(env), episode_length, action_repeat))


def _device_put_replicated(x: Any, devices: Sequence[Any]) -> Any:
    """`jax.device_put_replicated` as jax 0.10 removed it: every leaf of `x` stacked once per
    device along a new leading axis, each slice on its device."""
    devices = list(devices)
    sharding = NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec("devices"))
    return jax.tree.map(
        lambda a: jax.device_put(jnp.stack([jnp.asarray(a)] * len(devices)), sharding), x
    )


@contextlib.contextmanager
def jax_compat() -> Iterator[None]:
    """Inside the block, `jax.device_put_replicated` exists (brax's trainers call it; jax 0.10
    removed it). Does nothing where jax still has it."""
    if hasattr(jax, "device_put_replicated"):
        yield
        return
    jax.device_put_replicated = _device_put_replicated
    try:
        yield
    finally:
        del jax.device_put_replicated


__all__ = [
    "BRAX_AVAILABLE",
    "BraxEnv",
    "LayoutResetWrapper",
    "State",
    "jax_compat",
    "wrap_for_training",
]
