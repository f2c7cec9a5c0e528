"""What a contact cap (MJX's `max_contact_points`) changes, measured against the uncapped model.

`python -m benchmarks.contact_cap --env CarPush2` drives the robot at the push box (or the goal)
with a noisy steering policy in many worlds of the *uncapped* environment, and at every env step
also runs the step's physics substeps with the capped model from the same state. It prints how
many contacts penetrate per substep (only those carry force: a cap that keeps the deepest N is
exact while at most N penetrate), how often the cap was exceeded, and how far the capped step's
positions landed from the uncapped ones, beside the same distance for the uncapped model started
from velocities perturbed by one part in a million (the spread float rounding alone can cause).
docs/FIDELITY.md quotes its output.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import safejax
from safejax import physics
from safejax.elements import box as box_element
from safejax.robots import ROBOTS


def seek_action(env, data, target, key, noise: float) -> jax.Array:
    """Steers toward `target` (xyz): full throttle, turning in proportion to the bearing."""
    idx = env.index
    rel = data.xmat[idx.robot_body].T @ (target - data.xpos[idx.robot_body])
    if env.config.robot == "car":  # forward is body -y; wheel torques (left, right)
        bearing = jnp.arctan2(rel[0], -rel[1])
        action = jnp.array([1.0 + 2 * bearing, 1.0 - 2 * bearing])
    else:  # point: forward is body +x; (thrust, yaw)
        bearing = jnp.arctan2(rel[1], rel[0])
        action = jnp.array([1.0, 2 * bearing])
    return jnp.clip(action + noise * jax.random.normal(key, action.shape), -1.0, 1.0)


def shipped_cap(name: str) -> int | None:
    """The env's `max_contact_points`: its config's, else its robot's default, else None."""
    config = safejax.registry.config_for(name)
    cap = config.max_contact_points
    if cap is None:
        cap = dict(ROBOTS[config.robot].numeric).get("max_contact_points")
    return None if cap is None or cap < 0 else int(cap)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="CarPush2")
    p.add_argument("--cap", type=int, default=None, help="default: the env's max_contact_points")
    p.add_argument("--worlds", type=int, default=256)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    cap = shipped_cap(args.env) if args.cap is None else args.cap
    if cap is None or cap < 0:
        raise SystemExit(f"{args.env} has no contact cap; pass --cap N (N >= 0)")
    robot = safejax.registry.config_for(args.env).robot
    if robot not in ("point", "car"):
        raise SystemExit(f"the steering policy knows point and car, not {robot!r}")
    if not safejax.make(args.env).task.HAS_GOAL:
        raise SystemExit(f"the steering policy steers at a goal; {args.env} has none")
    exact = safejax.make(args.env, max_contact_points=-1)
    capped = safejax.make(args.env, max_contact_points=cap)
    idx, params = exact.index, exact.params

    def substeps(env, data, objects):
        """The env's physics substeps (no final forward), and the penetrating contacts after
        each."""
        hook = env.substep_hook(objects, params)

        def body(d, _):
            d = physics.substep(env.physics, d, hook)
            return d, jnp.sum(physics.contacts(d).dist < 0)

        return jax.lax.scan(body, data, None, length=env.physics.substeps)

    def one(state, key):
        d = state.data
        if exact.config.task == "push":
            target = box_element.position(d, idx.task)
        else:
            target = jnp.append(state.task["goal"], 0.0)
        action = seek_action(exact, d, target, key, args.noise)
        d = d.replace(ctrl=action)
        d_exact, pressing = substeps(exact, d, state.objects)
        start = physics.reset_data(capped.physics, **physics.integration_state(d))
        d_capped, _ = substeps(capped, start, state.objects)
        d_nudged, _ = substeps(exact, d.replace(qvel=d.qvel * (1 + 1e-6)), state.objects)
        deviation = jnp.abs(d_exact.qpos - d_capped.qpos).max()
        rounding = jnp.abs(d_exact.qpos - d_nudged.qpos).max()
        return exact.step(state, action), (pressing, deviation, rounding)

    reset = jax.jit(jax.vmap(exact.reset))
    step = jax.jit(jax.vmap(one))
    state = reset(jax.random.split(jax.random.PRNGKey(args.seed), args.worlds))
    key = jax.random.PRNGKey(args.seed + 1)
    pressing, deviation, rounding = [], [], []
    for _ in range(args.steps):
        key, sub = jax.random.split(key)
        state, (n, dev, rnd) = step(state, jax.random.split(sub, args.worlds))
        pressing.append(np.asarray(n))
        deviation.append(np.asarray(dev))
        rounding.append(np.asarray(rnd))
    pressing = np.stack(pressing)  # (steps, worlds, substeps)
    deviation = np.stack(deviation)  # (steps, worlds)
    rounding = np.stack(rounding)
    over = pressing.max(axis=-1) > cap
    slots = physics.contact_slots(exact.physics)
    counts = np.bincount(pressing.ravel())
    print(f"{args.env}: cap {cap} of {slots} contact slots; {args.worlds} worlds x {args.steps}")
    print("penetrating contacts per substep (count: substeps):")
    print("  " + ", ".join(f"{k}: {v}" for k, v in enumerate(counts) if v))
    print(
        f"substeps over the cap: {int((pressing > cap).sum())} of {pressing.size} "
        f"({(pressing > cap).mean():.2e}); env steps with one: {int(over.sum())} "
        f"in {int(over.any(axis=0).sum())} worlds"
    )
    print("max |qpos difference| after one env step, quantiles 50 / 99 / 99.9 / 100 %:")
    rows = (
        ("capped vs exact, within the cap", deviation[~over]),
        ("capped vs exact, over the cap", deviation[over]),
        ("exact vs exact with qvel x (1 + 1e-6)", rounding.ravel()),
    )
    for label, dev in rows:
        if dev.size:
            q = np.quantile(dev, [0.5, 0.99, 0.999, 1.0])
            print(f"  {label}: {dev.size} steps: " + " / ".join(f"{v:.2g}" for v in q))


if __name__ == "__main__":
    main()
