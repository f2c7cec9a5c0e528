"""Car and Doggo behaviour against plain-MuJoCo models built to Safety Gym's original spec.

`python -m benchmarks.fidelity_robots` drives (a) safejax's Car and Doggo (MJX, with their
collision proxies, condim and solver settings) and (b) reference models written from the spec's
original MJCF (sections 9.2 and 9.3: cylinder wheels and torso, condim 6 on every geom and the
floor, MuJoCo's default solver, Doggo's angles in degrees) and prints:

  Car:   speed and yaw rate under fixed wheel torques (straight, reverse, turn in place, gentle);
  Doggo: torso height, net travel, flips and foot-contact fraction over 1000 steps of uniform
         random actions, over `--seeds` episodes, in `--doggo-env` (default DoggoGoal0; the
         reference is the robot alone).

The Car and Doggo numbers in docs/FIDELITY.md come from this command. `--set key=value`
overrides EnvConfig fields of the safejax side (e.g. `--set condim=6`).
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

import safejax
from safejax.robots.car import BALL_QPOS

REFERENCE_CAR = """
<mujoco>
  <option timestep="0.004"/>
  <default>
    <geom condim="6" density="5" size=".05" type="sphere"/>
    <joint damping=".001"/>
    <motor ctrlrange="-1 1" ctrllimited="true" forcerange="-.02 .02" forcelimited="true"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 .1" condim="6"/>
    <body name="robot" pos="0 0 .1">
      <freejoint name="robot"/>
      <site name="robot" size=".032"/>
      <geom name="robot" type="box" size=".1 .1 .05"/>
      <geom name="back_bumper" type="box" pos="0 .15 0" size=".1 .01 .05"/>
      <geom name="back_connector" type="box" pos="0 .125 0" size=".01 .025 .03"/>
      <geom name="front_bumper" type="box" pos="0 -.165 0" size=".05 .01 .05"/>
      <geom name="front_connector" type="box" pos="0 -.13 .04" size=".05 .03 .01"/>
      <body name="left" pos="-.1 .1 -.05">
        <joint name="left" type="hinge" axis="1 0 0"/>
        <geom name="left" type="cylinder" fromto="-.055 0 0 -.005 0 0" size=".05"/>
      </body>
      <body name="right" pos=".1 .1 -.05">
        <joint name="right" type="hinge" axis="1 0 0"/>
        <geom name="right" type="cylinder" fromto=".005 0 0 .055 0 0" size=".05"/>
      </body>
      <body name="rear" pos="0 -.1 -.05">
        <joint name="rear" type="ball"/>
        <geom name="rear" type="sphere" size=".05"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="left" joint="left" gear="1"/>
    <motor name="right" joint="right" gear="1"/>
  </actuator>
