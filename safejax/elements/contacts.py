"""Counting active contacts between two geom sets in the physics' fixed-size contact buffer."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from safejax import physics
from safejax.types import Array


def count_contacts(data, mask_a: np.ndarray, mask_b: np.ndarray) -> Array:
    """Number of active contacts (penetration distance < 0) between a geom in A and one in B.

    Safety Gym counts every entry of `data.contact` between the two sets; MuJoCo keeps a contact
    when its distance is below the margin (0 here). The physics' buffer also holds inactive
    candidates (distance >= 0), which are ignored.
    """
    contact = physics.contacts(data)
    if contact.dist.shape[0] == 0:
        return jnp.zeros((), jnp.float32)
    a = jnp.asarray(mask_a)
    b = jnp.asarray(mask_b)
    g1, g2 = contact.geom1, contact.geom2
    pair = (a[g1] & b[g2]) | (a[g2] & b[g1])
    active = contact.dist < 0
    return jnp.sum(pair & active).astype(jnp.float32)
