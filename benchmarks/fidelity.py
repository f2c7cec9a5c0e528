"""Behaviour against a plain-MuJoCo model built to Safety Gym's original specification.

`python -m benchmarks.fidelity` drives (a) the Point robot of safejax (MJX, with its collision
proxies and solver settings) and (b) a reference Point written from the spec's original MJCF
(box nose, condim 6, floor contact, MuJoCo's default solver, free-joint vase resting on the floor
with friction) with the same open-loop action sequences, and prints speed, turn rate, drift and
how far a pushed vase travels. The numbers in docs/FIDELITY.md come from this command.

`python -m benchmarks.fidelity --backends [--envs A,B] [--worlds 16] [--markdown]` instead runs
the same worlds, keys and random actions through both physics backends (MJX and MuJoCo's C
engine) and prints the one-step gap and episode statistics side by side (`benchmarks.backends`).

`python -m benchmarks.fidelity --all [--small] [--checks point,doggo] [--out FILE] [--set k=v]`
runs every behaviour comparison the project has against plain MuJoCo on the spec's models and
writes one table (`benchmarks.fidelity_table`; docs/results/FIDELITY_TABLE.md).
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

import safejax
from benchmarks.sps import parse_overrides
from safejax import scenario

REFERENCE_POINT = """
<mujoco>
  <option timestep="0.002"/>
  <default>
    <geom condim="6" density="1"/>
    <joint damping=".001"/>
    <motor ctrlrange="-1 1" ctrllimited="true" forcerange="-.05 .05" forcelimited="true"/>
    <velocity ctrlrange="-1 1" ctrllimited="true" forcerange="-.05 .05" forcelimited="true"/>
  </default>
  <worldbody>
    <geom name="floor" size="5 5 0.1" type="plane" condim="6"/>
    <body name="robot" pos="0 0 .1">
      <joint type="slide" axis="1 0 0" name="x" damping="0.01"/>
      <joint type="slide" axis="0 1 0" name="y" damping="0.01"/>
      <joint type="hinge" axis="0 0 1" name="z" damping="0.005"/>
      <geom name="robot" type="sphere" size=".1" friction="1 0.01 0.01"/>
      <geom name="pointarrow" pos="0.1 0 0" size="0.05 0.05 0.05" type="box"/>
      <site name="robot" size="0.032"/>
    </body>
    {vase}
  </worldbody>
  <actuator>
    <motor gear="0.3 0 0 0 0 0" site="robot" name="x"/>
    <velocity gear="0.3" joint="z" name="z"/>
  </actuator>
</mujoco>
"""
REFERENCE_VASE = """
<body name="vase0" pos="{x} {y} {z}"><freejoint/>
  <geom name="vase0" type="box" size="0.1 0.1 0.1" density="0.001"/>