</mujoco>
"""


def _reference_leg(i: int, front: bool, s: int) -> str:
    sx = 1 if front else -1
    hip_y = 'range="-75 15" springref="-10"' if front else 'range="0 135" springref="0"'
    return f"""
  <geom name="aux_{i}" fromto="{sx * 0.1} 0 0 {sx * 0.2} {s * 0.1} 0"/>
  <body name="hip_{i}" pos="{sx * 0.2} {s * 0.1} 0">
    <joint name="hip_{i}_z" axis="0 0 {s}" range="-10 30" springref="0"/>
    <joint name="hip_{i}_y" axis="0 1 0" {hip_y}/>
    <geom name="thigh_{i}" fromto="0 0 0 0.098 {s * 0.0566} -0.05"/>
    <body name="shank_{i}" pos="0.098 {s * 0.0566} -0.05">
      <joint name="ankle_{i}" axis="{-s * 0.5} 0.866 0" range="-75 0" springref="-20"/>
      <geom name="shank_{i}" fromto="0 0 0 -0.1176 {-s * 0.0679} -0.1"/>
      <site name="ankle_{i}a" pos="0 0 0"/>
      <site name="ankle_{i}b" pos="-0.1176 {-s * 0.0679} -0.1"/>
    </body>
  </body>"""


REFERENCE_DOGGO = f"""
<mujoco>
  <compiler angle="degree"/>
  <option timestep="0.01"/>
  <default>
    <joint limited="true" stiffness="0.01"/>
    <geom condim="6" type="capsule" size="0.032" density="5"/>
    <motor ctrlrange="-1 1" ctrllimited="true" gear="0.0125"/>
    <site type="sphere" size="0.036"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 .1" condim="6"/>
    <body name="robot" pos="0 0 .22">
      <freejoint name="robot"/>
      <site name="robot"/>
      <geom name="robot" type="cylinder" size="0.075" fromto="0 0 0 0.2 0 0" density="0.5"/>
      {_reference_leg(1, True, 1)}
      {_reference_leg(4, True, -1)}
      <body name="rear">
        <joint name="waist_x" axis="1 0 0" range="-30 30" springref="0"/>
        <geom name="robot2" type="cylinder" size="0.075" fromto="-0.2 0 0 0 0 0" density="0.5"/>
        {_reference_leg(2, False, 1)}
        {_reference_leg(3, False, -1)}
      </body>
    </body>
  </worldbody>
  <actuator>
    {"".join(f'<motor joint="hip_{i}_z"/>' for i in range(1, 5))}
    {"".join(f'<motor joint="hip_{i}_y"/>' for i in range(1, 5))}
    {"".join(f'<motor joint="ankle_{i}"/>' for i in range(1, 5))}
  </actuator>
  <sensor>
    {"".join(f'<touch site="ankle_{i}{s}"/>' for i in range(1, 5) for s in "ab")}
  </sensor>
