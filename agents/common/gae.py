"""Generalised advantage estimation with termination and truncation kept apart.

A step's TD residual bootstraps from the value of the observation it reached (`next_values`,
computed on `VecState.final_obs`, i.e. before any auto-reset) unless the step *terminated*; the
advantage recursion is cut at every episode end (terminated or truncated). So a time limit
bootstraps from V(final observation) and a terminal state does not, as in safety-starter-agents
where an episode cut by the time limit or the epoch end bootstraps and a `done` before it does
not. Used twice per update: reward and cost, each with its own (gamma, lam).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    done: Array,
    gamma: float,
    lam: float,
) -> Array:
    """Advantages for a (T, ...) rollout, time on axis 0.

    Args:
      rewards: r_t (or the cost c_t).
      values: V(s_t), the value of the observation the step started from.
      next_values: V(s'_t), the value of the observation the step reached (before auto-reset).
      terminated: the step ended the episode in a terminal state (no bootstrap).
      done: the step ended the episode for any reason (terminated or truncated).
      gamma, lam: discount and GAE parameter. With lam = 1, advantages + values are the
        discounted returns-to-go (bootstrapped), SSA's value-function target.
    """
    not_term = 1.0 - terminated.astype(rewards.dtype)
    not_done = 1.0 - done.astype(rewards.dtype)
    deltas = rewards + gamma * not_term * next_values - values

    def back(carry: Array, xs: tuple[Array, Array]) -> tuple[Array, Array]:
        delta, cont = xs
        adv = delta + gamma * lam * cont * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True)
    return adv
