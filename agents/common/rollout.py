"""The rollout: `rollout_len` steps of a `VecEnv` under the current Gaussian policy, one scan.

Observations are stored raw; the policy sees `preprocess(obs)` (normalization with statistics
frozen for the whole rollout), so applying `preprocess` to the batch afterwards reproduces
exactly what the policy saw and the stored log-probabilities stay exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from agents.common.networks import gaussian_log_prob
from safejax.vector import VecEnv, VecState

Array = jax.Array


@struct.dataclass
class Transition:
    """One step of every world, stacked to (T, num_envs, ...) by the rollout scan.

    `final_obs` is the observation the step reached before any auto-reset: bootstrap values come
    from it. `ep_*` are `EpisodeStats.done*`: nonzero only on the step an episode ended
    (`ep_metrics`: the episode's sum of each of the env's `State.metrics`).
    """

    obs: Array
    action: Array
    log_prob: Array
    mean: Array
    reward: Array
    cost: Array
    terminated: Array
    done: Array
    final_obs: Array
    ep_done: Array
    ep_ret: Array
    ep_cost: Array
    ep_length: Array
    ep_metrics: dict[str, Array]


def rollout(
    venv: VecEnv,
    actor_apply: Callable[[Any, Array], tuple[Array, Array]],
    actor_params: Any,
    preprocess: Callable[[Array], Array],
    vstate: VecState,
    key: Array,
    length: int,
) -> tuple[VecState, Transition]:
    """Runs `length` steps of `venv` from `vstate`; returns the final VecState and the batch."""

    def step(vs: VecState, k: Array) -> tuple[VecState, Transition]:
        obs = vs.obs
        mean, log_std = actor_apply(actor_params, preprocess(obs))
        action = mean + jnp.exp(log_std) * jax.random.normal(k, mean.shape)
        nxt = venv.step(vs, action)
        s, ep = nxt.state, nxt.episode
        tr = Transition(
            obs=obs,
            action=action,
            log_prob=gaussian_log_prob(mean, log_std, action),
            mean=mean,
            reward=s.reward,
            cost=s.cost,
            terminated=s.terminated,
            done=s.terminated | s.truncated,
            final_obs=nxt.final_obs,
            ep_done=ep.done,
            ep_ret=ep.done_ret,
            ep_cost=ep.done_cost,
            ep_length=ep.done_length,
            ep_metrics=ep.done_metrics,
        )
        return nxt, tr

    return jax.lax.scan(step, vstate, jax.random.split(key, length))
