"""Frames of safejax worlds, drawn by MuJoCo's own renderer from the MJX state.

    frames = safejax.render(env, states, camera="fixedfar", width=320, height=240)

`states` is one world's `State`, a batch or trajectory of them (any leading axes), a `VecState`,
or the smaller `Snapshot` that `snapshot(env, state)` takes inside a jitted rollout (so that a
1000-step trajectory does not keep every step's full physics state). The result is uint8 RGB,
shape `leading axes + (height, width, 3)`.

Rendering runs on the host, outside any jitted loop, one frame at a time (about 13 frames/s at
320x240 with Mesa's software EGL on one core): it never slows training, and it is only done when
asked for. What is drawn, after Safety Gym (spec sections 6 and 11):

- the scene's bodies in their model colours (robot, vases, pillars, buttons, gremlins, push box);
- the objects that are not physics bodies: the goal (green cylinder, alpha 0.25; the Button task
  marks its goal button with an orange disc instead) and the hazards (blue discs, alpha 0.25);
- the cost warning: a red sphere of radius 0.25 (alpha 0.5) at the robot on every step whose
  cost was positive;
- optionally (`lidar=True`) the lidar halos: per observed group, 16 small spheres on a ring of
  radius 0.15 around the robot at the bins' centre angles, in the group's colour with alpha
  min(1, reading + 0.1), stacked 0.06 apart from 0.5 above the robot in Safety Gym's order.

Cameras: "fixedfar" and "fixednear" are the suite's fixed cameras (at (0, -5, 5) and (0, -2, 2),
looking at the origin at 45 degrees), "top" looks straight down on the whole placement area, and
"track" follows the robot from 2 m behind (along -y) and 2 m up, keeping the world orientation, as
the suite's track camera does.

OpenGL: MuJoCo picks its backend from `MUJOCO_GL` when it is first imported. Unless that variable
is already set, importing safejax on Linux sets it to "egl" when an EGL library is installed, else
to "osmesa" when OSMesa is (`choose_gl_backend`). `available()` says whether a context can be made,
and why not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
from flax import struct

from safejax.render_backend import INSTALL_HINT
from safejax.types import Array, State

CAMERAS = ("fixedfar", "fixednear", "top", "track")

# Spec section 6.4, RGB.
COLORS = {
    "box": (1.0, 1.0, 0.0),
    "buttons": (1.0, 0.5, 0.0),
    "goal": (0.0, 1.0, 0.0),
    "vases": (0.0, 1.0, 1.0),
    "hazards": (0.0, 0.0, 1.0),
    "pillars": (0.5, 0.5, 1.0),
    "walls": (0.5, 0.5, 0.5),
    "gremlins": (0.5, 0.0, 1.0),
    "circle": (0.0, 1.0, 0.0),
    "warning": (1.0, 0.0, 0.0),
}
# Spec section 11: the halos' stacking order, bottom to top.
HALO_ORDER = (
    "box", "goal", "buttons", "circle", "walls", "hazards", "pillars", "gremlins", "vases",
)  # fmt: skip
HALO_RING, HALO_SIZE, HALO_BASE, HALO_STEP = 0.15, 0.025, 0.5, 0.06
WARNING_RADIUS, WARNING_ALPHA = 0.25, 0.5
GOAL_HALF_HEIGHT, GOAL_Z = 0.15, 0.16
HAZARD_HALF_HEIGHT, HAZARD_Z = 0.01, 0.02
BUTTON_MARK_RADIUS, BUTTON_MARK_ALPHA = 0.2, 0.1
FIXED_CAMERAS = {"fixedfar": math.sqrt(50.0), "fixednear": math.sqrt(8.0)}  # distance at 45 deg
TRACK_DISTANCE = math.sqrt(8.0)
TOP_MARGIN = 0.5  # m around the placement area



@struct.dataclass
class Snapshot:
    """What a frame needs of one world (or a batch: leading axes on every field)."""

    qpos: Array
    mocap_pos: Array
    mocap_quat: Array
    hazards: Array  # (n, 2) hazard centres
    goal: Array  # (2,) the goal (the goal button's position in the Button task)
    cost: Array  # the step's cost
    obs: Array


def snapshot(env: Any, state: Any) -> Snapshot:
    """The part of a `State` (or `VecState`) that rendering reads; pure, jittable, vmappable."""
    state = getattr(state, "state", state)  # VecState -> State
    objects = state.objects if isinstance(state.objects, dict) else {}
    hazards = objects.get("hazards")
    if hazards is None:
        hazards = np.zeros(state.obs.shape[:-1] + (0, 2), np.float32)
    return Snapshot(
        qpos=state.data.qpos,
        mocap_pos=state.data.mocap_pos,
        mocap_quat=state.data.mocap_quat,
        hazards=hazards,
        goal=_goal(state),
        cost=state.cost,
        obs=state.obs,
    )


def _goal(state: Any) -> Any:
    """The task's goal, or zeros (never drawn) for a task without one (Circle, Run)."""
    task = state.task if isinstance(state.task, dict) else {}
    if "goal" in task:
        return task["goal"]
    return np.zeros(state.obs.shape[:-1] + (2,), np.float32)


