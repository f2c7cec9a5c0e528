"""Pillars: tall static columns that cost on contact with the robot (Push2; present in Push1).

Build half: one mocap body per pillar (its position varies per world and is written into
`data.mocap_pos` at reset). Run half: positions and the contact cost (spec section 5.1).

Collision proxy (docs/FIDELITY.md, "Pillars"): MJX has no cylinder-box collision (the push box,
the Car's chassis), and its sphere-cylinder test is an iterative SDF search, so each pillar is a
vertical capsule of the spec's radius 0.2 whose straight part spans z in [0, 2 h - r]: below
z = 0.8 its cross-section is exactly the spec's cylinder, and only the top 0.2 m (above every
robot and the box) is rounded. The capsule's lower cap lies under the floor, which it ignores.
"""

from __future__ import annotations

import mujoco
import numpy as np

from safejax.config import EnvConfig
from safejax.elements import mocap
from safejax.elements.contacts import count_contacts
from safejax.types import Array


def xml(config: EnvConfig) -> str:
    r, h = config.pillars_size, config.pillars_height
    top = 2 * h - r
    return "".join(
        f"""
<body name="pillar{i}" mocap="true" pos="0 0 0">
  <geom name="pillar{i}" type="capsule" fromto="0 0 0 0 0 {top}" size="{r}"
        rgba=".5 .5 1 1" class="pillar"/>
</body>"""
        for i in range(config.pillars_num)
    )


def index(model: mujoco.MjModel, num: int) -> tuple[np.ndarray, np.ndarray]:
    """(mocap ids (num,), geom mask (ngeom,)) of the pillars."""
    ids, geoms = mocap.index(model, "pillar", num)
    return ids, mocap.geom_mask(model, geoms)


def cost(data, robot_geom_mask: np.ndarray, pillar_geom_mask: np.ndarray, params: dict) -> Array:
    """pillars_cost x the number of robot-pillar contact points (before binarisation)."""
    return params["pillars_cost"] * count_contacts(data, robot_geom_mask, pillar_geom_mask)
