"""Env: one Safety Gym world as two pure functions, `reset(key)` and `step(state, action)`.

The MJX model is compiled once per environment; every per-world, per-episode quantity (robot
pose, vase positions, goal, hazards) lives in `mjx.Data` or in `State`. The caller owns `jit`
and `vmap` (see `safejax.VecEnv`).

Step order follows Safety Gym (spec section 3.2): clip the action, run `substeps` physics steps,
refresh kinematics and sensors, reward (dense part clipped), costs (per-constraint, each and the
total binarised), goal bonus and goal re-sampling, step count and time limit, observation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from mujoco import mjx

from safejax import placement, scene
from safejax.config import EnvConfig, make_params
from safejax.elements import hazards, vases
from safejax.robots import ROBOTS, set_root_pose
from safejax.sensors.lidar import pseudo_lidar
from safejax.tasks import goal as goal_task
from safejax.types import Array, State

COST_KEYS = (
    "cost_hazards",
    "cost_vases_contact",
    "cost_vases_velocity",
)
FLAG_KEYS = ("goal_met", "physics_error", "nonfinite_action", "layout_failed", "resample_failed")


class Env:
    """A Safety Gym environment (robot + task + elements + sensors) over MJX."""

    def __init__(self, config: EnvConfig, name: str | None = None):
        if config.robot not in ROBOTS:
            raise ValueError(f"unknown robot {config.robot!r}; valid: {sorted(ROBOTS)}")
        if config.task != "goal":
            raise ValueError(f"unknown task {config.task!r}; valid: ['goal']")
        self.config = config
        self.name = name or f"{config.robot.capitalize()}{config.task.capitalize()}{config.level}"
        self.robot = ROBOTS[config.robot]
        self.mj_model, self.index = scene.build(config, self.robot)
        self.model = mjx.put_model(self.mj_model)
        self._data0 = mjx.make_data(self.model)
        self.params = make_params(config)
        self.num_steps = config.num_steps
        self._layout_names, self._layout_keepout_keys = self._layout_spec()
        self.obs_layout = self._build_obs_layout()
        self.observation_size = max(s.stop for s in self.obs_layout.values())
        self.action_size = int(self.mj_model.nu)

    # ------------------------------------------------------------------ build half
    def _layout_spec(self) -> tuple[list[str], list[str]]:
        """Layout entries in Safety Gym's sampling order (spec 7.1) with their keepout keys."""
        c = self.config
        names = ["robot", "goal"]
        keys = ["robot_keepout", "goal_keepout"]
        names += [f"hazard{i}" for i in range(c.hazards_num)]
        keys += ["hazards_keepout"] * c.hazards_num
        names += [f"vase{i}" for i in range(c.vases_num)]
        keys += ["vases_keepout"] * c.vases_num
        return names, keys

    def _lidar_groups(self) -> list[str]:
        c = self.config
        groups = []
        if c.observe_goal_lidar:
            groups.append("goal")
        if c.observe_hazards:
            groups.append("hazards")
        if c.observe_vases:
            groups.append("vases")
        return groups

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
    def _keepouts(self, params: dict) -> Array:
        return jnp.stack([params[k] for k in self._layout_keepout_keys])

    def _physics(self, data, ctrl: Array):
        data = data.replace(ctrl=ctrl)

        def substep(d, _):
            return mjx.step(self.model, d), None

        data, _ = jax.lax.scan(substep, data, None, length=self.config.substeps)
        if self.config.final_forward:
            data = self._forward(data)
        return data

    def _forward(self, data):
        """mjx.forward, plus the acceleration sensors that MJX skips in a scene without any
        constraint rows (its forward returns before `sensor_acc` when efc is empty), so that the
        accelerometer reads gravity in PointGoal0 as it does in PointGoal1."""
        data = mjx.forward(self.model, data)
        if data._impl.efc_J.size == 0:
            data = mjx.sensor_acc(self.model, data)
        return data

    def _robot_pose(self, data) -> tuple[Array, Array]:
        b = self.index.robot_body
        return data.xpos[b], data.xmat[b]

    def _observe(self, data, task: dict, objects: dict, params: dict) -> Array:
        parts = [data.sensordata[adr : adr + dim] for _, adr, dim in self.index.sensor_slices]
        parts += [fn(data) for _, _, fn in self.robot.extra_obs]
        pos, mat = self._robot_pose(data)
        bins = self.config.lidar_num_bins
        groups = {
            "goal": lambda: task["goal"][None, :],
            "hazards": lambda: objects["hazards"],
            "vases": lambda: vases.positions(data, self.index.vase_qpos_adr),
        }
        for group in self._lidar_groups():
            parts.append(pseudo_lidar(pos, mat, groups[group](), bins, params["lidar_max_dist"]))
        obs = jnp.concatenate([jnp.ravel(p) for p in parts]).astype(jnp.float32)
        return obs

    def _costs(self, data, objects: dict, params: dict) -> dict[str, Array]:
        """Per-constraint costs before binarisation (zero where not constrained)."""
        c = self.config
        zero = jnp.zeros((), jnp.float32)
        pos, _ = self._robot_pose(data)
        out = dict.fromkeys(COST_KEYS, zero)
        if c.constrain_hazards:
            out["cost_hazards"] = hazards.hazard_cost(
                pos[:2], objects["hazards"], params["hazards_size"], params["hazards_cost"]
            )
        if c.constrain_vases:
            out["cost_vases_contact"], out["cost_vases_velocity"] = vases.costs(
                data, self.index, params
            )
        return out

    def reset(self, key: Array, params: dict | None = None) -> State:
        """A fresh world: a newly sampled layout, zero velocities, robot at a random yaw."""
        params = self.params if params is None else params
        c = self.config
        key, k_layout, k_yaw = jax.random.split(key, 3)
        xy, ok = placement.sample_layout(
            k_layout,
            params["placements_extents"],
            self._keepouts(params),
            num_candidates=c.layout_candidates,
            max_tries=c.layout_max_tries,
        )
        yaw = jax.random.uniform(k_yaw, (), minval=0.0, maxval=2 * jnp.pi)
        n_h, n_v = c.hazards_num, c.vases_num
        hazards_xy = xy[2 : 2 + n_h]
        vases_xy = xy[2 + n_h : 2 + n_h + n_v]
        qpos = set_root_pose(self.robot, self._data0.qpos, xy[0], yaw)
        if n_v:
            qpos = qpos.at[self.index.vase_qpos_adr].set(vases_xy)
        data = self._forward(self._data0.replace(qpos=qpos))
        pos, _ = self._robot_pose(data)
        task = {"goal": xy[1], "last_dist_goal": goal_task.planar_distance(pos, xy[1])}
        objects = {"hazards": hazards_xy}
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

        data = self._physics(state.data, action)
        # A physics step that produced non-finite numbers ends the episode (Safety Gym: MuJoCo
        # exception -> done, reward_exception). The world keeps its last finite state.
        physics_ok = jnp.all(jnp.isfinite(data.qpos)) & jnp.all(jnp.isfinite(data.qvel))
        physics_ok &= jnp.all(jnp.isfinite(data.sensordata))
        safe_prev = jax.tree.map(_finite_or_zero, state.data)
        data = jax.tree.map(lambda a, b: jnp.where(physics_ok, a, b), data, safe_prev)

        pos, _ = self._robot_pose(data)
        task, objects = state.task, state.objects
        dist = goal_task.planar_distance(pos, task["goal"])
        reward = goal_task.dense_reward(task["last_dist_goal"], dist, params)

        raw_costs = self._costs(data, objects, params)
        costs = {k: (v > 0).astype(jnp.float32) for k, v in raw_costs.items()}
        cost = (sum(raw_costs.values()) > 0).astype(jnp.float32)

        goal_met = (dist <= params["goal_size"]) & physics_ok
        reward = reward + jnp.where(goal_met, params["reward_goal"], 0.0)
        others_xy, others_keepout = self._resample_others(data, objects, params)
        new_goal, found = placement.resample_point(
            k_goal,
            goal_met,
            params["placements_extents"],
            params["goal_keepout"],
            others_xy,
            others_keepout,
            num_candidates=self.config.goal_candidates,
            max_rounds=self.config.goal_max_rounds,
        )
        goal_xy = jnp.where(goal_met & found, new_goal, task["goal"])
        last_dist = jnp.where(goal_met, goal_task.planar_distance(pos, goal_xy), dist)
        task = {"goal": goal_xy, "last_dist_goal": last_dist}

        reward = jnp.where(physics_ok, reward, params["reward_exception"])
        cost = jnp.where(physics_ok, cost, 0.0)
        step = state.step + 1
        terminated = ~physics_ok | (goal_met & ~found)
        truncated = (step >= params["num_steps"]) & ~terminated
        obs = self._observe(data, task, objects, params)
        obs = jnp.where(jnp.isfinite(obs), obs, 0.0)

        metrics = {k: jnp.where(physics_ok, v, 0.0) for k, v in costs.items()}
        metrics.update(
            goal_met=goal_met.astype(jnp.float32),
            physics_error=(~physics_ok).astype(jnp.float32),
            nonfinite_action=(~finite_action).astype(jnp.float32),
            layout_failed=state.metrics["layout_failed"],
            resample_failed=(goal_met & ~found).astype(jnp.float32),
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

    def _resample_others(self, data, objects: dict, params: dict) -> tuple[Array, Array]:
        """Current positions and keepouts of every layout entry except the goal (spec 7.3)."""
        pos, _ = self._robot_pose(data)
        xy = [pos[None, :2], objects["hazards"]]
        keep = [params["robot_keepout"][None]]
        keep.append(jnp.full((self.config.hazards_num,), params["hazards_keepout"]))
        if self.config.vases_num:
            xy.append(vases.positions(data, self.index.vase_qpos_adr))
            keep.append(jnp.full((self.config.vases_num,), params["vases_keepout"]))
        return jnp.concatenate(xy, axis=0), jnp.concatenate(keep)


def _finite_or_zero(x):
    if isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.where(jnp.isfinite(x), x, 0.0)
    return x
