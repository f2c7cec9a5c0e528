"""Elements that are mocap bodies (pillars, buttons, gremlins): index tables and placement.

Their positions differ per world, so they cannot be compiled into the model: each is a mocap body
whose position lives in `data.mocap_pos` (written at reset, or every substep for gremlins).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import mujoco
import numpy as np

from safejax.elements.base import Element, SceneInfo, World
from safejax.types import Array


class MocapIndex(NamedTuple):
    mocap: np.ndarray  # (num,) mocap ids
    geoms: np.ndarray  # (num,) id of each body's colliding geom
    geom_mask: np.ndarray  # (ngeom,) bool mask of those geoms


def index(model: mujoco.MjModel, prefix: str, num: int) -> tuple[np.ndarray, np.ndarray]:
    """(mocap ids (num,), geom ids (num,)) of the mocap bodies `{prefix}{i}`, each holding one
    geom named like the body."""
    ids = np.zeros(num, np.int32)
    geoms = np.zeros(num, np.int32)
    for i in range(num):
        body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"{prefix}{i}")
        ids[i] = model.body_mocapid[body]
        geoms[i] = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{prefix}{i}")
    return ids, geoms


def geom_mask(model: mujoco.MjModel, geoms: np.ndarray) -> np.ndarray:
    """(ngeom,) bool mask of the given geom ids."""
    mask = np.zeros(model.ngeom, bool)
    mask[geoms] = True
    return mask


@dataclasses.dataclass(frozen=True)
class MocapElement(Element):
    """An element of `num` mocap bodies named `{prefix}{i}`, each with one colliding geom of the
    same name, placed at its sampled xy at reset (z from the model)."""

    @property
    def prefix(self) -> str:
        return self.group.removesuffix("s")

    def bind(self, model: mujoco.MjModel, scene: SceneInfo) -> MocapIndex:
        ids, geoms = index(model, self.prefix, self.num)
        return MocapIndex(ids, geoms, geom_mask(model, geoms))

    def init(self, ix: MocapIndex, key: Array, xy: Array, world: World) -> World:
        world = super().init(ix, key, xy, world)
        return world._replace(mocap_pos=world.mocap_pos.at[ix.mocap, :2].set(xy))
