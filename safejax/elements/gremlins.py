"""Gremlins: boxes that circle their sampled centres and cost on contact with the robot.

Safety Gym drives a free box welded to a mocap body; spec section 6.6 derives the resulting path:
the box centre follows (cx + travel sin t, cy + travel cos t, 2 size) with t the simulation time,
the same phase for every gremlin (clockwise, 1 rad per simulated second). Here each gremlin is a
colliding mocap box moved along exactly that path before every physics substep (`place`), so the
path is kinematic: the robot cannot nudge a gremlin (in Safety Gym the soft weld lets it yield
a little). Each gremlin keeps its random yaw from reset. Cost: gremlins_contact_cost x the number
of robot-gremlin contact points (spec section 5.1); the `gremlins_dist_*` keys were never used.
"""

from __future__ import annotations

import jax.numpy as jnp
import mujoco
import numpy as np

from safejax.config import EnvConfig
from safejax.elements import mocap
from safejax.elements.contacts import count_contacts
from safejax.types import Array


def xml(config: EnvConfig) -> str:
    s = config.gremlins_size
    return "".join(
        f"""
<body name="gremlin{i}" mocap="true" pos="0 0 {2 * s}">
  <geom name="gremlin{i}" type="box" size="{s} {s} {s}" rgba=".5 0 1 1" class="object"/>
</body>"""
        for i in range(config.gremlins_num)
    )


def index(model: mujoco.MjModel, num: int) -> tuple[np.ndarray, np.ndarray]:
    """(mocap ids (num,), geom mask (ngeom,)) of the gremlins."""
    ids, geoms = mocap.index(model, "gremlin", num)
    return ids, mocap.geom_mask(model, geoms)


def path(centres: Array, time: Array, travel: Array) -> Array:
    """(n, 2) gremlin positions at simulation time `time` (spec section 6.6)."""
    return centres + travel * jnp.stack([jnp.sin(time), jnp.cos(time)])[None, :]


def place(data, mocap_ids: np.ndarray, centres: Array, travel: Array):
    """Moves the gremlins' mocap bodies to their path positions at `data.time`."""
    if mocap_ids.shape[0] == 0:
        return data
    xy = path(centres, data.time, travel)
    pos = data.mocap_pos.at[mocap_ids, :2].set(xy)
    return data.replace(mocap_pos=pos)


def positions(data, mocap_ids: np.ndarray) -> Array:
    """(n, 2) current gremlin xy (where physics last put them)."""
    return data.mocap_pos[mocap_ids, :2]


def cost(data, robot_geom_mask: np.ndarray, gremlin_geom_mask: np.ndarray, params: dict) -> Array:
    """gremlins_contact_cost x robot-gremlin contact points (before binarisation)."""
    n = count_contacts(data, robot_geom_mask, gremlin_geom_mask)
    return params["gremlins_contact_cost"] * n
