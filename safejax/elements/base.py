"""The element protocol: what one kind of world element (hazards, vases, ...) contributes.

An element is a frozen dataclass: its fields are its spec (count, size, keepout, costs, whether
it is constrained and observed, anything of its own), and its methods are the two halves of
the environment:

  build half (once per environment, numpy and MJCF):
    xml()                    bodies and geoms for the scene's worldbody ("" when none)
    xml_for(physics)         the same for one physics backend (default: `xml()`)
    model_xml_for(physics)   top-level MJCF after the worldbody (equality constraints; "")
    bind(model, scene)       the static ids and addresses it needs in the compiled model

  run half (pure and traceable; `ix` is what `bind` returned):
    init(ix, key, xy, world) -> world        place the sampled layout into the blank world
    positions(ix, data, objects) -> (n, 2)   current xy (lidar, goal re-sampling)
    anchors(ix, data, objects) -> (n, 2)     xy that goal re-sampling keeps clear (default:
                                             the current positions)
    substep(ix, data, objects, params) -> data   work before every physics substep
    costs(ix, ctx, params) -> {metric: raw cost}  only called when `constrain` is set
    lidar(ix, reading, task) -> reading      a last say over its lidar (default: unchanged)

Everything else is derived from the class's declarations: its layout entry (`group`, `num`,
keepout param), its lidar (`lidar_rank` orders the observation groups), its cost metrics
(`COSTS`), its numeric params (`PARAMS`: fields copied into `Env.params` as
`{group}_{field}`, vmappable without recompiling) and its flat keys (`hazards_num`,
`constrain_hazards`, `observe_hazards`, ...: the names Safety Gym's config used, accepted by
`safejax.make`, the suite's YAML and every CLI's `--env-set`).

A new element is one module with one such class, registered in `safejax.elements.ELEMENTS`
(the order there is the layout sampling order).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from safejax.types import Array


class World(NamedTuple):
    """The blank world an element writes its sampled layout into at reset."""

    qpos: Array
    mocap_pos: Array
    mocap_quat: Array
    objects: dict  # analytic positions kept in `State.objects`


class SceneInfo(NamedTuple):
    """What `bind` may need of the scene besides the model."""

    robot_geom_mask: np.ndarray  # (ngeom,) bool: the robot's own geoms
    physics: str = "mjx"  # the backend the model is for (`EnvConfig.physics`)


class CostContext(NamedTuple):
    """One world after a physics step, as the element costs see it. `task` is the task state
    before this step's goal handling (the button timer before its tick)."""

    data: Any
    robot_contacts: Array  # (ngeom,) the robot's contacts with each geom
    robot_pos: Array  # (3,)
    robot_vel: Array  # (3,) world-frame linear velocity of the robot's origin, at the step's end
    robot_prev_pos: Array  # (3,) the robot origin's position before the step
    control_dt: float  # seconds per control step (substeps x timestep)
    robot_geom_mask: np.ndarray
    task: dict
    objects: dict


def _flat(group: str, field: str) -> str:
    if field in ("constrain", "observe"):
        return f"{field}_{group}"
    return f"{group}_{field}"


