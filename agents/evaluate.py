"""Policy evaluation: whole episodes from fresh layouts, per-episode statistics and their summary.

`rollout_episodes` is the device half: pure and jittable, it runs `episodes` episodes for every
member of a stacked parameter pytree (seeds or settings side by side) and returns one number per
member and episode. Every member sees the same episode keys (common random numbers), so members
are compared on the same layouts and, when sampling, the same noise. The scan carries running
sums only, never per-step outputs, so 100 episodes of 1000 steps cost what 100 worlds cost.

`summarize` is the host half: mean, sample std and a 95% Student-t interval over episodes, per
member, as plain JSON-ready Python numbers. `evaluate` ties the two together and times them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as scipy_stats

from agents.common.normalization import normalize

Array = jax.Array
# act(member_params, obs (E, obs_size), key, deterministic) -> actions (E, action_size)
ActFn = Callable[[Any, Array, Array, bool], Array]

# Metrics reported as whole-episode counts when the env has them (safejax.Env always does).
COUNT_KEYS = ("physics_error", "nonfinite_action")


def num_members(params: Any) -> int:
    """The size of the leading (member) axis shared by every leaf of `params`."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves: nothing carries the member axis")
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"every leaf of params needs the same leading member axis; got leading sizes {sizes}"
        )
    return int(sizes.pop())


def rollout_episodes(
    env: Any,
    act: ActFn,
    params: Any,
    key: Array,
    episodes: int,
    deterministic: bool = True,
) -> dict[str, Array]:
    """Runs `episodes` episodes of `env` for each member of `params`; returns (M, episodes) arrays.

    `params` leaves have a leading member axis M; `act(member_params, obs, key, deterministic)`
    maps (episodes, obs_size) observations to (episodes, action_size) actions for one member.
    `env`, `act`, `episodes` and `deterministic` are static under `jit`.

    Every member starts from the same `episodes` resets and receives the same per-step keys.
    Each episode runs until it terminates or reaches `env.num_steps` (no auto-reset); a world
    whose episode ended keeps being stepped (the batch has a fixed shape) but adds nothing.

    Returns `return`, `cost` (sum of the per-step 0/1 cost), `length` (int32), `goals_met`,
    one sum per `cost_*` metric of the env, `physics_error` and `nonfinite_action` step counts
    (int32) where the env reports them, and `terminated` (bool: the episode ended in a terminal
    state rather than at the time limit).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    num_members(params)  # validates the member axis at trace time
    k_reset, k_act = jax.random.split(key)
    # One reset per episode, shared by all members (vmap broadcasts it across the member axis).
    start = jax.vmap(env.reset)(jax.random.split(k_reset, episodes))
    step_keys = jax.random.split(k_act, env.num_steps)

    # The env's metric keys are fixed: read them off the traced reset, never list them here.
    metric_keys = tuple(start.metrics)
    summed = tuple(k for k in metric_keys if k.startswith("cost_"))
    if "goal_met" in metric_keys:
        summed += ("goal_met",)
    counted = tuple(k for k in COUNT_KEYS if k in metric_keys)

    zeros_f = jnp.zeros((episodes,), jnp.float32)
    zeros_i = jnp.zeros((episodes,), jnp.int32)
    acc0 = {
        "return": zeros_f,
        "cost": zeros_f,
        "length": zeros_i,
        "terminated": jnp.zeros((episodes,), bool),
        **{k: zeros_f for k in summed},
        **{k: zeros_i for k in counted},
    }
    # Reset states are never done; an env that says otherwise gets zero-length episodes.
    alive0 = ~(start.terminated | start.truncated)

    def run_member(member_params: Any) -> dict[str, Array]:
        def body(carry, k):
            state, acc, alive = carry
            action = act(member_params, state.obs, k, deterministic)
            state = jax.vmap(env.step)(state, action)

            # where, not a 0/1 product: whatever a finished world computes (even NaN) is dropped.
            def add(total, value):
                return total + jnp.where(alive, value, 0).astype(total.dtype)

            acc = {
                "return": add(acc["return"], state.reward),
                "cost": add(acc["cost"], state.cost),
                "length": add(acc["length"], 1),
                "terminated": acc["terminated"] | (alive & state.terminated),
                **{k: add(acc[k], state.metrics[k]) for k in summed},
                **{k: add(acc[k], state.metrics[k] > 0) for k in counted},
            }
            alive = alive & ~(state.terminated | state.truncated)
            return (state, acc, alive), None

        (_, acc, _), _ = jax.lax.scan(body, (start, acc0, alive0), step_keys)
        return acc

    out = jax.vmap(run_member)(params)
    if "goal_met" in out:
        out["goals_met"] = out.pop("goal_met")
    return out


def _interval(values: np.ndarray) -> dict[str, Any]:
    """mean, sample std (ddof=1) and the 95% Student-t interval of the mean; std and ci95 are
    None for a single value (one episode says nothing about the spread)."""
    n = values.shape[0]
    mean = float(np.mean(values))
    if n < 2:
        return {"mean": mean, "std": None, "ci95": None}
    std = float(np.std(values, ddof=1))
    half = float(scipy_stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def _check_finite(value: Any, member: int, field: str) -> None:
    """Raises on any NaN or infinity in a summary entry, naming the member and the field."""
    if value is None:
        return
    if isinstance(value, dict):
        for name, v in value.items():
            _check_finite(v, member, f"{field}.{name}")
    elif isinstance(value, list | tuple):
        for v in value:
            _check_finite(v, member, field)
    elif not math.isfinite(value):
        raise ValueError(f"member {member}: {field} is not finite ({value})")


def summarize(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-member summary of `rollout_episodes` output (host arrays of shape (M, episodes)).

    For each member: `J_r` (return), `J_c` (cost), `costs` (one entry per `cost_*` key),
    `goals_met` and `length` as {"mean", "std", "ci95": [lo, hi] or None}; `rho_c`, the cost
    rate (total cost / total steps of the member's episodes) with the t-interval of the
    per-episode rates cost / length (centred on their mean, which equals the rate when every
    episode has the same length); `episodes`; `terminated` (count), and the totals of
    `physics_error` / `nonfinite_action` where present. Everything is a plain Python number,
    list or None. A non-finite input or result raises ValueError naming the member and field.
    """
    for required in ("return", "cost", "length"):
        if required not in stats:
            raise ValueError(f"stats lacks {required!r}; has {sorted(stats)}")
    arrays = {k: np.asarray(v) for k, v in stats.items()}
    shape = arrays["return"].shape
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"stats arrays must have shape (members, episodes>=1), got {shape}")
    for k, v in arrays.items():
        if v.shape != shape:
            raise ValueError(f"stats[{k!r}] has shape {v.shape}, expected {shape}")
    for k, v in arrays.items():
        if v.dtype != bool:
            bad = ~np.isfinite(v.astype(np.float64))
            if bad.any():
                member, episode = (int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"member {member}: stats[{k!r}] is not finite at episode {episode} "
                    f"({v[member, episode]})"
                )

    cost_keys = sorted(k for k in arrays if k.startswith("cost_"))
    summaries = []
    for m in range(shape[0]):
        col = {k: v[m].astype(np.float64) for k, v in arrays.items()}
        length = col["length"]
        total_steps = float(np.sum(length))
        rates = col["cost"] / np.maximum(length, 1.0)
        rho_c = _interval(rates)
        rho_c["mean"] = float(np.sum(col["cost"])) / max(total_steps, 1.0)
        summary: dict[str, Any] = {
            "episodes": int(shape[1]),
            "J_r": _interval(col["return"]),
            "J_c": _interval(col["cost"]),
            "rho_c": rho_c,
            "costs": {k: _interval(col[k]) for k in cost_keys},
            "length": _interval(length),
        }
        if "goals_met" in col:
            summary["goals_met"] = _interval(col["goals_met"])
        summary["terminated"] = (
            int(np.sum(arrays["terminated"][m])) if "terminated" in arrays else 0
        )
        for k in COUNT_KEYS:
            if k in col:
                summary[k] = int(np.sum(col[k]))
        for field, value in summary.items():
            _check_finite(value, m, field)
        summaries.append(summary)
    return summaries


