"""Index tables of static objects that are mocap bodies (pillars, buttons, gremlins).

Their positions differ per world, so they cannot be compiled into the model: each is a mocap body
whose position lives in `data.mocap_pos` (written at reset, or every substep for gremlins).
"""

from __future__ import annotations

import mujoco
import numpy as np


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