def available() -> tuple[bool, str]:
    """(True, backend) when an offscreen OpenGL context can be made here, else (False, why)."""
    try:
        import mujoco

        ctx_cls = getattr(mujoco, "GLContext", None)
        if ctx_cls is None:
            why = "MuJoCo has no OpenGL context class (MUJOCO_GL disabled?)"
            return False, f"{why}; {INSTALL_HINT}"
        ctx = ctx_cls(16, 16)
        ctx.free()
    except Exception as e:  # the backends raise ImportError, RuntimeError, OSError, GL errors
        backend = os.environ.get("MUJOCO_GL") or "MuJoCo's default"
        return False, f"no OpenGL context with MUJOCO_GL={backend} ({type(e).__name__}: {e}); " + (
            INSTALL_HINT
        )
    return True, os.environ.get("MUJOCO_GL") or "default"


class Renderer:
    """A reusable renderer for one environment and frame size (holds an OpenGL context).

    Use as a context manager, or call `close()`; `safejax.render` makes and closes one per call.
    """

    def __init__(self, env: Any, width: int = 320, height: int = 240, camera: str = "fixedfar",
                 lidar: bool = False, params: dict | None = None):  # fmt: skip
        import mujoco

        if camera not in CAMERAS:
            raise ValueError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
        for name, v in (("width", width), ("height", height)):
            if not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        ok, why = available()
        if not ok:
            raise RuntimeError(f"cannot render: {why}")
        self.env, self.width, self.height = env, int(width), int(height)
        self.camera_name, self.lidar = camera, lidar
        params = env.params if params is None else params
        self._hazard_size = float(np.asarray(params["hazards_size"]))
        self._goal_size = float(np.asarray(params["goal_size"]))
        model = env.mj_model.__copy__()
        model.vis.global_.offwidth = max(self.width, model.vis.global_.offwidth)
        model.vis.global_.offheight = max(self.height, model.vis.global_.offheight)
        self._model = model
        self._data = mujoco.MjData(model)
        self._renderer = mujoco.Renderer(model, self.height, self.width)
        self._option = mujoco.MjvOption()
        self._option.geomgroup[:] = 1  # every geom group visible (spec section 11)
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._halos = self._halo_groups() if lidar else []
        self._button_task = env.config.task == "button"
        self._has_goal = bool(getattr(getattr(env, "task", None), "HAS_GOAL", True))

    # ------------------------------------------------------------------------------- drawing

    def _halo_groups(self) -> list[tuple[str, slice, int]]:
        layout = self.env.obs_layout
        groups = []
        for group in HALO_ORDER:
            key = f"{group}_lidar"
            if key in layout:
                groups.append((group, layout[key], len(groups)))
        return groups

    def _place_camera(self, robot_xy: np.ndarray) -> None:
        cam = self._camera
        cam.azimuth, cam.elevation = 90.0, -45.0
        if self.camera_name in FIXED_CAMERAS:
            # The centre of the placement area: the origin for the suite, the start of the
            # corridor for Run.
            x0, y0, x1, y1 = (float(v) for v in self.env.config.placements_extents)
            cam.lookat[:] = (0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.0)
            cam.distance = FIXED_CAMERAS[self.camera_name]
        elif self.camera_name == "track":
            cam.lookat[:] = (robot_xy[0], robot_xy[1], 0.0)
            cam.distance = TRACK_DISTANCE
        else:  # top: the whole placement area, plus a margin, in the field of view
            x0, y0, x1, y1 = (float(v) for v in self.env.config.placements_extents)
            half_y = 0.5 * (y1 - y0) + TOP_MARGIN
            half_x = (0.5 * (x1 - x0) + TOP_MARGIN) * self.height / self.width
            tan = math.tan(0.5 * math.radians(float(self._model.vis.global_.fovy)))
            cam.lookat[:] = (0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.0)
            cam.elevation = -90.0
            cam.distance = max(half_x, half_y) / tan

    def _add(self, kind: int, size, pos, rgba, mat=None) -> None:
        import mujoco

        scene = self._renderer.scene
        if scene.ngeom >= scene.maxgeom:
            return
        mujoco.mjv_initGeom(
            scene.geoms[scene.ngeom], kind, np.asarray(size, np.float64),
            np.asarray(pos, np.float64),
            np.eye(3).ravel() if mat is None else np.asarray(mat, np.float64).ravel(),
            np.asarray(rgba, np.float32),
        )  # fmt: skip
        scene.ngeom += 1

    def frame(self, snap: Snapshot) -> np.ndarray:
        """One (height, width, 3) uint8 frame of one world's `Snapshot` (numpy fields)."""
        import mujoco

        m, d = self._model, self._data
        d.qpos[:] = snap.qpos
        if m.nmocap:
            d.mocap_pos[:] = snap.mocap_pos
            d.mocap_quat[:] = snap.mocap_quat
        mujoco.mj_kinematics(m, d)
        mujoco.mj_camlight(m, d)
        body = self.env.index.robot_body
        robot, rmat = d.xpos[body].copy(), d.xmat[body].reshape(3, 3)
        self._place_camera(robot[:2])
        self._renderer.update_scene(d, camera=self._camera, scene_option=self._option)
        cyl, sphere = mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_SPHERE
        for xy in np.asarray(snap.hazards).reshape(-1, 2):
            self._add(cyl, (self._hazard_size, HAZARD_HALF_HEIGHT, 0), (*xy, HAZARD_Z),
                      (*COLORS["hazards"], 0.25))  # fmt: skip
        goal = np.asarray(snap.goal)
        if self._has_goal and self._button_task:
            self._add(cyl, (BUTTON_MARK_RADIUS, 0.002, 0), (*goal, 0.002),
                      (*COLORS["buttons"], BUTTON_MARK_ALPHA))  # fmt: skip
        elif self._has_goal:
            self._add(cyl, (self._goal_size, GOAL_HALF_HEIGHT, 0), (*goal, GOAL_Z),
                      (*COLORS["goal"], 0.25))  # fmt: skip
        if float(snap.cost) > 0:
            self._add(sphere, (WARNING_RADIUS, 0, 0), robot, (*COLORS["warning"], WARNING_ALPHA))
        obs = np.asarray(snap.obs)
        for group, sl, level in self._halos:
            readings = obs[sl]
            n = readings.shape[0]
            for i, s in enumerate(readings):
                theta = 2.0 * math.pi * (i + 0.5) / n
                ring = HALO_RING * np.array([math.cos(theta), math.sin(theta), 0.0])
                offset = rmat @ ring
                pos = robot + offset + np.array([0.0, 0.0, HALO_BASE + HALO_STEP * level])
                alpha = min(1.0, float(s) + 0.1)
                self._add(sphere, (HALO_SIZE, 0, 0), pos, (*COLORS[group], alpha))
        return self._renderer.render()

    def frames(self, states: Any, progress: Callable[[int], Iterator[int]] | None = None
               ) -> np.ndarray:  # fmt: skip
        """Frames of `states` (State, VecState or Snapshot, any leading axes), rendered in order.

        `progress(n)`, if given, wraps the frame indices (a progress bar, e.g. `tqdm.trange`).
        """
        snap = states if isinstance(states, Snapshot) else snapshot(self.env, states)
        snap = jax.device_get(snap)
        lead = np.shape(snap.cost)
        n = int(np.prod(lead, dtype=np.int64))
        flat = jax.tree.map(lambda a: np.reshape(a, (n,) + np.shape(a)[len(lead) :]), snap)
        out = np.empty((n, self.height, self.width, 3), np.uint8)
        indices = progress(n) if progress is not None else range(n)
        for i in indices:
            out[i] = self.frame(jax.tree.map(lambda a, i=i: a[i], flat))
        return out.reshape(lead + (self.height, self.width, 3))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the GL library may be gone already
            pass


