"""The two physics backends side by side: the same worlds, keys and actions through MJX and
through MuJoCo's C engine (`physics="mujoco"`).

`python -m benchmarks.fidelity --backends [--envs PointGoal1,CarGoal1] [--worlds 16]` (default:
the 27 suite environments) prints one row per environment and backend:

  step gap      after one step from the same reset, the largest difference of the robot's
                position (m) and of any observation entry between the backends;
  return, cost  per episode (uniform random actions in [-1, 1], `num_steps` steps, the same
                actions on both backends), with goals met per episode;
  height        mean height of the robot's body origin over the episode (m);
  travel        mean net distance the robot's body moved over the episode (m);
  flipped       episodes whose accelerometer z, averaged over the last 100 steps, is below zero
                (the robot ends upside down).

`--markdown` ends with the table as Markdown (docs/FIDELITY.md, "Backends").

`--sides` compares other settings the same way: each side is a backend with optional settings,
`BACKEND[:KEY=VALUE[;KEY=VALUE]]`, e.g. `--sides "mujoco:sleep_tolerance=0,mujoco"` (the MuJoCo
backend without and with body sleeping). The default is `mjx,mujoco`.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

import safejax

BACKENDS = ("mjx", "mujoco")


def parse_side(side: str) -> dict[str, Any]:
    """`safejax.make` keywords of one side, `BACKEND[:KEY=VALUE[;KEY=VALUE]]`."""
    from benchmarks.sps import parse_overrides

    backend, _, rest = side.partition(":")
    if backend not in BACKENDS:
        raise ValueError(f"side {side!r}: the backend must be one of {list(BACKENDS)}")
    return {"physics": backend, **parse_overrides([x for x in rest.split(";") if x])}


def suite() -> list[str]:
    """The 27 environments of Safety Gym's suite (Goal, Button, Push; levels 0-2)."""
    from safejax.registry import registered_names

    tasks = ("Goal", "Button", "Push")
    return [n for n in registered_names() if n.rstrip("0123456789").endswith(tasks)]


def episode_stats(env: Any, worlds: int, seed: int = 0, steps: int | None = None) -> dict[str, Any]:
    """Random-action episodes of `env` from `seed`'s keys (`steps`, default the episode length):
    the per-episode statistics above, plus the state after the first step (for the step gap)."""
    steps = env.num_steps if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
    key = jax.random.key(seed)
    state = reset(jax.random.split(key, worlds))
    body = env.index.robot_body
    acc = env.obs_layout["accelerometer"]
    start = np.asarray(state.data.xpos[:, body, :2])
    action_keys = jax.random.split(jax.random.fold_in(key, 1), steps)
    draw = jax.jit(
        lambda k: jax.random.uniform(k, (worlds, env.action_size), minval=-1.0, maxval=1.0)
    )
    ret = np.zeros(worlds)
    cost = np.zeros(worlds)
    goals = np.zeros(worlds)
    height = np.zeros(worlds)
    acc_z = []
    first = None
    alive = np.ones(worlds, bool)
    t0 = time.perf_counter()
    for t in range(steps):
        state = step(state, draw(action_keys[t]))
        if first is None:
            first = state
        live = alive.copy()
        ret += np.where(live, np.asarray(state.reward), 0.0)
        cost += np.where(live, np.asarray(state.cost), 0.0)
        goals += np.where(live, np.asarray(state.metrics["goal_met"]), 0.0)
        height += np.asarray(state.data.xpos[:, body, 2])
        if t >= steps - 100:
            acc_z.append(np.asarray(state.obs[:, acc.stop - 1]))
        alive &= ~np.asarray(state.terminated)
    seconds = time.perf_counter() - t0
    end = np.asarray(state.data.xpos[:, body, :2])
    return {
        "first": first,
        "return": float(ret.mean()),
        "cost": float(cost.mean()),
        "goals": float(goals.mean()),
        "height": float(height.mean() / steps),
        "travel": float(np.linalg.norm(end - start, axis=-1).mean()),
        "flipped": int((np.mean(acc_z, axis=0) < 0).sum()),
        "terminated": int((~alive).sum()),
        "seconds": seconds,
    }


def compare(
    name: str,
    worlds: int = 16,
    seed: int = 0,
    steps: int | None = None,
    sides: tuple[str, ...] = BACKENDS,
) -> list[dict[str, Any]]:
    """One row per side (default: per backend) for environment `name` (module docstring); the
    step gaps are between the first two sides."""
    if len(sides) < 2 or len(set(sides)) != len(sides):
        raise ValueError(f"sides must be two or more different sides, got {list(sides)}")
    settings = [parse_side(side) for side in sides]  # every side checked before the first run
    rows, firsts, envs = [], [], []
    for side, kwargs in zip(sides, settings, strict=True):
        env = safejax.make(name, **kwargs)
        stats = episode_stats(env, worlds, seed, steps)
        firsts.append(stats.pop("first"))
        envs.append(env)
        rows.append({"env": name, "physics": side, "worlds": worlds, **stats})
    a, b = firsts[:2]
    body = envs[0].index.robot_body
    pos = [np.asarray(f.data.xpos[:, body]) for f in (a, b)]
    pos_gap = float(np.abs(pos[0] - pos[1]).max())
    obs_gap = float(np.abs(np.asarray(a.obs) - np.asarray(b.obs)).max())
    for row in rows:
        row["step_pos_gap"] = pos_gap
        row["step_obs_gap"] = obs_gap
    return rows


COLUMNS = (
    ("env", "{}"),
    ("physics", "{}"),
    ("step_pos_gap", "{:.1e}"),
    ("step_obs_gap", "{:.1e}"),
    ("return", "{:.2f}"),
    ("cost", "{:.1f}"),
    ("goals", "{:.2f}"),
    ("height", "{:.3f}"),
    ("travel", "{:.2f}"),
    ("flipped", "{}"),
    ("terminated", "{}"),
)


def markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(f.format(r[c]) for c, f in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def main(
    envs: list[str],
    worlds: int,
    seed: int,
    as_markdown: bool,
    sides: tuple[str, ...] = BACKENDS,
) -> list[dict[str, Any]]:
    rows = []
    for name in envs:
        for row in compare(name, worlds, seed, sides=sides):
            rows.append(row)
            print(
                "  ".join(f"{c}=" + f.format(row[c]) for c, f in COLUMNS)
                + f"  ({row['seconds']:.0f} s)",
                flush=True,
            )
    if as_markdown:
        print(markdown(rows))
    return rows
