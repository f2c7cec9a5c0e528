"""Pillars: tall static columns that cost on contact with the robot (Push2; present in Push1).

Build half: one mocap body per pillar (its position varies per world and is written into
`data.mocap_pos` at reset). Run half: positions and the contact cost (spec section 5.1).

Collision proxy (docs/FIDELITY.md, "Pillars"): MJX has no cylinder-box collision (the push box,
the Car's chassis), and a convex-mesh cylinder (convex-convex collision) ran PointPush2 at about
350 env-steps/s. A capsule of the spec's radius 0.2 is cheap against spheres, capsules and boxes,
but MJX's capsule-box test misses the contact at a box's vertical edge when the capsule's segment
spans the box's whole height (the nearest box feature is then a corner shared with two horizontal
edges, and the tie can pick one that fails its test). So the colliding geom is a capsule of
radius 0.2 whose segment spans z in [0.07, 0.13]: strictly inside the height of every box it
meets (the Car's chassis z in [0.05, 0.15], the push boxes z in [0, 2 s]), where its distance to
vertical faces and edges is exactly the cylinder's. Above and below that band it narrows (radius
0.187 at the floor, 0.18 at z 0.22), which only the Doggo's body reaches. A non-colliding
cylinder of the spec's size shows the pillar.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from safejax.elements.base import CostContext, Element
from safejax.elements.contacts import count_contacts
from safejax.elements.mocap import MocapElement, MocapIndex
from safejax.types import Array

# The colliding segment's height band (see the module docstring).
SEGMENT_Z = (0.07, 0.13)


@dataclasses.dataclass(frozen=True)
class Pillars(MocapElement):
    """Safety Gym's pillars (engine defaults, spec section 2)."""

    group: ClassVar[str] = "pillars"
    lidar_rank: ClassVar[int] = 4
    PARAMS: ClassVar[tuple[str, ...]] = ("keepout", "cost")
    COSTS: ClassVar[tuple[str, ...]] = ("pillars",)

    num: int = 0
    size: float = 0.2
    height: float = 0.5
    keepout: float = 0.3
    cost: float = 1.0
    constrain: bool = False
    observe: bool = False

    def validate(self) -> None:
        Element.validate(self)
        if self.height <= 0:
            raise ValueError(f"pillars_height must be > 0, got {self.height!r}")

    def xml(self) -> str:
        r, h = self.size, self.height
        z0, z1 = SEGMENT_Z
        return "".join(
            f"""
<body name="pillar{i}" mocap="true" pos="0 0 0">
  <geom name="pillar{i}" type="capsule" fromto="0 0 {z0} 0 0 {z1}" size="{r}" rgba="0 0 0 0"
        group="3" class="pillar"/>
  <geom name="pillar{i}_visual" type="cylinder" pos="0 0 {h}" size="{r} {h}"
        rgba=".5 .5 1 1" contype="0" conaffinity="0"/>
</body>"""
            for i in range(self.num)
        )

    def costs(self, ix: MocapIndex, ctx: CostContext, params: dict) -> dict[str, Array]:
        """pillars_cost x the number of robot-pillar contact points (before binarisation)."""
        n = count_contacts(ctx.robot_contacts, ix.geom_mask)
        return {"cost_pillars": params["pillars_cost"] * n}
