"""Running observation statistics (mean and variance over everything seen so far).

Batches are merged with Chan et al.'s parallel update, so the result does not depend on how the
data was split into batches. The statistics live in the train state; learners freeze them for
a whole rollout and update them after the policy update, so the stored log-probabilities and the
update see the same normalized observations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

Array = jax.Array


@struct.dataclass
class RunningStats:
    """count, mean and sum of squared deviations (M2) per observation dimension."""

    count: Array
    mean: Array
    m2: Array

    @classmethod
    def zeros(cls, size: int) -> RunningStats:
        return cls(
            count=jnp.zeros((), jnp.float32),
            mean=jnp.zeros((size,), jnp.float32),
            m2=jnp.zeros((size,), jnp.float32),
        )

    @property
    def var(self) -> Array:
        # Before any data: unit variance, so normalization is the identity.
        return jnp.where(self.count > 0, self.m2 / jnp.maximum(self.count, 1.0), 1.0)


def update_stats(stats: RunningStats, batch: Array) -> RunningStats:
    """Merges a batch (any leading shape, last axis the observation) into `stats`."""
    x = batch.reshape(-1, batch.shape[-1]).astype(jnp.float32)
    n = jnp.asarray(x.shape[0], jnp.float32)
    b_mean = jnp.mean(x, axis=0)
    b_m2 = jnp.sum((x - b_mean) ** 2, axis=0)
    total = stats.count + n
    delta = b_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    m2 = stats.m2 + b_m2 + delta**2 * (stats.count * n / total)
    return RunningStats(count=total, mean=mean, m2=m2)


def normalize(stats: RunningStats, obs: Array, clip: float = 10.0) -> Array:
    """(obs - mean) / std, clipped to [-clip, clip]; std has a 1e-8 variance floor."""
    z = (obs - stats.mean) / jnp.sqrt(stats.var + 1e-8)
    return jnp.clip(z, -clip, clip)