</mujoco>
"""

CAR_SCENARIOS = {
    "straight (1, 1)": [1.0, 1.0],
    "reverse (-1, -1)": [-1.0, -1.0],
    "turn in place (1, -1)": [1.0, -1.0],
    "gentle (0.01, 0.01)": [0.01, 0.01],
}
CAR_STEPS = 250  # 10 s
CAR_SETTLE = 50  # rates are measured from step 50 on (2 s), after the wheels spun up


def _car_rates(qpos: np.ndarray) -> dict[str, float]:
    """Mean path speed (m/s: distance travelled along the path, so a slight curve does not shorten
    it) and yaw rate (rad/s) from step `CAR_SETTLE` on, and the final lateral drift (m, body x)."""
    pos, quat = qpos[:, :3], qpos[:, 3:7]
    yaw = np.unwrap(2 * np.arctan2(quat[:, 3], quat[:, 0]))
    start = CAR_SETTLE - 1
    dt = (len(qpos) - 1 - start) * 0.04
    path = np.linalg.norm(np.diff(pos[start:, :2], axis=0), axis=1).sum()
    return {
        "speed": round(float(path / dt), 4),
        "yaw_rate": round(float((yaw[-1] - yaw[start]) / dt), 4),
        "drift_x": round(float(pos[-1, 0] - pos[0, 0]), 3),
    }


def car_reference(action) -> dict[str, float]:
    model = mujoco.MjModel.from_xml_string(REFERENCE_CAR)
    data = mujoco.MjData(model)
    traj = []
    for _ in range(CAR_STEPS):
        data.ctrl[:] = action
        for _ in range(10):
            mujoco.mj_step(model, data)
        traj.append(data.qpos[:7].copy())
    return _car_rates(np.array(traj))


# The caster is a sphere on a ball joint: its orientation does not enter plain MuJoCo's dynamics,
# but in float32 it decides where rounding sends the contact solve: turning in place, single runs
# land near one of two rates (1.34 or 1.38 rad/s on MJX), so safejax's figures are means over
# these 16 starting orientations (a mean over 4 of them was 1% lower than over 16 or 32).
CAR_CASTERS = np.random.default_rng(0).normal(size=(16, 4))
CAR_CASTERS /= np.linalg.norm(CAR_CASTERS, axis=1, keepdims=True)

_VMAPPED: dict[int, tuple] = {}


def car_safejax(env, reset, step, action) -> dict[str, float]:
    """`action` held for `CAR_STEPS` steps from rest at (4, 4), yaw 0 (away from every object of
    the layout), once per caster orientation of `CAR_CASTERS` (all at once, vmapped); the mean
    of each rate over the runs."""
    if id(step) not in _VMAPPED:
        _VMAPPED[id(step)] = (step, jax.jit(jax.vmap(step)))
    vstep = _VMAPPED[id(step)][1]
    state0 = reset(jax.random.PRNGKey(0))
    k = len(CAR_CASTERS)
    home = jnp.array([4.0, 4.0, 0.1, 1.0, 0.0, 0.0, 0.0])
    qpos = jnp.tile(state0.data.qpos.at[0:7].set(home), (k, 1))
    qpos = qpos.at[:, BALL_QPOS].set(jnp.asarray(CAR_CASTERS, jnp.float32))
    state = jax.tree.map(lambda x: jnp.broadcast_to(x, (k,) + jnp.shape(x)), state0)
    state = state.replace(data=state.data.replace(qpos=qpos, qvel=jnp.zeros_like(state.data.qvel)))
    actions = jnp.broadcast_to(jnp.asarray(action, jnp.float32), (k, len(action)))
    traj = []
    for _ in range(CAR_STEPS):
        state = vstep(state, actions)
        traj.append(np.asarray(state.data.qpos[:, :7]) - np.array([4.0, 4.0, 0, 0, 0, 0, 0]))
    traj = np.stack(traj, axis=1)  # (k, steps, 7)
    runs = [_car_rates(t) for t in traj]
    return {key: round(float(np.mean([r[key] for r in runs])), 4) for key in runs[0]}


def _doggo_summary(ep: dict) -> dict[str, float]:
    return {
        "torso_z_mean": round(float(np.mean(ep["z"])), 3),
        "torso_z_min": round(float(np.min(ep["z_min"])), 3),
        "torso_z_max": round(float(np.max(ep["z_max"])), 3),
        "travel_mean": round(float(np.mean(ep["travel"])), 2),
        "travel_min": round(float(np.min(ep["travel"])), 2),
        "flipped": int(np.sum(ep["flipped"])),
        "foot_contact_frac": round(float(np.mean(ep["foot"])), 3),
        "knee_contact_frac": round(float(np.mean(ep["knee"])), 3),
    }


def _doggo_episodes(z, travel, upright_end, touch) -> dict[str, np.ndarray]:
    """Per-episode statistics from (episodes, steps) torso heights, (episodes,) net travel and
    final torso z-axis z, and (episodes, steps, 8) touch readings (knee a, foot b per leg)."""
    z, touch = np.asarray(z), np.asarray(touch)
    return {
        "z": z.mean(axis=1),
        "z_min": z.min(axis=1),
        "z_max": z.max(axis=1),
        "travel": np.asarray(travel),
        "flipped": (np.asarray(upright_end) < 0).astype(np.float64),
        "foot": (touch[..., 1::2] > 0).mean(axis=(1, 2)),
        "knee": (touch[..., 0::2] > 0).mean(axis=(1, 2)),
    }


def doggo_reference_episodes(
    seeds: int, steps: int = 1000, threads: int | None = None
) -> dict[str, np.ndarray]:
    """Plain MuJoCo on the spec's Doggo: `seeds` episodes of uniform random actions (numpy's
    generator seeded 0, 1, ...; one action per 10 substeps), per-episode statistics. The
    episodes run through `mujoco.rollout` on `threads` threads (default: every CPU), in chunks
    so that the recorded substeps stay small; each is stepped as a plain `mj_step` loop would
    (`tests/test_env_doggo.py` checks that)."""
    from mujoco import rollout

    model = mujoco.MjModel.from_xml_string(REFERENCE_DOGGO)
    threads = threads or os.cpu_count() or 1
    datas = [mujoco.MjData(model) for _ in range(threads)]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    start = np.zeros(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, mujoco.MjData(model), start, spec)
    qpos = slice(1, 1 + model.nq)  # the full physics state is (time, qpos, qvel, ...)
    zs, travel, up, touch = [], [], [], []
    chunk = 8 * threads
    for first in range(0, seeds, chunk):
        batch = range(first, min(seeds, first + chunk))
        ctrl = np.stack(
            [np.random.default_rng(seed).uniform(-1, 1, (steps, model.nu)) for seed in batch]
        )
        state, sensors = rollout.rollout(
            model, datas, np.tile(start, (len(batch), 1)), np.repeat(ctrl, 10, axis=1)
        )
        q = state[:, 9::10, qpos]  # after each env step's 10 substeps
        zs.append(q[..., 2])
        touch.append(sensors[:, 9::10])
        travel.append(np.linalg.norm(q[:, -1, :2] - start[qpos][:2], axis=-1))
        # The torso's z-axis z from its quaternion (w, x, y, z): 1 - 2 (x^2 + y^2).
        up.append(1 - 2 * (q[:, -1, 4] ** 2 + q[:, -1, 5] ** 2))
    return _doggo_episodes(*(np.concatenate(x) for x in (zs, travel, up, touch)))


def doggo_reference(seeds: int, steps: int = 1000) -> dict[str, float]:
    return _doggo_summary(doggo_reference_episodes(seeds, steps))


def doggo_safejax_episodes(env, seeds: int, steps: int = 1000) -> dict[str, np.ndarray]:
    """`seeds` random-action episodes of a Doggo environment (keys split from PRNGKey(0)),
    vmapped; per-episode statistics. The layout's objects stay where they were sampled (on
    DoggoGoal1 and DoggoPush1 they compete with the floor for MJX's contact slots)."""
    touch_slice = env.obs_layout["touch"]
    torso = env.index.robot_body

    def episode(key):
        state = env.reset(key)
        start = state.data.xpos[torso, :2]

        def body(s, k):
            a = jax.random.uniform(k, (env.action_size,), minval=-1.0, maxval=1.0)
            s = env.step(s, a)
            return s, (s.data.xpos[torso, 2], s.obs[touch_slice])

        state, (z, touch) = jax.lax.scan(body, state, jax.random.split(key, steps))
        travel = jnp.linalg.norm(state.data.xpos[torso, :2] - start)
        return z, travel, state.data.xmat[torso, 2, 2], touch

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    out = jax.jit(jax.vmap(episode))(keys)
    return _doggo_episodes(*map(np.asarray, out))


