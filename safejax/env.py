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

from safejax import elements as element_registry
from safejax import physics, placement, scene
from safejax.config import EnvConfig, make_params
from safejax.elements.base import CostContext, World, element_key
from safejax.physics.linalg import ArrowStructure
from safejax.robots import ROBOTS, set_root_pose
from safejax.sensors.lidar import pseudo_lidar
from safejax.tasks import TASKS
from safejax.types import LAYOUT_FLAG, Array, Frame, State

FLAG_KEYS = ("goal_met", "physics_error", "nonfinite_action", LAYOUT_FLAG, "resample_failed")


def cost_keys() -> tuple[str, ...]:
    """The cost metrics every environment reports (zero where a constraint is absent), so that
    metrics stack and aggregate the same way for every world: each registered element's, then
    each task's own, in registry order."""
    keys = list(element_registry.cost_keys())
    for task in TASKS.values():
        keys += [k for k in task.cost_keys() if k not in keys]
    return tuple(keys)


class Env:
    """A Safety Gym environment (robot + task + elements + sensors) over MJX."""

    def __init__(self, config: EnvConfig, name: str | None = None):
        if config.robot not in ROBOTS:
            raise ValueError(f"unknown robot {config.robot!r}; valid: {sorted(ROBOTS)}")
        if config.task not in TASKS:
            raise ValueError(f"unknown task {config.task!r}; valid: {sorted(TASKS)}")
        config.validate()
        self.config = config
        self.name = name or f"{config.robot.capitalize()}{config.task.capitalize()}{config.level}"
        self.robot = ROBOTS[config.robot]
        self.task = TASKS[config.task](config)
        self.task.validate()
        self.elements = config.elements
        self.mj_model, self.index, xml = scene.build(config, self.robot, self.task)
        self.task.index = self.index
        self.physics = physics.compile(
            self.mj_model, config, hub_body=self.index.robot_body, xml=xml
        )
        self.params = make_params(config, self.task.PARAMS)
        self.cost_keys = cost_keys()
        self._layout = self._layout_spec()
        self._lidars = self._lidar_groups()
        self.obs_layout = self._build_obs_layout()
        self.observation_size = max(s.stop for s in self.obs_layout.values())
        self.action_size = int(self.mj_model.nu)

    @property
    def host_physics(self) -> bool:
        """Whether the physics runs on the host's threads (`physics="mujoco"`): such an env
        steps on one JAX device (its engine uses every core itself), so `VecEnv` and the
        learners do not shard it across devices."""
        return isinstance(self.physics, physics.NativeModel)

    @property
    def num_steps(self) -> int:
        """The configured episode length (`params["num_steps"]` is made from it; a vmapped or
        edited param overrides it per world)."""
        return self.config.num_steps

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
        7.1): robot, the task's entries (goal, box), then the elements in registry order
        (buttons, hazards, vases, pillars, gremlins)."""
        entries = [("robot", 1, "robot_keepout"), *self.task.layout]
        entries += [(s.group, s.num, s.param_key("keepout")) for s in self.elements if s.PLACED]
        return tuple(entries)

    def _lidar_groups(self) -> tuple[tuple[str, object], ...]:
        """Observed lidar groups in observation order (by lidar rank): (group, element spec or
        None for the task's own groups)."""
        ranked = [(rank, group, None) for rank, group in self.task.lidars()]
        ranked += [(s.lidar_rank, s.group, s) for s in self.elements if s.observe]
        ranked.sort(key=lambda r: r[0])
        return tuple((group, spec) for _, group, spec in ranked)

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
        for group, _ in self._lidars:
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
        """The element work before each physics substep, as the callback `physics.step` takes
        (the vases' analytic floor friction, the gremlins moved along their circles: Safety Gym
        sets their mocap targets before every `mj_step`, spec 6.6), in registry order."""
        ix = self.index.elements

        def hook(data):
            for spec in self.elements:
                data = spec.substep(ix[spec.group], data, objects, params)
            return data

        return hook

    def _robot_pose(self, data) -> tuple[Array, Array]:
        b = self.index.robot_body
        return data.xpos[b], data.xmat[b]

    def _positions(self, data, task: dict, objects: dict, anchors: bool = False) -> dict:
        """Current (n, 2) xy of every group: the robot, the task's groups, every element (moving
        ones from physics, static ones from `objects`). `anchors`: the positions goal
        re-sampling keeps clear instead (the gremlins' circle centres)."""
        ix = self.index.elements
        pos, _ = self._robot_pose(data)
        out = {"robot": pos[None, :2], **self.task.positions(data, task)}
        for s in self.elements:
            where = s.anchors if anchors else s.positions
            out[s.group] = where(ix[s.group], data, objects)
        return out

    def _observe(self, data, task: dict, objects: dict, params: dict) -> Array:
        parts = [data.sensordata[adr : adr + dim] for _, adr, dim in self.index.sensor_slices]
        parts += [fn(data) for _, _, fn in self.robot.extra_obs]
        pos, mat = self._robot_pose(data)
        bins = self.config.lidar_num_bins
        xy = self._positions(data, task, objects)
        for group, spec in self._lidars:
            lidar = pseudo_lidar(pos, mat, xy[group], bins, params["lidar_max_dist"])
            if spec is not None:
                lidar = spec.lidar(self.index.elements[group], lidar, task)
            parts.append(lidar)
        obs = jnp.concatenate([jnp.ravel(p) for p in parts]).astype(jnp.float32)
        return obs

    def _costs(
        self, frame: Frame, task: dict, params: dict, prev_pos: Array
    ) -> dict[str, Array]:
        """Per-constraint costs before binarisation (zero where not constrained). `task` is the
        state before this step's goal handling (Safety Gym computes costs with the button timer
        before its tick, and the goal button before any re-draw)."""
        zero = jnp.zeros((), jnp.float32)
        out = dict.fromkeys(self.cost_keys, zero)
        ctx = CostContext(
            data=frame.data,
            robot_contacts=frame.robot_contacts,
            robot_pos=frame.robot_pos,
            robot_vel=scene.robot_velocity(frame.data, self.index),
            robot_prev_pos=prev_pos,
            control_dt=self.robot.timestep * self.config.substeps,
            robot_geom_mask=self.index.robot_geom_mask,
            task=task,
            objects=frame.objects,
        )
        for s in self.elements:
            if s.constrain:
                out.update(s.costs(self.index.elements[s.group], ctx, params))
        out.update(self.task.costs(frame, task, params))
        return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}

    def reset(self, key: Array, params: dict | None = None) -> State:
        """A fresh world: a newly sampled layout, zero velocities, robot at a random yaw."""
        params = self.params if params is None else params
        c = self.config
        key, k_layout, k_yaw = jax.random.split(key, 3)
        # Keys for the rest derive from k_yaw, so that adding elements leaves the layout and
        # robot yaw streams of existing environments unchanged.
        k_task_objects, k_elements, k_task = jax.random.split(jax.random.fold_in(k_yaw, 1), 3)
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
        world = World(qpos=qpos, mocap_pos=blank.mocap_pos, mocap_quat=blank.mocap_quat, objects={})
        world = self.task.place(k_task_objects, placed, world)
        for s in self.elements:
            if s.PLACED:
                k = element_key(type(s), k_elements)
                world = s.init(self.index.elements[s.group], k, placed[s.group], world)
        objects = world.objects
        data = physics.reset_data(
            self.physics, qpos=world.qpos, mocap_pos=world.mocap_pos, mocap_quat=world.mocap_quat
        )
        data = physics.forward(self.physics, self.substep_hook(objects, params)(data))
        pos, _ = self._robot_pose(data)
        contacts = physics.robot_contacts(self.physics, data)
        frame = Frame(data, pos, objects, jnp.array(True), contacts)
        task = self.task.reset(k_task, frame, placed, params)
        metrics = {k: jnp.zeros((), jnp.float32) for k in self.cost_keys + FLAG_KEYS}
        metrics[LAYOUT_FLAG] = (~ok).astype(jnp.float32)
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
        contacts = physics.robot_contacts(self.physics, data)
        frame = Frame(data, pos, objects, physics_ok, contacts)
        prev_pos, _ = self._robot_pose(state.data)
        raw_costs = self._costs(frame, state.task, params, prev_pos)
        costs = {k: (v > 0).astype(jnp.float32) for k, v in raw_costs.items()}
        cost = (sum(raw_costs.values()) > 0).astype(jnp.float32)

        # Task: dense reward, goal test, goal re-sampling against the current layout.
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
            **{LAYOUT_FLAG: state.metrics[LAYOUT_FLAG]},
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
        xy = self._positions(data, task, objects, anchors=True)
        parts = [xy[g] for g, _, _ in self._layout if g != "goal"]
        return jnp.concatenate(parts, axis=0), self._keepouts(params, skip="goal")


def _finite_or_zero(x):
    if isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.where(jnp.isfinite(x), x, 0.0)
    return x
