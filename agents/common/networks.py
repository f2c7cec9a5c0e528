"""Actor and critics (flax.linen) and the diagonal-Gaussian algebra the updates need.

As in safety-starter-agents (`pg/network.py`): separate tanh MLPs for the policy mean, the reward
value and the cost value; the policy's log-std is a state-independent trainable vector
(initialised to -0.5); actions are not squashed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


class MLP(nn.Module):
    """tanh hidden layers and a linear output layer of width `out`."""

    hidden: Sequence[int]
    out: int
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x: Array) -> Array:
        for width in self.hidden:
            x = nn.tanh(nn.Dense(width, kernel_init=nn.initializers.orthogonal(jnp.sqrt(2.0)))(x))
        return nn.Dense(self.out, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


class Actor(nn.Module):
    """Gaussian policy: returns (mean, log_std) with log_std independent of the observation."""

    hidden: Sequence[int]
    action_size: int
    log_std_init: float = -0.5

    @nn.compact
    def __call__(self, obs: Array) -> tuple[Array, Array]:
        # A small output scale keeps the initial mean near 0 so that log_std sets exploration.
        mean = MLP(self.hidden, self.action_size, out_scale=0.01)(obs)
        log_std = self.param(
            "log_std", nn.initializers.constant(self.log_std_init), (self.action_size,)
        )
        return mean, jnp.broadcast_to(log_std, mean.shape)


class Critic(nn.Module):
    """State-value function V(obs) -> scalar."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs: Array) -> Array:
        return MLP(self.hidden, 1)(obs)[..., 0]


def gaussian_log_prob(mean: Array, log_std: Array, action: Array) -> Array:
    """log N(action; mean, exp(log_std)^2), summed over the action axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_entropy(log_std: Array) -> Array:
    """Entropy of a diagonal Gaussian, summed over the action axis."""
    return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1)


def gaussian_kl(mean0: Array, log_std0: Array, mean1: Array, log_std1: Array) -> Array:
    """KL(N0 || N1) for diagonal Gaussians, summed over the action axis (SSA's `d_kl`)."""
    var0, var1 = jnp.exp(2.0 * log_std0), jnp.exp(2.0 * log_std1)
    kl = log_std1 - log_std0 + (var0 + (mean0 - mean1) ** 2) / (2.0 * var1) - 0.5
    return jnp.sum(kl, axis=-1)