@dataclasses.dataclass(frozen=True)
class Element:
    """Base of every element spec (see the module docstring for the protocol)."""

    group: ClassVar[str] = ""
    lidar_rank: ClassVar[int] = 100
    # Fields copied into the numeric params (as `{group}_{field}`).
    PARAMS: ClassVar[tuple[str, ...]] = ("keepout",)
    # Cost metrics this element reports (each `cost_...`), in a fixed order.
    COSTS: ClassVar[tuple[str, ...]] = ()
    # Whether the element's bodies are placed by the layout sampler (one entry of `num` items,
    # keepout `{group}_keepout`); fixed elements (boundary walls, a speed limit) are not.
    PLACED: ClassVar[bool] = True
    # Whether `init` stores the sampled xy in `State.objects[group]` (analytic or mocap
    # positions); elements whose positions live in the physics state leave it False.
    STORES_POSITIONS: ClassVar[bool] = True
    # Whether `State.objects` holds the group even when the world has none of it (an empty
    # (0, 2) array); otherwise only groups with `num > 0` are stored, so that a world's state
    # carries no empty arrays.
    ALWAYS_STORED: ClassVar[bool] = False
    # Which reset key the element draws from: None (it draws nothing), 0 (the elements' key
    # itself, kept by the gremlins so that the suite's recorded streams stay as they were) or
    # any other int (that key folded with it).
    KEY_STREAM: ClassVar[int | None] = None

    num: int = 0
    size: float = 0.1
    keepout: float = 0.3
    constrain: bool = False
    observe: bool = False

    # ------------------------------------------------------------------ declarations
    @classmethod
    def flat_keys(cls) -> dict[str, str]:
        """{flat config key: field}, e.g. {"hazards_num": "num", "constrain_hazards": ...}."""
        return {_flat(cls.group, f.name): f.name for f in dataclasses.fields(cls)}

    def flat_items(self) -> dict[str, Any]:
        return {k: getattr(self, f) for k, f in self.flat_keys().items()}

    def param_values(self) -> dict[str, float]:
        return {_flat(self.group, p): getattr(self, p) for p in self.PARAMS}

    @classmethod
    def cost_keys(cls) -> tuple[str, ...]:
        return tuple(f"cost_{c}" for c in cls.COSTS)

    def validate(self) -> None:
        """Raises ValueError naming the offending key of an impossible spec: a field of another
        type than its default's (a string count, a number for a flag), a negative count, a
        non-finite number, a non-positive size or a negative keepout."""
        defaults = type(self)()
        for f in dataclasses.fields(self):
            value, default = getattr(self, f.name), getattr(defaults, f.name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
            elif isinstance(default, float):
                ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
            else:
                ok = True
            if not ok:
                raise ValueError(
                    f"{_flat(self.group, f.name)} must be a {type(default).__name__}, got "
                    f"{value!r} ({type(value).__name__})"
                )
        if isinstance(self.num, bool) or not isinstance(self.num, int | np.integer) or self.num < 0:
            raise ValueError(f"{self.group}_num must be an integer >= 0, got {self.num!r}")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not np.isfinite(v):
                raise ValueError(f"{_flat(self.group, f.name)} must be finite, got {v!r}")
        if self.size <= 0:
            raise ValueError(f"{self.group}_size must be > 0, got {self.size!r}")
        if self.keepout < 0:
            raise ValueError(f"{self.group}_keepout must be >= 0, got {self.keepout!r}")

    def param_key(self, field: str) -> str:
        return _flat(self.group, field)

    # ------------------------------------------------------------------ build half
    def xml(self) -> str:
        return ""

    def xml_for(self, physics: str) -> str:
        """The bodies for a physics backend (`EnvConfig.physics`): `xml()` on both, unless the
        element's MJX model is a proxy that the MuJoCo backend replaces with the spec's own
        shape (the vases)."""
        return self.xml()

    def model_xml_for(self, physics: str) -> str:
        """Top-level MJCF elements placed after the worldbody for a physics backend (e.g. an
        `<equality>` block)."""
        return ""

    def bind(self, model, scene: SceneInfo) -> Any:
        return None

    # ------------------------------------------------------------------ run half
    def init(self, ix: Any, key: Array, xy: Array, world: World) -> World:
        if self.STORES_POSITIONS and (self.num > 0 or self.ALWAYS_STORED):
            return world._replace(objects={**world.objects, self.group: xy})
        return world

    def positions(self, ix: Any, data, objects: dict) -> Array:
        return objects.get(self.group, jnp.zeros((0, 2), jnp.float32))

    def anchors(self, ix: Any, data, objects: dict) -> Array:
        return self.positions(ix, data, objects)

    def substep(self, ix: Any, data, objects: dict, params: dict):
        return data

    def costs(self, ix: Any, ctx: CostContext, params: dict) -> dict[str, Array]:
        return {}

    def lidar(self, ix: Any, reading: Array, task: dict) -> Array:
        return reading


def element_key(cls: type[Element], key: Array) -> Array:
    """The reset key an element class draws from (see `Element.KEY_STREAM`)."""
    if cls.KEY_STREAM in (None, 0):
        return key
    return jax.random.fold_in(key, cls.KEY_STREAM)


def yaw_quat(yaw: Array) -> Array:
    """(..., 4) quaternions (cos(yaw / 2), 0, 0, sin(yaw / 2)) of rotations about z by `yaw`."""
    return jnp.stack([jnp.cos(yaw / 2), 0 * yaw, 0 * yaw, jnp.sin(yaw / 2)], axis=-1)
