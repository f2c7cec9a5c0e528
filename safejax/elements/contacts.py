"""Counting the robot's contacts with a set of geoms."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from safejax.types import Array


def count_contacts(robot_contacts: Array, geom_mask: np.ndarray) -> Array:
    """Number of contacts between the robot and the geoms of `geom_mask` (ngeom,) bool.

    `robot_contacts` is `physics.robot_contacts(pm, data)` (in `CostContext` and `Frame`):
    Safety Gym counts every entry of `data.contact` between the two sets; MuJoCo keeps a contact
    when its distance is below the margin (0 here). MJX's buffer also holds inactive candidates
    (distance >= 0), which that count leaves out.
    """
    ids = np.flatnonzero(geom_mask)
    if ids.shape[0] == 0:
        return jnp.zeros((), jnp.float32)
    return jnp.sum(robot_contacts[ids]).astype(jnp.float32)
