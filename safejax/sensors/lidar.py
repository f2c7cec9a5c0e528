"""Safety Gym's pseudo-lidar (spec section 8.2): one bin vector per object group.

Each object lights the bin of its ego-frame bearing with closeness max(0, D - d) / D and spills
alpha * s and (1 - alpha) * s into the next and previous bins (aliasing); the nearest object wins
each bin (max). No occlusion, object sizes ignored, distances centre to centre.
"""

from __future__ import annotations

import jax.numpy as jnp

from safejax.types import Array


def pseudo_lidar(
    robot_pos: Array,
    robot_mat: Array,
    objects_xy: Array,
    num_bins: int,
    max_dist: Array | float,
    mask: Array | None = None,
) -> Array:
    """Lidar bins for one object group.

    Args:
      robot_pos: (3,) world position of the robot body.
      robot_mat: (3, 3) world rotation of the robot body (columns are body axes).
      objects_xy: (n, 2) world xy of the group's objects (their z is taken as 0, as the spec does).
      num_bins: number of bins (16 in the suite).
      max_dist: distance at which closeness reaches 0 (3 in the suite).
      mask: optional (n,) bool, objects to ignore where False.

    Returns:
      (num_bins,) float32 in [0, 1].
    """
    if objects_xy.shape[0] == 0:
        return jnp.zeros((num_bins,), jnp.float32)
    pos3 = jnp.concatenate([objects_xy, jnp.zeros((objects_xy.shape[0], 1))], axis=1)
    ego = (pos3 - robot_pos) @ robot_mat  # rows: R^T (p_o - p_r)
    vx, vy = ego[:, 0], ego[:, 1]
    dist = jnp.sqrt(vx**2 + vy**2)
    angle = jnp.mod(jnp.arctan2(vy, vx), 2 * jnp.pi)
    width = 2 * jnp.pi / num_bins
    scaled = angle / width
    k = jnp.floor(scaled)
    alpha = scaled - k
    k = k.astype(jnp.int32) % num_bins
    s = jnp.maximum(0.0, max_dist - dist) / max_dist
    if mask is not None:
        s = jnp.where(mask, s, 0.0)
    bins = jnp.arange(num_bins)
    own = jnp.where(bins[None, :] == k[:, None], s[:, None], 0.0)
    nxt = jnp.where(bins[None, :] == ((k + 1) % num_bins)[:, None], (alpha * s)[:, None], 0.0)
    prv = jnp.where(
        bins[None, :] == ((k - 1) % num_bins)[:, None], ((1 - alpha) * s)[:, None], 0.0
    )
    per_object = jnp.maximum(jnp.maximum(own, nxt), prv)
    return jnp.max(per_object, axis=0).astype(jnp.float32)
