"""Gremlins: boxes that circle their sampled centres and cost on contact with the robot.

Safety Gym drives a free box welded to a mocap body; spec section 6.6 derives the resulting path:
the box centre follows (cx + travel sin t, cy + travel cos t, 2 size) with t the simulation time,
the same phase for every gremlin (clockwise, 1 rad per simulated second). Here each gremlin is a
colliding mocap box moved along exactly that path before every physics substep (`place`), so the
path is kinematic: the robot cannot nudge a gremlin (in Safety Gym the soft weld lets it yield
a little). Each gremlin keeps its random yaw from reset. Cost: gremlins_contact_cost x the number
of robot-gremlin contact points (spec section 5.1); the `gremlins_dist_*` keys were never used.
`State.objects["gremlins"]` holds the centres of their circles, which goal re-sampling keeps
clear (spec 7.3).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from safejax.elements.base import CostContext, Element, World
from safejax.elements.contacts import count_contacts
from safejax.elements.mocap import MocapElement, MocapIndex
from safejax.types import Array


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


@dataclasses.dataclass(frozen=True)
class Gremlins(MocapElement):
    """Safety Gym's gremlins (engine defaults, spec section 2)."""

    group: ClassVar[str] = "gremlins"
    lidar_rank: ClassVar[int] = 5
    PARAMS: ClassVar[tuple[str, ...]] = ("keepout", "travel", "contact_cost")
    COSTS: ClassVar[tuple[str, ...]] = ("gremlins",)
    KEY_STREAM: ClassVar[int | None] = 0

    num: int = 0
    size: float = 0.1
    keepout: float = 0.5
    travel: float = 0.3
    contact_cost: float = 1.0
    constrain: bool = False
    observe: bool = False

    def xml(self) -> str:
        s = self.size
        return "".join(
            f"""
<body name="gremlin{i}" mocap="true" pos="0 0 {2 * s}">
  <geom name="gremlin{i}" type="box" size="{s} {s} {s}" rgba=".5 0 1 1" class="object"/>
</body>"""
            for i in range(self.num)
        )

    def init(self, ix: MocapIndex, key: Array, xy: Array, world: World) -> World:
        """Stores the circles' centres and gives each gremlin a random yaw; the path puts them
        on their circles before the first forward (`substep`)."""
        objects = {**world.objects, self.group: xy} if self.num else world.objects
        yaw = jax.random.uniform(key, (self.num,), minval=0.0, maxval=2 * jnp.pi)
        quat = jnp.stack([jnp.cos(yaw / 2), 0 * yaw, 0 * yaw, jnp.sin(yaw / 2)], axis=-1)
        mocap_quat = world.mocap_quat.at[ix.mocap].set(quat)
        return world._replace(mocap_quat=mocap_quat, objects=objects)

    def positions(self, ix: MocapIndex, data, objects: dict) -> Array:
        """(n, 2) current gremlin xy (where physics last put them)."""
        return data.mocap_pos[ix.mocap, :2]

    def anchors(self, ix: MocapIndex, data, objects: dict) -> Array:
        return Element.positions(self, ix, data, objects)  # the stored centres

    def substep(self, ix: MocapIndex, data, objects: dict, params: dict):
        centres = Element.positions(self, ix, data, objects)
        return place(data, ix.mocap, centres, params["gremlins_travel"])

    def costs(self, ix: MocapIndex, ctx: CostContext, params: dict) -> dict[str, Array]:
        """gremlins_contact_cost x robot-gremlin contact points (before binarisation)."""
        n = count_contacts(ctx.robot_contacts, ix.geom_mask)
        return {"cost_gremlins": params["gremlins_contact_cost"] * n}
