"""Env: one Safety Gym world as two pure functions, `reset(key)` and `step(state, action)`.

The physics model is compiled once per environment (`safejax.physics`); every per-world,
per-episode quantity (robot pose, vase and box positions, mocap positions of pillars, buttons and
gremlins, goal, hazards) lives in `mjx.Data` or in `State`. The caller owns `jit` and `vmap` (see
`safejax.VecEnv`).

The env is the step skeleton shared by the three tasks; what differs per task (its layout
entries, reward, goal test and goal re-sampling) lives in `safejax.tasks`, and each element's
positions and cost in `safejax.elements`.

Step order follows Safety Gym (spec section 3.2): clip the action, run `substeps` physics steps,
refresh kinematics and sensors, reward (dense part clipped), costs (per-constraint, each and the
total binarised), goal bonus and goal re-sampling, step count and time limit, observation.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from safejax import physics, placement, scene
from safejax.config import EnvConfig, make_params
from safejax.elements import box, buttons, gremlins, hazards, pillars, vases
from safejax.physics.linalg import ArrowStructure
from safejax.robots import ROBOTS, set_root_pose
from safejax.sensors.lidar import pseudo_lidar
from safejax.tasks import TASKS
from safejax.types import Array, Frame, State

# Fixed across every environment (zero where a constraint is absent), so metrics stack and
# aggregate the same way for all 27 names.
COST_KEYS = (
    "cost_hazards",
    "cost_vases_contact",
    "cost_vases_velocity",
    "cost_pillars",
    "cost_buttons",
    "cost_gremlins",
)
# Lidar groups in observation order. Safety-Gymnasium's per-task orders ([goal, hazards, vases],
# [buttons, goal, hazards, gremlins], [goal, hazards, pillars, box]) are all sub-sequences of it.
LIDAR_ORDER = ("buttons", "goal", "hazards", "vases", "pillars", "gremlins", "box")
# Element layout entries, sampled after the robot and the task's own entries (spec 7.1).
ELEMENT_LAYOUT = (
    ("hazards", "hazards_num", "hazards_keepout"),
    ("vases", "vases_num", "vases_keepout"),
    ("pillars", "pillars_num", "pillars_keepout"),
    ("gremlins", "gremlins_num", "gremlins_keepout"),
)
FLAG_KEYS = ("goal_met", "physics_error", "nonfinite_action", "layout_failed", "resample_failed")


class Env:
    """A Safety Gym environment (robot + task + elements + sensors) over MJX."""

    def __init__(self, config: EnvConfig, name: str | None = None):
        if config.robot not in ROBOTS:
            raise ValueError(f"unknown robot {config.robot!r}; valid: {sorted(ROBOTS)}")
        if config.task not in TASKS:
            raise ValueError(f"unknown task {config.task!r}; valid: {sorted(TASKS)}")
        self.config = config
        self.name = name or f"{config.robot.capitalize()}{config.task.capitalize()}{config.level}"
        self.robot = ROBOTS[config.robot]
        self.mj_model, self.index = scene.build(config, self.robot)
        self.physics = physics.compile(self.mj_model, config, hub_body=self.index.robot_body)
        self.task = TASKS[config.task](config, self.index)
        self._vase_mass = vases.mass(config)
        self.params = make_params(config)
        self.num_steps = config.num_steps
        self._layout = self._layout_spec()
        self.obs_layout = self._build_obs_layout()
        self.observation_size = max(s.stop for s in self.obs_layout.values())
        self.action_size = int(self.mj_model.nu)

    @property
    def arrow(self) -> ArrowStructure | None:
        """The dof partition of the physics' Cholesky factor (None: dense). Assigning one
        replaces it for the steps traced afterwards (to compare factorisations)."""
        return self.physics.arrow

    @arrow.setter
    def arrow(self, structure: ArrowStructure | None) -> None:
        self.physics = dataclasses.replace(self.physics, arrow=structure)

    # ------------------------------------------------------------------ build half
    def _layout_spec(self) -> tuple[tuple[str, int, str], ...]:
        """Layout entries (group, count, keepout param) in Safety Gym's sampling order (spec
        7.1): robot, the task's entries (goal, box), then buttons, hazards, vases, pillars,
        gremlins."""
        c = self.config
        entries = [("robot", 1, "robot_keepout"), *self.task.layout]
        if c.buttons_num:
            entries.append(("buttons", c.buttons_num, "buttons_keepout"))
        entries += [(g, getattr(c, n), k) for g, n, k in ELEMENT_LAYOUT]
        return tuple(entries)

    def _lidar_groups(self) -> list[str]:
        c = self.config
        observed = {
            "buttons": c.observe_buttons,
            "goal": c.observe_goal_lidar,
            "hazards": c.observe_hazards,
            "vases": c.observe_vases,
            "pillars": c.observe_pillars,
            "gremlins": c.observe_gremlins,
            "box": c.observe_box_lidar and c.task == "push",
        }
        return [g for g in LIDAR_ORDER if observed[g]]

    def _build_obs_layout(self) -> dict[str, slice]:
        """Sensors first (robot order), then one lidar per observed group, as Safety-Gymnasium."""
        layout: dict[str, slice] = {}
        i = 0
        for name, dim in self.robot.sensor_names:
            layout[name] = slice(i, i + dim)
            i += dim
        for name, dim, _ in self.robot.extra_obs:
            layout[name] = slice(i, i + dim)
            i += dim
        for group in self._lidar_groups():
            layout[f"{group}_lidar"] = slice(i, i + self.config.lidar_num_bins)
            i += self.config.lidar_num_bins
        return layout

    # ------------------------------------------------------------------ run half
    def _keepouts(self, params: dict, skip: str = "") -> Array:
        """(n,) keepout of every layout entry (except group `skip`), in layout order."""
        parts = [jnp.full((n,), params[k]) for g, n, k in self._layout if g != skip]
        return jnp.concatenate(parts)

    def _split_layout(self, xy: Array) -> dict[str, Array]:
        """Sampled layout (n, 2) -> {group: (count, 2)}."""
        out, i = {}, 0
        for group, n, _ in self._layout:
            out[group] = xy[i : i + n]
            i += n
        return out

    def substep_hook(self, objects: dict, params: dict) -> physics.SubstepHook:
        """The element work before each physics substep, as the callback `physics.step` takes:
        the vases' analytic floor friction, and the gremlins moved along their circles (Safety
        Gym sets their mocap targets before every `mj_step`, spec 6.6)."""
        idx = self.index

        def hook(data):
            dt = self.robot.timestep
            data = vases.friction(
                data, idx.vase_dof_adr, self._vase_mass, params["vases_friction"], dt
            )
            centres = _group(objects, "gremlins")
            return gremlins.place(data, idx.gremlin_mocap, centres, params["gremlins_travel"])

        return hook

    def _robot_pose(self, data) -> tuple[Array, Array]:
        b = self.index.robot_body
        return data.xpos[b], data.xmat[b]

    def _positions(self, data, task: dict, objects: dict) -> dict[str, Array]:
        """Current (n, 2) xy of every object group: moving ones (vases, box, gremlins) from
        physics, static ones from `objects`, the goal from the task."""
        idx = self.index
        pos, _ = self._robot_pose(data)
        out = {
            "robot": pos[None, :2],
            "goal": task["goal"][None, :],
            "buttons": _group(objects, "buttons"),
            "hazards": objects["hazards"],
            "vases": vases.positions(data, idx.vase_qpos_adr),
            "pillars": _group(objects, "pillars"),
            "gremlins": gremlins.positions(data, idx.gremlin_mocap),
        }
        if self.config.task == "push":
            out["box"] = box.position(data, idx.box)[None, :2]
        return out

    def _observe(self, data, task: dict, objects: dict, params: dict) -> Array:
        parts = [data.sensordata[adr : adr + dim] for _, adr, dim in self.index.sensor_slices]
        parts += [fn(data) for _, _, fn in self.robot.extra_obs]
        pos, mat = self._robot_pose(data)
        bins = self.config.lidar_num_bins
        xy = self._positions(data, task, objects)
        for group in self._lidar_groups():
            lidar = pseudo_lidar(pos, mat, xy[group], bins, params["lidar_max_dist"])
            if group == "buttons":
                # Safety Gym hides the buttons while the button timer runs (spec 8.2).
                lidar = jnp.where(task["timer"] > 0, 0.0, lidar)
            parts.append(lidar)
        obs = jnp.concatenate([jnp.ravel(p) for p in parts]).astype(jnp.float32)
        return obs

    def _costs(self, data, task: dict, objects: dict, params: dict) -> dict[str, Array]:
        """Per-constraint costs before binarisation (zero where not constrained). `task` is the
        state before this step's goal handling (Safety Gym computes costs with the button timer
        before its tick, and the goal button before any re-draw)."""
        c, idx = self.config, self.index
        zero = jnp.zeros((), jnp.float32)
        pos, _ = self._robot_pose(data)
        out = dict.fromkeys(COST_KEYS, zero)
        if c.constrain_hazards:
            out["cost_hazards"] = hazards.hazard_cost(
                pos[:2], objects["hazards"], params["hazards_size"], params["hazards_cost"]
            )
        if c.constrain_vases:
            out["cost_vases_contact"], out["cost_vases_velocity"] = vases.costs(data, idx, params)
        if c.constrain_pillars:
            out["cost_pillars"] = pillars.cost(
                data, idx.robot_geom_mask, idx.pillar_geom_mask, params
            )
        if c.constrain_buttons:
            counts = buttons.contact_counts(data, idx.robot_geom_mask, idx.button_geoms)
            out["cost_buttons"] = buttons.cost(counts, task["goal_button"], task["timer"], params)
        if c.constrain_gremlins:
            out["cost_gremlins"] = gremlins.cost(
                data, idx.robot_geom_mask, idx.gremlin_geom_mask, params
            )
        return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}

    def reset(self, key: Array, params: dict | None = None) -> State:
        """A fresh world: a newly sampled layout, zero velocities, robot at a random yaw."""
        params = self.params if params is None else params
        c = self.config
        idx = self.index
        key, k_layout, k_yaw = jax.random.split(key, 3)
        # Keys for the rest derive from k_yaw, so that adding elements leaves the layout and
        # robot yaw streams of existing environments unchanged.
        k_box, k_gremlins, k_task = jax.random.split(jax.random.fold_in(k_yaw, 1), 3)
        xy, ok = placement.sample_layout(
            k_layout,
            params["placements_extents"],
            self._keepouts(params),
            num_candidates=c.layout_candidates,
            max_tries=c.layout_max_tries,
        )
        placed = self._split_layout(xy)
        yaw = jax.random.uniform(k_yaw, (), minval=0.0, maxval=2 * jnp.pi)
        blank = self.physics.data0
        qpos = set_root_pose(self.robot, blank.qpos, placed["robot"][0], yaw)
        if c.vases_num:
            qpos = qpos.at[idx.vase_qpos_adr].set(placed["vases"])
        if c.task == "push":
            box_yaw = jax.random.uniform(k_box, (), minval=0.0, maxval=2 * jnp.pi)
            qpos = box.set_pose(qpos, idx.box, placed["box"][0], box_yaw)
        # Analytic positions: hazards always, the other groups where present (gremlins: the
        # centres of their circles).
        objects = {"hazards": placed["hazards"]}
        objects.update(
            {
                g: placed[g]
                for g in ("pillars", "buttons", "gremlins")
                if g in placed and placed[g].shape[0]
            }
        )
        # Static objects are mocap bodies: only their xy changes per world (z from the model).
        mocap_pos = blank.mocap_pos
        mocap_pos = mocap_pos.at[idx.pillar_mocap, :2].set(_group(objects, "pillars"))
        mocap_pos = mocap_pos.at[idx.button_mocap, :2].set(_group(objects, "buttons"))
        gyaw = jax.random.uniform(k_gremlins, (c.gremlins_num,), minval=0.0, maxval=2 * jnp.pi)
        gquat = jnp.stack([jnp.cos(gyaw / 2), 0 * gyaw, 0 * gyaw, jnp.sin(gyaw / 2)], axis=-1)
        mocap_quat = blank.mocap_quat.at[idx.gremlin_mocap].set(gquat)
        data = physics.reset_data(
            self.physics, qpos=qpos, mocap_pos=mocap_pos, mocap_quat=mocap_quat
        )
        data = physics.forward(self.physics, self.substep_hook(objects, params)(data))
        pos, _ = self._robot_pose(data)
        frame = Frame(data=data, robot_pos=pos, objects=objects, ok=jnp.array(True))
        task = self.task.reset(k_task, frame, placed, params)
        metrics = {k: jnp.zeros((), jnp.float32) for k in COST_KEYS + FLAG_KEYS}
        metrics["layout_failed"] = (~ok).astype(jnp.float32)
        return State(
            data=data,
            task=task,
            objects=objects,
            obs=self._observe(data, task, objects, params),
            reward=jnp.zeros((), jnp.float32),
            cost=jnp.zeros((), jnp.float32),
            terminated=jnp.array(False),
            truncated=jnp.array(False),
            step=jnp.zeros((), jnp.int32),
            key=key,
            metrics=metrics,
        )

    def step(self, state: State, action: Array, params: dict | None = None) -> State:
        """Advances one control step (`substeps` physics steps)."""
        params = self.params if params is None else params
        action = jnp.asarray(action)
        if action.shape != (self.action_size,):
            raise ValueError(
                f"action has shape {action.shape}, expected ({self.action_size},) for {self.name}"
            )
        finite_action = jnp.all(jnp.isfinite(action))
        action = jnp.where(finite_action, jnp.clip(action, -1.0, 1.0), 0.0).astype(jnp.float32)
        key, k_goal = jax.random.split(state.key)

        hook = self.substep_hook(state.objects, params)
        data = physics.step(self.physics, state.data, action, hook)
        # A physics step that produced non-finite numbers ends the episode (Safety Gym: MuJoCo
        # exception -> done, reward_exception). The world keeps its last finite state.
        physics_ok = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
        physics_ok &= jnp.all(jnp.isfinite(data.sensordata))
        safe_prev = jax.tree.map(_finite_or_zero, state.data)
        data = jax.tree.map(lambda a, b: jnp.where(physics_ok, a, b), data, safe_prev)

        pos, _ = self._robot_pose(data)
        objects = state.objects
        raw_costs = self._costs(data, state.task, objects, params)
        costs = {k: (v > 0).astype(jnp.float32) for k, v in raw_costs.items()}
        cost = (sum(raw_costs.values()) > 0).astype(jnp.float32)

        # Task: dense reward, goal test, goal re-sampling against the current layout.
        frame = Frame(data=data, robot_pos=pos, objects=objects, ok=physics_ok)
        others = self._resample_others(data, state.task, objects, params)
        task, reward, goal_met, resample_failed = self.task.step(
            frame, state.task, params, k_goal, others
        )
        reward = reward + jnp.where(goal_met, params["reward_goal"], 0.0)

        reward = jnp.where(physics_ok, reward, params["reward_exception"])
        cost = jnp.where(physics_ok, cost, 0.0)
        step = state.step + 1
        terminated = ~physics_ok | resample_failed
        truncated = (step >= params["num_steps"]) & ~terminated
        obs = self._observe(data, task, objects, params)
        obs = jnp.where(jnp.isfinite(obs), obs, 0.0)

        metrics = {k: jnp.where(physics_ok, v, 0.0) for k, v in costs.items()}
        metrics.update(
            goal_met=goal_met.astype(jnp.float32),
            physics_error=(~physics_ok).astype(jnp.float32),
            nonfinite_action=(~finite_action).astype(jnp.float32),
            layout_failed=state.metrics["layout_failed"],
            resample_failed=resample_failed.astype(jnp.float32),
        )
        return State(
            data=data,
            task=task,
            objects=objects,
            obs=obs,
            reward=reward.astype(jnp.float32),
            cost=cost.astype(jnp.float32),
            terminated=terminated,
            truncated=truncated,
            step=step,
            key=key,
            metrics=metrics,
        )

    def _resample_others(
        self, data, task: dict, objects: dict, params: dict
    ) -> tuple[Array, Array]:
        """Positions and keepouts of every layout entry except the goal, for goal re-sampling
        (spec 7.3): current positions, except gremlins, which keep their sampled centres."""
        xy = self._positions(data, task, objects)
        xy["gremlins"] = _group(objects, "gremlins")
        parts = [xy[g] for g, _, _ in self._layout if g != "goal"]
        return jnp.concatenate(parts, axis=0), self._keepouts(params, skip="goal")


def _group(objects: dict, group: str) -> Array:
    """(n, 2) positions of an object group; (0, 2) where the environment has none."""
    return objects.get(group, jnp.zeros((0, 2), jnp.float32))


def _finite_or_zero(x):
    if isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.where(jnp.isfinite(x), x, 0.0)
    return x