_rollout_jit = jax.jit(
    rollout_episodes, static_argnames=("env", "act", "episodes", "deterministic")
)


def evaluate(
    env: Any,
    act: ActFn,
    params: Any,
    key: Array,
    episodes: int = 100,
    deterministic: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Jits and runs `rollout_episodes`; returns `summarize` of it and the timing.

    Timing: `compile_s` (trace and compile; near zero when an earlier call with the same env,
    act, episodes, deterministic and parameter shapes compiled it already), `run_s` (the run
    after compiling, to the results on the host) and `env_steps_per_s` (members x episodes x
    `env.num_steps` world steps computed, per second of `run_s`).
    """
    t0 = time.perf_counter()
    compiled = _rollout_jit.lower(
        env, act, params, key, episodes=episodes, deterministic=deterministic
    ).compile()
    t1 = time.perf_counter()
    out = jax.device_get(compiled(params, key))
    t2 = time.perf_counter()
    run_s = t2 - t1
    steps = num_members(params) * episodes * env.num_steps
    timing = {
        "compile_s": t1 - t0,
        "run_s": run_s,
        "env_steps_per_s": steps / max(run_s, 1e-9),
    }
    return summarize(out), timing


def gaussian_act(
    actor_apply: Callable[[Any, Array], tuple[Array, Array]],
    obs_clip: float,
    normalize_obs: bool,
) -> ActFn:
    """An `act` for the project's Gaussian actors. Its member params are
    {"actor": actor params, "obs_stats": RunningStats} (`obs_stats` is read only when
    `normalize_obs`). Deterministic: the mean action; else mean + exp(log_std) * N(0, 1) noise,
    as the training rollout samples."""

    def act(member_params: Any, obs: Array, key: Array, deterministic: bool) -> Array:
        if normalize_obs:
            obs = normalize(member_params["obs_stats"], obs, obs_clip)
        mean, log_std = actor_apply(member_params["actor"], obs)
        if deterministic:
            return mean
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    return act