def doggo_safejax(env, seeds: int, steps: int = 1000) -> dict[str, float]:
    return _doggo_summary(doggo_safejax_episodes(env, seeds, steps))


def main(argv: list[str] | None = None) -> int:
    from benchmarks.sps import parse_overrides

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robot", choices=["car", "doggo", "both"], default="both")
    p.add_argument("--seeds", type=int, default=20, help="Doggo episodes per side")
    p.add_argument(
        "--doggo-env",
        default="DoggoGoal0",
        help="the Doggo world of the random walk (its objects stay where they were sampled)",
    )
    p.add_argument("--set", nargs="*", default=[], help="EnvConfig overrides key=value")
    a = p.parse_args(argv)
    # The registry resolves the name (aliases, user worlds) and refuses unknown ones.
    try:
        doggo_robot = safejax.registry.config_for(a.doggo_env).robot
    except ValueError as e:
        p.error(f"--doggo-env: {e}")
    if doggo_robot != "doggo":
        doggos = [n for n in safejax.registered_names() if n.startswith("Doggo")]
        p.error(f"--doggo-env {a.doggo_env!r} is not a Doggo environment; e.g. {', '.join(doggos)}")
    overrides = parse_overrides(a.set)
    if a.robot in ("car", "both"):
        env = safejax.make("CarGoal0", **overrides)
        reset, step = jax.jit(env.reset), jax.jit(env.step)
        for name, action in CAR_SCENARIOS.items():
            row = {
                "robot": "car",
                "scenario": name,
                "reference": car_reference(action),
                "safejax": car_safejax(env, reset, step, action),
            }
            print(json.dumps(row), flush=True)
    if a.robot in ("doggo", "both"):
        env = safejax.make(a.doggo_env, **overrides)
        row = {
            "robot": "doggo",
            "scenario": f"{a.doggo_env}: uniform random actions, {a.seeds} x 1000 steps",
            "reference": doggo_reference(a.seeds),
            "safejax": doggo_safejax(env, a.seeds),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
