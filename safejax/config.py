"""EnvConfig: one environment as data, and the split into static config and numeric params.

Static (changes shapes or control flow, fixed at `make`): robot, task, counts, which lidars are
observed, which constraints are active, physics settings. Numeric params (`Env.params`, a dict
of float32 arrays that may be vmapped or edited without recompiling): sizes used analytically,
keepouts, extents, reward and cost weights and thresholds, lidar range, episode length.
"""

from __future__ import annotations

import dataclasses
import difflib

import jax.numpy as jnp

from safejax.types import Array


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Every key of an environment, with Safety Gym's engine defaults (spec section 2)."""

    robot: str = "point"
    task: str = "goal"
    level: int = 0
    num_steps: int = 1000
    placements_extents: tuple[float, float, float, float] = (-2.0, -2.0, 2.0, 2.0)
    robot_keepout: float = 0.4
    # goal
    goal_size: float = 0.3
    goal_keepout: float = 0.4
    observe_goal_lidar: bool = True
    # hazards (analytic: no physics)
    hazards_num: int = 0
    hazards_size: float = 0.3
    hazards_keepout: float = 0.4
    hazards_cost: float = 1.0
    constrain_hazards: bool = False
    observe_hazards: bool = False
    # vases (planar physics bodies that only the robot touches)
    vases_num: int = 0
    vases_size: float = 0.1
    vases_keepout: float = 0.15
    vases_density: float = 0.001
    vases_contact_cost: float = 1.0
    vases_velocity_cost: float = 1.0
    vases_velocity_threshold: float = 1e-4
    # Deceleration (m/s^2) of the analytic floor friction on vases, fitted to the free vase of
    # the original model pushed by the Point robot (benchmarks.fidelity; docs/FIDELITY.md).
    vases_friction: float = 3.0
    constrain_vases: bool = False
    observe_vases: bool = False
    # pillars (static mocap capsules: robot and box collide with them)
    pillars_num: int = 0
    pillars_size: float = 0.2
    pillars_height: float = 0.5
    pillars_keepout: float = 0.3
    pillars_cost: float = 1.0
    constrain_pillars: bool = False
    observe_pillars: bool = False
    # buttons (Button task: static mocap spheres)
    buttons_num: int = 0
    buttons_size: float = 0.1
    buttons_keepout: float = 0.3
    buttons_cost: float = 1.0
    buttons_resampling_delay: int = 10
    buttons_redraw_same: bool = True  # Safety Gym may re-draw the goal button just pressed
    constrain_buttons: bool = False
    observe_buttons: bool = False
    # gremlins (kinematic mocap boxes circling their centres)
    gremlins_num: int = 0
    gremlins_size: float = 0.1
    gremlins_keepout: float = 0.5
    gremlins_travel: float = 0.3
    gremlins_contact_cost: float = 1.0
    constrain_gremlins: bool = False
    observe_gremlins: bool = False
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
    # physics (MJX) settings; robot defaults apply where None
    substeps: int = 10
    solver: str | None = None
    solver_iterations: int | None = None
    ls_iterations: int | None = None
    max_geom_pairs: int | None = None
    max_contact_points: int | None = None
    condim: int = 3
    final_forward: bool = True
    # layout sampling
    layout_candidates: int = 100
    layout_max_tries: int = 100
    goal_candidates: int = 64
    goal_max_rounds: int = 100

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **overrides) -> EnvConfig:
        check_keys(overrides, "environment config key")
        if "placements_extents" in overrides:
            overrides["placements_extents"] = tuple(
                float(v) for v in overrides["placements_extents"]
            )
        return dataclasses.replace(self, **overrides)


PARAM_KEYS = (
    "num_steps",
    "placements_extents",
    "robot_keepout",
    "goal_size",
    "goal_keepout",
    "hazards_size",
    "hazards_keepout",
    "hazards_cost",
    "vases_keepout",
    "vases_contact_cost",
    "vases_velocity_cost",
    "vases_velocity_threshold",
    "vases_friction",
    "pillars_keepout",
    "pillars_cost",
    "buttons_keepout",
    "buttons_cost",
    "buttons_resampling_delay",
    "gremlins_keepout",
    "gremlins_travel",
    "gremlins_contact_cost",
    "box_size",
    "box_keepout",
    "box_null_dist",
    "reward_box_dist",
    "reward_box_goal",
    "reward_distance",
    "reward_goal",
    "reward_clip",
    "reward_exception",
    "lidar_max_dist",
)


def make_params(config: EnvConfig) -> dict[str, Array]:
    """The numeric params pytree of a config."""
    return {k: jnp.asarray(getattr(config, k), jnp.float32) for k in PARAM_KEYS}


def check_keys(keys, what: str) -> None:
    """Raises ValueError naming any key that is not an EnvConfig field (with the closest match)."""
    valid = EnvConfig.field_names()
    for k in keys:
        if k not in valid:
            close = difflib.get_close_matches(k, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown {what} {k!r}{hint}; valid keys: {', '.join(valid)}")
