"""Sigwalls: the boundary lines of the Circle and Run tasks (Safety-Gymnasium's `Sigwalls`).

Visual only, as in Safety-Gymnasium: translucent walls that nothing collides with, at fixed
places (not sampled): wall i of `num` (2 or 4) at (+lf, 0), (-lf, 0), (0, +lf), (0, -lf) with
lf = `locate_factor`, each a box of half-extents (0.05, size, 0.3) at z 0.25 (the last two turned
a quarter). The constraint is positional, checked every step the robot's origin is outside:
cost 1 when |x| > lf, or, with four walls, when |x| > lf or |y| > lf (strict inequalities, as
there). Safety-Gymnasium calls the cost `cost_out_of_boundary`; here it is `cost_sigwalls`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
import numpy as np

from safejax.elements.base import CostContext, Element
from safejax.types import Array


@dataclasses.dataclass(frozen=True)
class Sigwalls(Element):
    """Safety-Gymnasium's sigwalls (its asset defaults: 2 walls, locate_factor 1.125, size
    3.5)."""

    group: ClassVar[str] = "sigwalls"
    lidar_rank: ClassVar[int] = 8
    PARAMS: ClassVar[tuple[str, ...]] = ("locate_factor",)
    COSTS: ClassVar[tuple[str, ...]] = ("sigwalls",)
    STORES_POSITIONS: ClassVar[bool] = False
    PLACED: ClassVar[bool] = False

    num: int = 0
    size: float = 3.5
    keepout: float = 0.0
    locate_factor: float = 1.125
    constrain: bool = False
    observe: bool = False

    def validate(self) -> None:
        super().validate()
        if self.num not in (0, 2, 4):
            raise ValueError(f"sigwalls_num must be 0, 2 or 4, got {self.num!r}")
        if self.constrain and self.num == 0:
            raise ValueError("constrain_sigwalls needs sigwalls_num 2 or 4")
        if not self.locate_factor > 0:
            raise ValueError(f"sigwalls_locate_factor must be > 0, got {self.locate_factor!r}")

    def centres(self) -> np.ndarray:
        lf = self.locate_factor
        return np.array([(lf, 0.0), (-lf, 0.0), (0.0, lf), (0.0, -lf)], np.float32)[: self.num]

    def xml(self) -> str:
        out = []
        for i, (x, y) in enumerate(self.centres()):
            yaw = np.pi / 2 if i >= 2 else 0.0
            out.append(
                f'\n<geom name="sigwall{i}" type="box" pos="{x} {y} 0.25" euler="0 0 {yaw}" '
                f'size="0.05 {self.size} 0.3" rgba="1 1 0 0.1" contype="0" conaffinity="0"/>'
            )
        return "".join(out)

    def positions(self, ix, data, objects: dict) -> Array:
        return jnp.asarray(self.centres())

    def costs(self, ix, ctx: CostContext, params: dict) -> dict[str, Array]:
        if self.num == 0:
            return {}
        lf = params["sigwalls_locate_factor"]
        x, y = ctx.robot_pos[0], ctx.robot_pos[1]
        out = jnp.abs(x) > lf
        if self.num == 4:
            out |= jnp.abs(y) > lf
        return {"cost_sigwalls": out.astype(jnp.float32)}