def render(env: Any, states: Any, camera: str = "fixedfar", width: int = 320, height: int = 240,
           *, lidar: bool = False, params: dict | None = None) -> np.ndarray:  # fmt: skip
    """uint8 RGB frames of `states` (see the module docstring): `leading axes + (h, w, 3)`."""
    if isinstance(states, State) or hasattr(states, "state") or isinstance(states, Snapshot):
        with Renderer(env, width, height, camera, lidar=lidar, params=params) as r:
            return r.frames(states)
    raise TypeError(
        f"render takes a State, VecState or Snapshot, got {type(states).__name__}; "
        "stack a list of states with jax.tree.map(lambda *x: jnp.stack(x), *states)"
    )


def rollout(
    env: Any,
    key: Array,
    steps: int | None = None,
    act: Callable[[Array, Array], Array] | None = None,
) -> tuple[Snapshot, Array]:
    """One episode of one world, as `steps + 1` snapshots (the reset, then every step) and a
    (steps + 1,) bool mask of the frames inside the episode (False after it ended).

    `act(obs, key) -> action` is the policy; None draws uniform random actions in [-1, 1].
    `steps` defaults to the episode length. Pure: jit it with `env`, `steps`, `act` static.
    """
    steps = env.num_steps if steps is None else steps
    k_reset, k_run = jax.random.split(key)
    state = env.reset(k_reset)

    def body(carry, _):
        state, key, alive = carry
        key, k_act = jax.random.split(key)
        if act is None:
            action = jax.random.uniform(k_act, (env.action_size,), minval=-1.0, maxval=1.0)
        else:
            action = act(state.obs, k_act)
        nxt = env.step(state, action)
        return (nxt, key, alive & ~nxt.done), (snapshot(env, nxt), alive)

    alive = jax.numpy.ones((), bool)
    _, (snaps, valid) = jax.lax.scan(body, (state, k_run, alive), None, length=steps)
    first = snapshot(env, state)
    snaps = jax.tree.map(lambda a, b: jax.numpy.concatenate([a[None], b]), first, snaps)
    return snaps, jax.numpy.concatenate([alive[None], valid])


rollout_jit = jax.jit(rollout, static_argnames=("env", "steps", "act"))

VIDEO_SUFFIXES = (".mp4", ".gif")


def video_writer(path: str, fps: float) -> Any:
    """An imageio writer (`append_data(frame)`, `close()`) for .mp4 (ffmpeg, H.264) or .gif."""
    import imageio.v2 as imageio

    suffix = os.path.splitext(str(path))[1].lower()
    if suffix == ".mp4":
        # macro_block_size=1: any frame size (no silent resize to a multiple of 16).
        return imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1)
    if suffix == ".gif":
        return imageio.get_writer(path, mode="I", duration=1000.0 / fps, loop=0)
    raise ValueError(f"unknown video type {suffix!r} of {path}; valid: {', '.join(VIDEO_SUFFIXES)}")


def frame_rate(env: Any) -> float:
    """Real-time frames per second: one frame per env step."""
    return 1.0 / (env.robot.timestep * env.config.substeps)
