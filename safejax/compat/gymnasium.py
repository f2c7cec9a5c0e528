"""safejax environments behind Gymnasium's interfaces.

    from safejax.compat.gymnasium import SafejaxEnv, SafejaxVectorEnv

    envs = SafejaxVectorEnv("PointGoal1", num_envs=64)
    obs, info = envs.reset(seed=0)                  # obs: (64, observation_size) float32
    obs, reward, terminated, truncated, info = envs.step(actions)   # actions: (64, action_size)
    info["cost"], info["cost_hazards"]              # (64,) each

    env = SafejaxEnv("PointGoal1", safety_step=True)
    obs, info = env.reset(seed=0)
    obs, reward, cost, terminated, truncated, info = env.step(env.action_space.sample())

`SafejaxVectorEnv` is a `gymnasium.vector.VectorEnv` over `safejax.VecEnv`: one jitted reset and
one jitted step advance the whole batch, and actions go in and results come out as numpy arrays.
`SafejaxEnv` is a single-world `gymnasium.Env` over the jitted `Env.reset` and `Env.step`.

Spaces: observations are unbounded float32 boxes of `observation_size`, actions float32 boxes
[-1, 1] of `action_size` (the environment clips actions to that range).

Seeds: `reset(seed=s)` resets with the JAX key `jax.random.PRNGKey(s)` (`key_from_seed`), the key
that safejax's own `reset` would be given, so a seeded episode here is the same episode as
through safejax directly. Seeds must lie in [0, 2**32): PRNGKey folds larger ones onto that
range (2**32 and 0 give the same key), so they are refused. A `reset()` without a seed uses
`jax.random.fold_in(k, 1)`, where `k` is the key of the previous reset; the first reset, when it
has no seed, draws one from the environment's `np_random`.

Costs and metrics: `info["cost"]` is the step's cost (Safety Gym's binarised total, 0 or 1),
`info["cost_hazards"]`, `info["cost_vases_contact"]`, ... each constraint's own binarised cost,
and the other `State.metrics` entries (`goal_met`, `physics_error`, ...) are there too, all as
float32. With `safety_step=True`, `step` returns Safety-Gymnasium's 6-tuple
`(obs, reward, cost, terminated, truncated, info)`.

Importing this module imports Gymnasium (1.1 or newer); `import safejax` does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np

try:
    import gymnasium
    from gymnasium import spaces
    from gymnasium.vector import AutoresetMode, VectorEnv
    from gymnasium.vector.utils import batch_space
except ImportError as err:
    raise ImportError(
        "safejax.compat.gymnasium needs Gymnasium 1.1 or newer: "
        'pip install "gymnasium>=1.1" (or pip install "safejax[gymnasium]")'
    ) from err

import safejax
from safejax.types import State
from safejax.vector import VecEnv, VecState

__all__ = [
    "SafejaxEnv",
    "SafejaxVectorEnv",
    "key_from_seed",
    "register_gymnasium_envs",
]

_SEED_BOUND = 2**32


def key_from_seed(seed: int) -> jax.Array:
    """The JAX key that `reset(seed=seed)` resets with: `jax.random.PRNGKey(seed)`.

    Raises TypeError for a seed that is not an integer and ValueError for one outside
    [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < _SEED_BOUND:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    return jax.random.PRNGKey(int(seed))


class _KeyChain:
    """The keys of successive resets: a seed starts the chain at `PRNGKey(seed)`, each reset
    without one continues with `fold_in(previous_key, 1)`."""

    def __init__(self):
        self._next: jax.Array | None = None

    def take(self, seeded: jax.Array | None, np_random: np.random.Generator) -> jax.Array:
        """The key of this reset: `seeded` if given, else the chain's next key (the first one
        drawn from `np_random`)."""
        if seeded is not None:
            key = seeded
        elif self._next is not None:
            key = self._next
        else:
            key = key_from_seed(int(np_random.integers(_SEED_BOUND)))
        self._next = jax.random.fold_in(key, 1)
        return key


def _check_options(options: dict[str, Any] | None) -> None:
    if options:
        raise ValueError(f"reset takes no options, got {sorted(options)}")


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None:
        raise ValueError(f"render_mode must be None (no render modes), got {render_mode!r}")


def _build_env(env: Any, make_overrides: dict[str, Any]) -> Any:
    """A safejax Env from a name (with `make` overrides) or an Env as given."""
    if isinstance(env, str):
        return safejax.make(env, **make_overrides)
    if make_overrides:
        raise ValueError(
            f"keyword overrides {sorted(make_overrides)} apply only when env is a name"
        )
    return env


def _to_numpy(tree: Any) -> Any:
    """One device-to-host transfer of `tree`, as writable numpy arrays that the caller owns."""
    return jax.tree.map(np.array, jax.device_get(tree))


def _as_action(action: Any, expected: tuple[int, ...], what: str) -> Any:
    """`action` as float32 (numpy, or a JAX array as given), checked against `expected`."""
    if not isinstance(action, jax.Array):
        action = np.asarray(action, dtype=np.float32)
    if tuple(action.shape) != expected:
        raise ValueError(f"action has shape {tuple(action.shape)}, expected {expected} ({what})")
    return action.astype(np.float32)


class SafejaxEnv(gymnasium.Env):
    """One safejax world as a `gymnasium.Env`.

    `reset` and `step` run the environment's jitted `Env.reset` and `Env.step` and return numpy
    observations (float32, `(observation_size,)`), a float reward and bool flags. The 1000-step
    limit (`num_steps`) sets `truncated`; after an episode ends, call `reset`, which draws a new
    layout. `info` holds `cost` and every `State.metrics` entry as floats (module docstring).

    Args:
      env: an environment name ("PointGoal1", "SafetyPointGoal1-v0", ...) or a `safejax.Env`.
      render_mode: None only (there are no render modes).
      safety_step: make `step` return `(obs, reward, cost, terminated, truncated, info)`.
      **make_overrides: `safejax.make` keyword overrides (only with a name).

    Attributes:
      safejax_env: the `safejax.Env`.
      safety_step: as given; may be changed between steps.
      state: the world's current `safejax.State` (None before the first reset).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        env: str | safejax.Env,
        *,
        render_mode: str | None = None,
        safety_step: bool = False,
        **make_overrides: Any,
    ):
        _check_render_mode(render_mode)
        self.render_mode = None
        self.safejax_env = _build_env(env, make_overrides)
        self.safety_step = bool(safety_step)
        self.observation_space = spaces.Box(
            -np.inf, np.inf, (self.safejax_env.observation_size,), np.float32
        )
        self.action_space = spaces.Box(-1.0, 1.0, (self.safejax_env.action_size,), np.float32)
        self._reset_fn = jax.jit(self.safejax_env.reset)
        self._step_fn = jax.jit(self.safejax_env.step)
        self._keys = _KeyChain()
        self.state: State | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new world: `(obs, info)`. Keys from seeds: module docstring. No options."""
        seeded = None if seed is None else key_from_seed(seed)
        super().reset(seed=seed)
        _check_options(options)
        self.state = self._reset_fn(self._keys.take(seeded, self.np_random))
        obs, cost, metrics = _to_numpy((self.state.obs, self.state.cost, self.state.metrics))
        return obs, _world_info(cost, metrics)

    def step(self, action: Any) -> tuple:
        """One control step: `(obs, reward, terminated, truncated, info)`, or with
        `safety_step` `(obs, reward, cost, terminated, truncated, info)`. `action` must have
        shape `(action_size,)` (ValueError otherwise)."""
        if self.state is None:
            raise RuntimeError("call reset before step")
        env = self.safejax_env
        action = _as_action(action, (env.action_size,), f"action_size of {env.name}")
        self.state = self._step_fn(self.state, action)
        s = self.state
        obs, reward, cost, terminated, truncated, metrics = _to_numpy(
            (s.obs, s.reward, s.cost, s.terminated, s.truncated, s.metrics)
        )
        info = _world_info(cost, metrics)
        reward, terminated, truncated = float(reward), bool(terminated), bool(truncated)
        if self.safety_step:
            return obs, reward, float(cost), terminated, truncated, info
        return obs, reward, terminated, truncated, info


def _world_info(cost: np.ndarray, metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """One world's info: its cost, then each metric, as floats."""
    info = {"cost": float(cost)}
    info.update({k: float(v) for k, v in metrics.items()})
    return info


class SafejaxVectorEnv(VectorEnv):
    """A batch of safejax worlds as a `gymnasium.vector.VectorEnv`, stepped by `safejax.VecEnv`.

    Each `reset` and `step` is one call of a jitted function over the whole batch; observations
    come back as float32 `(num_envs, observation_size)`, rewards and costs float32 `(num_envs,)`
    and the flags bool `(num_envs,)`, all numpy. Actions may be numpy arrays (or anything
    `np.asarray` takes) or JAX arrays, of shape `(num_envs, action_size)`.

    Autoreset: Gymnasium's same-step mode (`metadata["autoreset_mode"]` is
    `AutoresetMode.SAME_STEP`), which is `VecEnv`'s behaviour. A world whose episode ends on a
    step is reset within that step: the returned observation is the first of its next episode,
    while reward, cost, `terminated` and `truncated` are those of the step that ended it. On such
    a step `info` also holds, as Gymnasium specifies for this mode:

    - `final_obs`: an object array of `num_envs`, the observation reached by the ending step for
      each finished world and None elsewhere; `_final_obs`: bool mask of the finished worlds.
      (`VecState.final_obs` where the mask is set.)
    - `final_info`: the ending step's info for the finished worlds (arrays of `num_envs`, zero
      elsewhere, each key with its `_key` mask), plus the episode's totals `episode_return`,
      `episode_cost` and `episode_length`; `_final_info`: the same mask.

    The top-level `info` always describes the step just taken, in every world, finished or not:
    `cost`, each constraint's cost and the other metrics, float32 `(num_envs,)`, each key with an
    all-True `_key` mask. (Gymnasium's own same-step vector envs put a finished world's reset info
    there instead; here a world's cost stays beside its reward.)

    Args:
      env: an environment name, a `safejax.Env`, or a `safejax.VecEnv` (whose compiled programs
        are then shared with every other user of that VecEnv).
      num_envs: the number of worlds (default 1; with a VecEnv, None or its own count).
      safety_step: make `step` return `(obs, reward, cost, terminated, truncated, info)`.
      devices: where the worlds run, as `VecEnv`'s `devices` (not with a VecEnv).
      render_mode: None only (there are no render modes).
      **make_overrides: `safejax.make` keyword overrides (only with a name).

    Attributes:
      vec_env: the `safejax.VecEnv`; `safejax_env`: its `safejax.Env`.
      safety_step: as given; may be changed between steps.
      state: the batch's current `safejax.VecState` (None before the first reset).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        env: str | safejax.Env | VecEnv,
        num_envs: int | None = None,
        *,
        safety_step: bool = False,
        devices: Any = "auto",
        render_mode: str | None = None,
        **make_overrides: Any,
    ):
        _check_render_mode(render_mode)
        if isinstance(env, VecEnv):
            if num_envs is not None and num_envs != env.num_envs:
                raise ValueError(f"num_envs {num_envs} differs from the VecEnv's {env.num_envs}")
            if make_overrides or devices != "auto":
                raise ValueError("keyword overrides and devices do not apply to a VecEnv")
            vec_env = env
        else:
            base = _build_env(env, make_overrides)
            vec_env = VecEnv(base, 1 if num_envs is None else num_envs, devices=devices)
        self.vec_env = vec_env
        self.safejax_env = vec_env.env
        self.num_envs = vec_env.num_envs
        self.safety_step = bool(safety_step)
        self.metadata = dict(self.metadata)
        self.render_mode = None
        self.single_observation_space = spaces.Box(
            -np.inf, np.inf, (vec_env.observation_size,), np.float32
        )
        self.single_action_space = spaces.Box(-1.0, 1.0, (vec_env.action_size,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        # The bound methods themselves are jitted, so that a VecEnv shared between adapters (or
        # also jitted by its owner) compiles once.
        self._reset_fn = jax.jit(vec_env.reset)
        self._step_fn = jax.jit(vec_env.step)
        self._keys = _KeyChain()
        self.state: VecState | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """New worlds in every slot: `(obs, info)`. `reset(seed=s)` gives the batch of
        `VecEnv.reset(jax.random.PRNGKey(s))`; keys without a seed: module docstring. No
        options."""
        seeded = None if seed is None else key_from_seed(seed)
        super().reset(seed=seed)
        _check_options(options)
        self.state = self._reset_fn(self._keys.take(seeded, self.np_random))
        s = self.state.state
        obs, cost, metrics = _to_numpy((s.obs, s.cost, s.metrics))
        return obs, _batch_info(cost, metrics)

    def step(self, actions: Any) -> tuple:
        """One control step of every world: `(obs, reward, terminated, truncated, info)`, or
        with `safety_step` `(obs, reward, cost, terminated, truncated, info)`. `actions` must
        have shape `(num_envs, action_size)` (ValueError otherwise)."""
        if self.state is None:
            raise RuntimeError("call reset before step")
        expected = (self.num_envs, self.vec_env.action_size)
        actions = _as_action(actions, expected, "num_envs, action_size")
        self.state = self._step_fn(self.state, actions)
        vs = self.state
        s, ep = vs.state, vs.episode
        obs, reward, cost, terminated, truncated, metrics, final_obs, totals = _to_numpy(
            (
                s.obs,
                s.reward,
                s.cost,
                s.terminated,
                s.truncated,
                s.metrics,
                vs.final_obs,
                {
                    "episode_return": ep.done_ret,
                    "episode_cost": ep.done_cost,
                    "episode_length": ep.done_length,
                },
            )
        )
        info = _batch_info(cost, metrics)
        done = terminated | truncated
        if done.any():
            finished = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                finished[i] = final_obs[i].copy()
            info["final_obs"] = finished
            info["_final_obs"] = done.copy()
            info["final_info"] = _batch_info(cost, {**metrics, **totals}, where=done)
            info["_final_info"] = done.copy()
        if self.safety_step:
            return obs, reward, cost, terminated, truncated, info
        return obs, reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        """Drops the batch state (the compiled programs stay with the VecEnv)."""
        self.state = None


def _batch_info(
    cost: np.ndarray, values: dict[str, np.ndarray], where: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """A batch's info in Gymnasium's vector layout: `cost`, then each of `values`, every key
    with its `_key` mask. With `where`, entries outside it are zero and the masks are `where`."""
    info: dict[str, np.ndarray] = {}
    for name, value in {"cost": cost, **values}.items():
        if where is None:
            info[name], info[f"_{name}"] = value, np.ones(value.shape, bool)
        else:
            info[name] = np.where(where, value, np.zeros_like(value))
            info[f"_{name}"] = where.copy()
    return info


def register_gymnasium_envs(names: Iterable[str] | None = None) -> list[str]:
    """Registers each environment as the Gymnasium id `safejax/<Name>-v0` (all of
    `safejax.registered_names()` by default) and returns the ids. Ids already registered are
    left as they are; nothing is registered on import.

    `gymnasium.make(id, **kwargs)` then builds a `SafejaxEnv` and `gymnasium.make_vec(id,
    num_envs)` a `SafejaxVectorEnv` (keyword arguments: the classes' options and `safejax.make`
    overrides). Gymnasium's `make` wraps the environment in its API checker, which expects
    5-tuples: with `safety_step=True`, pass `disable_env_checker=True` too. No
    `max_episode_steps` is set: the environment's own `num_steps` ends episodes.
    """
    ids = []
    for name in safejax.registered_names() if names is None else names:
        canonical = safejax.canonical_name(name)
        env_id = f"safejax/{safejax.registry.display_name(name)}-v0"  # a world file: its name
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point=f"{__name__}:SafejaxEnv",
                vector_entry_point=f"{__name__}:SafejaxVectorEnv",
                kwargs={"env": canonical},
            )
        ids.append(env_id)
    return ids
