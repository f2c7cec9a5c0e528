"""EnvConfig: one environment as data, and the split into static config and numeric params.

An environment is a robot, a task, the world's elements and a few global settings. The elements
are a tuple of element specs (`safejax.elements`), one per registered element class in layout
order; the robot and task are named. Every element field is also reachable by its flat Safety
Gym key (`hazards_num`, `constrain_vases`, `observe_pillars`, `gremlins_travel`, ...): as an
attribute (`config.hazards_num`), in `replace(hazards_num=8)`, in `safejax.make(...)` overrides,
in configs/suite.yaml and in every CLI's `--env-set`.

Static (changes shapes or control flow, fixed at `make`): robot, task, counts, which lidars are
observed, which constraints are active, physics settings. Numeric params (`Env.params`, a dict
of float32 arrays that may be vmapped or edited without recompiling): sizes used analytically,
keepouts, extents, reward and cost weights and thresholds, lidar range, episode length; the
elements' share is derived from their `PARAMS`, the task's from its `PARAMS`.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import jax.numpy as jnp
import numpy as np

from safejax import elements as elements_registry
from safejax.elements.base import Element
from safejax.types import Array


def default_elements() -> tuple[Element, ...]:
    return tuple(cls() for cls in elements_registry.ELEMENTS)


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Every key of an environment, with Safety Gym's engine defaults (spec section 2), except
    the suite's shared lidar settings and goal lidar (docs/TASKS.md)."""

    robot: str = "point"
    task: str = "goal"
    level: int = 0
    # Episode length (steps). The one source: `Env.params["num_steps"]` is made from it.
    num_steps: int = 1000
    placements_extents: tuple[float, float, float, float] = (-2.0, -2.0, 2.0, 2.0)
    robot_keepout: float = 0.4
    # half-size of the drawn floor (m); the floor plane itself is unbounded for contacts
    floor_size: float = 3.5
    # goal (Goal and Push tasks; the Button task's goal is a button)
    goal_size: float = 0.3
    goal_keepout: float = 0.4
    observe_goal_lidar: bool = True
    # push box (Push task)
    box_size: float = 0.2
    box_keepout: float = 0.2
    box_density: float = 0.001
    box_null_dist: float = 2.0
    box_damping_rate: float = 15.6  # 1/s: slide damping = rate x mass, see FIDELITY.md
    box_yaw_damping_rate: float = 29.3  # 1/s: yaw damping = rate x mass x box_size^2
    observe_box_lidar: bool = False
    # rewards
    reward_distance: float = 1.0
    reward_goal: float = 1.0
    reward_box_dist: float = 1.0
    reward_box_goal: float = 1.0
    reward_clip: float = 10.0
    reward_exception: float = -10.0
    # lidar
    lidar_num_bins: int = 16
    lidar_max_dist: float = 3.0
    # physics: the backend ("mjx" or "mujoco", `safejax.physics`) and its settings; robot and
    # backend defaults apply where None (condim: 3 on MJX, the spec's 6 on MuJoCo)
    physics: str = "mjx"
    substeps: int = 10
    solver: str | None = None
    solver_iterations: int | None = None
    ls_iterations: int | None = None
    max_geom_pairs: int | None = None
    max_contact_points: int | None = None
    condim: int | None = None
    final_forward: bool = True
    # MuJoCo backend only: resting bodies sleep below this velocity (None: the backend's 1e-5;
    # 0: never; `safejax.physics.native`)
    sleep_tolerance: float | None = None
    # layout sampling
    layout_candidates: int = 100
    layout_max_tries: int = 100
    goal_candidates: int = 64
    goal_max_rounds: int = 100
    # the world's elements: one spec per registered element class, in registry order
    elements: tuple[Element, ...] = dataclasses.field(default_factory=default_elements)
    # settings of the task's own (`Task.SETTINGS`, e.g. `circle_radius`), as sorted (key, value)
    # pairs; a key not given here has the task's default
    task_settings: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        """Normalises `elements` to one spec per registered class, in registry order."""
        by_group: dict[str, Element] = {}
        for spec in self.elements:
            if not isinstance(spec, Element):
                raise TypeError(f"elements must be Element specs, got {spec!r}")
            if spec.group in by_group:
                raise ValueError(f"two specs for the element {spec.group!r}")
            by_group[spec.group] = spec
        registered = [cls.group for cls in elements_registry.ELEMENTS]
        unknown = sorted(set(by_group) - set(registered))
        if unknown:
            raise ValueError(f"unregistered element(s) {unknown}; registered: {registered}")
        specs = tuple(by_group.get(cls.group) or cls() for cls in elements_registry.ELEMENTS)
        object.__setattr__(self, "elements", specs)
        object.__setattr__(self, "task_settings", tuple(sorted(dict(self.task_settings).items())))

    # ------------------------------------------------------------------ element access
    def element(self, group: str) -> Element:
        """The spec of the element `group` ("hazards", ...)."""
        for spec in self.elements:
            if spec.group == group:
                return spec
        valid = [s.group for s in self.elements]
        raise KeyError(f"no element {group!r}; elements: {', '.join(valid)}")

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: flat element keys (`hazards_num`, ...).
        if name.startswith("__") or name == "elements":
            raise AttributeError(name)
        try:
            specs = object.__getattribute__(self, "elements")
        except AttributeError:
            raise AttributeError(name) from None
        for spec in specs:
            field = spec.flat_keys().get(name)
            if field is not None:
                return getattr(spec, field)
        defaults = task_setting_defaults()
        if name in defaults:
            return dict(object.__getattribute__(self, "task_settings")).get(name, defaults[name])
        raise AttributeError(f"EnvConfig has no key {name!r}")

    @classmethod
    def own_field_names(cls) -> list[str]:
        hidden = ("elements", "task_settings")
        return [f.name for f in dataclasses.fields(cls) if f.name not in hidden]

    @classmethod
    def field_names(cls) -> list[str]:
        """Every key an override may name: the global settings, every element's flat keys and
        every task's settings."""
        element_keys = [k for c in elements_registry.ELEMENTS for k in c.flat_keys()]
        return cls.own_field_names() + element_keys + list(task_setting_defaults())

    def flat(self) -> dict[str, Any]:
        """Every key and its value, elements flattened, with this task's settings (for display
        and run records)."""
        out = {k: getattr(self, k) for k in self.own_field_names()}
        for spec in self.elements:
            out.update(spec.flat_items())
        out.update({k: getattr(self, k) for k in task_setting_defaults(self.task)})
        return out

    def replace(self, **overrides) -> EnvConfig:
        """A copy with keys replaced: global fields, flat element keys, or `elements` whole."""
        check_keys([k for k in overrides if k != "elements"], "environment config key")
        if "placements_extents" in overrides:
            overrides["placements_extents"] = tuple(
                float(v) for v in overrides["placements_extents"]
            )
        own = set(self.own_field_names()) | {"elements", "task_settings"}
        direct = {k: v for k, v in overrides.items() if k in own}
        settings = {k: v for k, v in overrides.items() if k in task_setting_defaults()}
        if settings:
            direct["task_settings"] = tuple({**dict(self.task_settings), **settings}.items())
        config = dataclasses.replace(self, **direct) if direct else self
        per_group: dict[str, dict[str, Any]] = {}
        for k, v in overrides.items():
            if k in own or k in settings:
                continue
            for cls in elements_registry.ELEMENTS:
                field = cls.flat_keys().get(k)
                if field is not None:
                    per_group.setdefault(cls.group, {})[field] = v
        if per_group:
            have = {s.group: s for s in config.elements}
            specs = []
            for cls in elements_registry.ELEMENTS:  # also classes registered since
                spec = have.get(cls.group) or cls()
                if cls.group in per_group:
                    spec = dataclasses.replace(spec, **per_group[cls.group])
                specs.append(spec)
            config = dataclasses.replace(config, elements=tuple(specs))
        return config

    def validate(self) -> None:
        """Raises ValueError naming the offending key of a config no world can be built from."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", "float") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{f.name} must be a number ({f.type}), got {value!r}")
            if f.type == "int" and not isinstance(value, int):
                raise ValueError(f"{f.name} must be an integer, got {value!r}")
            if f.type == "float" and not np.isfinite(value):
                raise ValueError(f"{f.name} must be finite, got {value!r}")
        for key, value in self.task_settings:
            if isinstance(value, float) and not np.isfinite(value):
                raise ValueError(f"{key} must be finite, got {value!r}")
        for key in ("num_steps", "substeps", "lidar_num_bins", "layout_candidates"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)!r}")
        for key in ("robot_keepout", "goal_keepout", "box_keepout", "reward_clip"):
            if not getattr(self, key) >= 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)!r}")
        if len(self.placements_extents) != 4 or not all(
            np.isfinite(v) for v in self.placements_extents
        ):
            raise ValueError(f"placements_extents must be 4 finite numbers, "
                             f"got {self.placements_extents!r}")  # fmt: skip
        x0, y0, x1, y1 = self.placements_extents
        if not (x0 <= x1 and y0 <= y1):
            raise ValueError(
                f"placements_extents must be (xmin, ymin, xmax, ymax) with min <= max, "
                f"got {self.placements_extents}"
            )
        for key in ("goal_size", "box_size", "lidar_max_dist"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)!r}")
        from safejax.physics import BACKENDS

        if self.physics not in BACKENDS:
            raise ValueError(f"physics must be one of {sorted(BACKENDS)}, got {self.physics!r}")
        if self.sleep_tolerance is not None:
            if self.physics != "mujoco" and self.sleep_tolerance != 0:
                raise ValueError(
                    f"sleep_tolerance={self.sleep_tolerance!r} needs physics='mujoco' (MJX has "
                    "no body sleeping)"
                )
            if not (np.isfinite(self.sleep_tolerance) and self.sleep_tolerance >= 0):
                raise ValueError(f"sleep_tolerance must be >= 0, got {self.sleep_tolerance!r}")
        if self.condim is not None and self.condim not in (1, 3, 4, 6):
            raise ValueError(f"condim must be 1, 3, 4 or 6, got {self.condim!r}")
        for spec in self.elements:
            spec.validate()

    @property
    def contact_dim(self) -> int:
        """The geoms' contact dimension: `condim`, else the backend's default (MJX 3, MuJoCo
        the spec's 6)."""
        if self.condim is not None:
            return self.condim
        return 6 if self.physics == "mujoco" else 3


def task_setting_defaults(task: str | None = None) -> dict[str, Any]:
    """{key: default} of the settings of every registered task (or of `task` alone)."""
    from safejax.tasks import TASKS

    out: dict[str, Any] = {}
    for name, cls in TASKS.items():
        if task is None or name == task:
            out.update(cls.SETTINGS)
    return out


# Global numeric params (the task's and the elements' are added by `make_params`).
PARAM_KEYS = (
    "num_steps",
    "placements_extents",
    "robot_keepout",
    "goal_size",
    "goal_keepout",
    "reward_distance",
    "reward_goal",
    "reward_clip",
    "reward_exception",
    "lidar_max_dist",
)


def make_params(config: EnvConfig, task_params: tuple[str, ...] = ()) -> dict[str, Array]:
    """The numeric params pytree of a config: the global keys, the task's (`task_params`, config
    field names) and every element's `PARAMS`."""
    values = {k: getattr(config, k) for k in (*PARAM_KEYS, *task_params)}
    for spec in config.elements:
        values.update(spec.param_values())
    return {k: jnp.asarray(v, jnp.float32) for k, v in values.items()}


def check_keys(keys, what: str) -> None:
    """Raises ValueError naming any key that is not an EnvConfig key (with the closest match)."""
    valid = EnvConfig.field_names()
    for k in keys:
        if k not in valid:
            close = difflib.get_close_matches(k, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown {what} {k!r}{hint}; valid keys: {', '.join(valid)}")