</body>"""

SCENARIOS = {
    "straight (1, 0)": [1.0, 0.0],
    "gentle (0.02, 0)": [0.02, 0.0],
    "spin (0, 1)": [0.0, 1.0],
    "arc (1, 0.5)": [1.0, 0.5],
}


def reference_rollout(
    actions, vase_x: float | None = None, vase_y: float = 0.0, robot_xml: str | None = None
):
    """Reference trajectory of (robot qpos[:3], vase xy) after each env step of `actions`, the
    robot at rest at the origin. `robot_xml`: another robot's reference model than the Point's
    (e.g. `benchmarks.fidelity_robots.REFERENCE_CAR`); the vase goes last in its worldbody."""
    vase = "" if vase_x is None else REFERENCE_VASE.format(x=vase_x, y=vase_y, z=0.1 - 4e-5)
    if robot_xml is None:
        xml = REFERENCE_POINT.replace("{vase}", vase)
    else:
        xml = robot_xml.replace("</worldbody>", vase + "\n  </worldbody>")
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    adr = None if vase_x is None else model.jnt_qposadr[model.body("vase0").jntadr[0]]
    traj = []
    for action in actions:
        data.ctrl[:] = action
        for _ in range(10):
            mujoco.mj_step(model, data)
        traj.append(
            (data.qpos[:3].copy(), None if adr is None else data.qpos[adr : adr + 2].copy())
        )
    return traj


def safejax_rollout(env, reset, step, actions, vase_x: float | None = None, vase_y: float = 0.0):
    """The Point at the origin, heading +x, at rest; the first vase (if `vase_x`) at
    (`vase_x`, `vase_y`) and every other object out of the way (`safejax.scenario.place`).
    `reset` and `step` are the environment's, jitted (an eager reset of an MJX world costs
    seconds)."""
    groups = {}
    if env.config.vases_num:
        vases = scenario.far(env.config.vases_num)
        if vase_x is not None:
            vases[0] = (vase_x, vase_y)
        groups["vases"] = vases
    state = scenario.place(env, reset(jax.random.PRNGKey(0)), (0.0, 0.0), 0.0, **groups)
    traj = []
    for action in actions:
        state = step(state, jnp.asarray(action, jnp.float32))
        q = np.asarray(state.data.qpos)
        vase = q[env.index.elements["vases"].qpos_adr[0]] if vase_x is not None else None
        traj.append((q[:3].copy(), vase))
    return traj


def summarize(traj, control_dt: float) -> dict:
    q = np.array([t[0] for t in traj])
    speed = np.linalg.norm(q[-1, :2] - q[-11, :2]) / (10 * control_dt)
    yaw_rate = (q[-1, 2] - q[-11, 2]) / (10 * control_dt)
    return {
        "final_xy": q[-1, :2].round(4).tolist(),
        "final_yaw": round(float(q[-1, 2]), 4),
        "speed": round(float(speed), 4),
        "yaw_rate": round(float(yaw_rate), 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100, help="env steps (0.02 s each)")
    p.add_argument("--set", nargs="*", default=[], help="EnvConfig overrides key=value")
    p.add_argument("--backends", action="store_true", help="MJX against MuJoCo, per environment")
    p.add_argument("--envs", default="suite", help="with --backends: names, or 'suite' (the 27)")
    p.add_argument("--worlds", type=int, default=16, help="with --backends: episodes per env")
    p.add_argument(
        "--sides",
        default=None,
        help="with --backends: BACKEND[:KEY=VALUE[;KEY=VALUE]],... (default: each backend)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", action="store_true", help="with --backends: end with a table")
    p.add_argument("--all", action="store_true", help="every comparison, as one table")
    p.add_argument("--small", action="store_true", help="with --all: the version the tests run")
    p.add_argument("--checks", default="", help="with --all: only these checks (comma-separated)")
    p.add_argument("--out", default="", help="with --all: write the Markdown table here")
    a = p.parse_args()
    if a.all:
        return _all(a)
    if a.backends:
        from benchmarks import backends

        names = backends.suite() if a.envs == "suite" else [n for n in a.envs.split(",") if n]
        sides = backends.BACKENDS if a.sides is None else tuple(x for x in a.sides.split(",") if x)
        backends.main(names, a.worlds, a.seed, a.markdown, sides)
        return
    env = safejax.make("PointGoal1", **parse_overrides(a.set))
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    out = {}
    for name, action in SCENARIOS.items():
        actions = [action] * a.steps
        ref = summarize(reference_rollout(actions), 0.02)
        ours = summarize(safejax_rollout(env, reset, step, actions), 0.02)
        gap = float(np.linalg.norm(np.subtract(ref["final_xy"], ours["final_xy"])))
        out[name] = {"reference": ref, "safejax": ours, "final_xy_gap": round(gap, 4)}
    # A vase 0.35 m ahead: full throttle for 1 s (push), then full reverse for 1 s (release).
    push, back = [[1.0, 0.0]] * 50, [[-1.0, 0.0]] * 50
    ref_v = reference_rollout(push + back, vase_x=0.35)
    ours_v = safejax_rollout(env, reset, step, push + back, vase_x=0.35)

    def travel(traj, k):
        return round(float(np.linalg.norm(traj[k][1] - np.array([0.35, 0.0]))), 4)

    out["vase push"] = {
        "reference_vase_travel_after_push_m": travel(ref_v, 49),
        "safejax_vase_travel_after_push_m": travel(ours_v, 49),
        "reference_vase_travel_final_m": travel(ref_v, -1),
        "safejax_vase_travel_final_m": travel(ours_v, -1),
        "reference_robot_x_after_push": round(float(ref_v[49][0][0]), 4),
        "safejax_robot_x_after_push": round(float(ours_v[49][0][0]), 4),
    }
    # A glancing push: the vase 0.15 m to the side of the robot's path, so the contact slides
    # along the vase's face (robot-vase friction drags it along the path); then 1 s at rest.
    rest = [[0.0, 0.0]] * 50
    ref_g = reference_rollout(push + rest, vase_x=0.35, vase_y=0.15)
    ours_g = safejax_rollout(env, reset, step, push + rest, vase_x=0.35, vase_y=0.15)

    def moved(traj):
        return (np.asarray(traj[-1][1]) - np.array([0.35, 0.15])).round(4).tolist()

    out["vase glancing push"] = {
        "reference_vase_dxy_m": moved(ref_g),
        "safejax_vase_dxy_m": moved(ours_g),
        "reference_robot_xy": ref_g[-1][0][:2].round(4).tolist(),
        "safejax_robot_xy": np.asarray(ours_g[-1][0][:2]).round(4).tolist(),
    }
    print(json.dumps(out, indent=1))


def _all(a) -> None:
    import platform
    import sys
    import time

    from benchmarks import fidelity_table

    names = [n for n in a.checks.split(",") if n] or None
    overrides = parse_overrides(a.set)
    start = time.time()
    try:  # unknown names fail before any compile
        fidelity_table.validate(names)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    rows = fidelity_table.run(
        names,
        small=a.small,
        envs=fidelity_table.compiled_envs(**overrides),
        progress=lambda n: print(f"[fidelity] {n}", file=sys.stderr, flush=True),
    )
    command = "python -m benchmarks.fidelity --all" + (" --small" if a.small else "")
    command += f" --checks {a.checks}" if a.checks else ""
    command += f" --set {' '.join(a.set)}" if a.set else ""
    header = (
        "# Fidelity table: safejax against plain MuJoCo on the spec's models\n\n"
        f"`{command}` ({time.time() - start:.0f} s on {platform.machine()}, "
        f"{jax.default_backend()}; safejax physics: {overrides.get('physics', 'mjx')}). "
        "Reference: plain MuJoCo "
        f"{mujoco.__version__} (float64, default solver, condim 6) on models written from the "
        "spec; the scenarios and tolerances are documented in `benchmarks/fidelity_table.py`.\n"
    )
    text = fidelity_table.markdown(rows, header)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
