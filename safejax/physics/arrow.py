"""The arrow partition of a scene's dofs, under which MJX's Cholesky factor eliminates
independent blocks (vases, the push box, a robot's wheels or legs) before a hub around the robot
(see `safejax.physics.linalg`), and the rule that decides whether a scene uses it.
"""

from __future__ import annotations

import mujoco
import numpy as np
from mujoco.mjx._src import collision_driver

from safejax.physics.linalg import ArrowStructure

# Use the arrow-structured factor only where it needs at most this share of the dense factor's
# multiply-adds (the slicing, stacking and packing around it cost the rest).
MAX_COST_RATIO = 0.9


def choose(model: mujoco.MjModel, hub_body: int) -> ArrowStructure | None:
    """The arrow structure the MJX backend factors with: `arrow_structure` where it needs at most
    `MAX_COST_RATIO` of the dense factor's multiply-adds; None (factor densely) otherwise."""
    arrow = arrow_structure(model, hub_body)
    if arrow is not None and arrow_flops(arrow) > MAX_COST_RATIO * dense_flops(model.nv):
        return None
    return arrow


def arrow_structure(model: mujoco.MjModel, hub_body: int) -> ArrowStructure | None:
    """The cheapest dof partition under which the model's mass matrix and contact Hessian are
    arrow shaped (see `safejax.physics.linalg`), by `arrow_flops`. None where a tendon or an
    equality constraint could couple any dofs.

    The hub always holds the root body of `hub_body`'s tree (the robot's free joint, which every
    contact of the robot moves). The candidate blocks are
      - the subtrees hanging below a hub set of robot bodies (a wheel, the caster, a leg): in the
        mass matrix a dof couples only to its ancestors and descendants;
      - every other kinematic tree with dofs (a vase, the push box).
    Two candidate blocks that some geom pair may touch together (a leg and a vase) are coupled by
    that contact's Jacobian rows: one of them joins the hub. Every upward-closed set of robot
    bodies is tried, with the robot's or the objects' coupled blocks moved into the hub first.
    """
    if model.ntendon or model.neq or model.nv == 0:
        return None
    robot_root = int(model.body_rootid[hub_body])
    robot_bodies = [b for b in range(model.nbody) if model.body_rootid[b] == robot_root]
    children: dict[int, list[int]] = {b: [] for b in robot_bodies}
    for b in robot_bodies:
        if b != robot_root:
            children[int(model.body_parentid[b])].append(b)
    body_dofs = {
        b: list(range(model.body_dofadr[b], model.body_dofadr[b] + model.body_dofnum[b]))
        for b in range(model.nbody)
    }

    def subtree(b: int) -> list[int]:
        return [b] + [d for c in children[b] for d in subtree(c)]

    # Pairs of bodies MJX may collide (contype/conaffinity filter, excludes, explicit <pair>s).
    pairs = {
        (int(model.geom_bodyid[g1]), int(model.geom_bodyid[g2]))
        for g1, g2, _ in collision_driver.geom_pairs(model)
    }
    object_units = {}
    for b in range(model.nbody):
        root = int(model.body_rootid[b])
        if root != robot_root and root != 0:
            object_units.setdefault(root, []).append(b)
    best: tuple[int, ArrowStructure] | None = None
    for hub_set in _upward_closed_sets(robot_root, children):
        robot_units = [subtree(c) for b in hub_set for c in children[b] if c not in hub_set]
        units = [(u, True) for u in robot_units] + [(u, False) for u in object_units.values()]
        # A subtree without dofs (a pillar, a welded part) moves nothing: its contacts couple no
        # dofs beyond the other side's.
        units = [(u, r) for u, r in units if any(body_dofs[b] for b in u)]
        for robot_first in (True, False):
            st = _arrow_partition(model, hub_set, units, pairs, body_dofs, robot_first)
            cost = arrow_flops(st)
            if best is None or cost < best[0]:
                best = (cost, st)
    return best[1]


def arrow_flops(st: ArrowStructure) -> int:
    """Multiply-adds of `linalg.arrow_factor` under `st`, the model used to pick a partition:
    each block's own factor, its coupling solve and its Schur update, then the hub's factor."""
    nh = st.hub.size
    total = nh**3 // 3
    for group in st.blocks:
        k, s = group.shape
        total += k * (s**3 // 3 + s * s * nh + s * nh * nh)
    return total


def dense_flops(nv: int) -> int:
    """Multiply-adds of the dense factor, to compare with `arrow_flops`."""
    return nv**3 // 3


def _upward_closed_sets(root: int, children: dict[int, list[int]], limit: int = 4096):
    """Every set of bodies of one tree that holds `root` and each member's parent."""
    out: list[frozenset[int]] = []

    def grow(current: frozenset[int], frontier: tuple[int, ...]):
        if len(out) >= limit:
            return
        if not frontier:
            out.append(current)
            return
        head, rest = frontier[0], frontier[1:]
        grow(current, rest)  # head and its subtree stay out
        grow(current | {head}, rest + tuple(children[head]))

    grow(frozenset([root]), tuple(children[root]))
    return out


def _arrow_partition(model, hub_set, units, pairs, body_dofs, robot_first: bool) -> ArrowStructure:
    """Hub = `hub_set`'s dofs plus every unit that must leave the blocks because a geom pair
    can touch it together with another unit; the units that stay are the blocks."""
    unit_of = {}
    for i, (bodies, _) in enumerate(units):
        for b in bodies:
            unit_of[b] = i
    edges = {
        tuple(sorted((unit_of[b1], unit_of[b2])))
        for b1, b2 in pairs
        if b1 in unit_of and b2 in unit_of and unit_of[b1] != unit_of[b2]
    }
    dofs = [[d for b in bodies for d in body_dofs[b]] for bodies, _ in units]
    moved = set()
    # Greedy vertex cover: robot (or object) units first, then the unit with the most edges.
    while edges:
        degree: dict[int, int] = {}
        for e in edges:
            for i in e:
                degree[i] = degree.get(i, 0) + 1
        pick = max(degree, key=lambda i: (units[i][1] == robot_first, degree[i], -len(dofs[i])))
        moved.add(pick)
        edges = {e for e in edges if pick not in e}
    hub = [d for b in sorted(hub_set) for d in body_dofs[b]]
    by_size: dict[int, list[list[int]]] = {}
    for i, ds in enumerate(dofs):
        if i in moved:
            hub += ds
        elif ds:
            by_size.setdefault(len(ds), []).append(ds)
    blocks = tuple(np.array(v, np.int32) for _, v in sorted(by_size.items()))
    return ArrowStructure(nv=model.nv, hub=np.array(sorted(hub), np.int32), blocks=blocks)
