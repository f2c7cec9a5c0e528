"""Bit-exact regression fixture of the whole suite: `python -m benchmarks.regression record|check`.

For every registered environment (or `--envs A,B`), resets one world with
`jax.random.PRNGKey(2026)` and steps it `--steps` times (20) with actions drawn from
`jax.random.PRNGKey(7)`, uniform in [-1, 1) (one (steps, action_size) draw), then 500 times
with a scripted controller (`seek_action`) that steers the Point and the Car at the task's
target (the goal, the goal button, the push box; around the circle; down the run) across the
world, so that the rollout meets goals, presses buttons, pushes the box and crosses hazards,
vases, pillars, gremlins and boundaries on its way (the Doggo, which no simple controller
steers, keeps taking uniform random actions drawn from the same key stream). Both phases run
through `jax.jit(env.reset)` and `jax.jit(env.step)` called once per step (the formulation of
the tests' shared compiled environments, so a test can reuse them). Each step's observation,
reward, cost, terminated, truncated and every `state.metrics` entry is recorded, with the reset's
observation and metrics and the actions.

`record` writes them to one compressed `.npz` (default `tests/fixtures/suite_regression.npz`;
keys `PointGoal1/obs`, `PointGoal1/reward`, `PointGoal1/metrics/cost_hazards`, ...) with a
JSON metadata entry (`__meta__`: package versions, steps, seeds, git commit, machine). `check`
recomputes the rollouts with the fixture's steps and seeds and compares every array bit for bit
(dtype, shape and bytes: -0.0 differs from 0.0, NaNs must sit at the same places with the same
payload); it prints one line per environment and exits 1 if any differs.

Bit-exact results hold for one machine and one set of packages: another CPU model (another
instruction set for XLA to target), another jax/jaxlib/mujoco or XLA flags may legitimately change
the last bits. The fixture proves a refactor changed nothing on the machine that recorded it;
record it again from the base commit on another machine.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

import jax
import numpy as np

import safejax

DEFAULT_FIXTURE = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "suite_regression.npz"
)
RESET_SEED = 2026
ACTION_SEED = 7
STEPS = 20
SEEK_STEPS = 500
# The controller's gains: forward command, and turn command per radian of heading error.
SEEK_FORWARD = 1.0
SEEK_TURN_GAIN = 2.0
META_KEY = "__meta__"
# Per-step fields of `State` recorded besides the metrics, and the dtype each is stored as.
STEP_FIELDS = (
    ("obs", np.float32),
    ("reward", np.float32),
    ("cost", np.float32),
    ("terminated", np.bool_),
    ("truncated", np.bool_),
)
PACKAGES = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "numpy")


class UsageError(ValueError):
    """Bad command-line input."""


def parse_envs(text: str | None) -> list[str]:
    """`A,B` -> ["A", "B"] (canonical names), every registered name when empty; unknown names
    raise with the list of valid ones."""
    valid = safejax.registered_names()
    if not text:
        return list(valid)
    names = [n.strip() for n in text.split(",") if n.strip()]
    out, unknown = [], []
    for n in names:
        try:
            canonical = safejax.registry.canonical_name(n)
        except (KeyError, ValueError):
            canonical = None
        if canonical not in valid:
            unknown.append(n)
        elif canonical not in out:
            out.append(canonical)
    if unknown:
        raise UsageError(f"unknown environment(s): {', '.join(unknown)}; valid: {', '.join(valid)}")
    if not out:
        raise UsageError("--envs names no environment")
    return out


def actions_for(action_size: int, steps: int, seed: int = ACTION_SEED) -> jax.Array:
    """(steps, action_size) float32 actions, uniform in [-1, 1)."""
    key = jax.random.PRNGKey(seed)
    return jax.random.uniform(key, (steps, action_size), minval=-1.0, maxval=1.0)


def _target(env, state) -> jax.Array:
    """(2,) where the controller steers: the push box (Push); a point on the circle 0.6 rad
    ahead, counter-clockwise (Circle); 5 m further along -y (Run); else the task's goal."""
    import jax.numpy as jnp

    task = env.config.task
    if task == "push":
        return state.data.xpos[env.index.task.body][:2]
    xy = state.data.xpos[env.index.robot_body][:2]
    if task == "circle":
        angle = jnp.arctan2(xy[1], xy[0]) + 0.6
        return env.config.circle_radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
    if task == "run":
        return jnp.stack([xy[0], xy[1] - 5.0])
    return state.task["goal"]


def seek_action(env, state, key: jax.Array) -> jax.Array:
    """The scripted controller of the seek phase: full forward, turning toward `_target` in
    proportion to the heading error (Point: forward motor along the body's x axis and yaw servo;
    Car: differential wheel torques, forward along the body's -y axis). Doggo: uniform random."""
    import jax.numpy as jnp

    robot = env.config.robot
    if robot not in ("point", "car"):
        return jax.random.uniform(key, (env.action_size,), minval=-1.0, maxval=1.0)
    b = env.index.robot_body
    pos, mat = state.data.xpos[b], state.data.xmat[b]
    axis = mat[:, 0] if robot == "point" else -mat[:, 1]
    to = _target(env, state) - pos[:2]
    err = jnp.arctan2(to[1], to[0]) - jnp.arctan2(axis[1], axis[0])
    err = jnp.arctan2(jnp.sin(err), jnp.cos(err))
    turn = jnp.clip(SEEK_TURN_GAIN * err, -1.0, 1.0)
    if robot == "point":
        return jnp.stack([SEEK_FORWARD * jnp.cos(err).clip(0.0, 1.0), turn])
    fwd = SEEK_FORWARD * 0.5 * jnp.cos(err).clip(0.0, 1.0)
    return jnp.stack([fwd - turn * 0.5, fwd + turn * 0.5]).clip(-1.0, 1.0)


def rollout(
    name: str,
    steps: int = STEPS,
    reset_seed: int = RESET_SEED,
    action_seed: int = ACTION_SEED,
    compiled: tuple | None = None,
    seek_steps: int = SEEK_STEPS,
) -> dict[str, np.ndarray]:
    """One environment's recorded arrays, keyed by field (`obs`, `metrics/cost_hazards`, ...):
    `steps` random actions, then `seek_steps` of the scripted controller.

    `compiled`: an `(env, jit(env.reset), jit(env.step))` triple to reuse; built here otherwise.
    """
    if compiled is None:
        env = safejax.make(name)
        reset, step = jax.jit(env.reset), jax.jit(env.step)
    else:
        env, reset, step = compiled
    random_actions = actions_for(env.action_size, steps, action_seed)
    seek = jax.jit(functools.partial(seek_action, env))
    seek_keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(action_seed), 1), seek_steps)
    state = reset(jax.random.PRNGKey(reset_seed))
    out = {"reset_obs": np.asarray(state.obs, np.float32)}
    for k, v in state.metrics.items():
        out[f"reset_metrics/{k}"] = np.asarray(v)
    per_step: dict[str, list[np.ndarray]] = {}
    actions = []
    for i in range(steps + seek_steps):
        action = random_actions[i] if i < steps else seek(state, seek_keys[i - steps])
        actions.append(np.asarray(action, np.float32))
        state = step(state, action)
        fields = {f: getattr(state, f) for f, _ in STEP_FIELDS}
        fields.update({f"metrics/{k}": v for k, v in state.metrics.items()})
        for f, v in fields.items():
            per_step.setdefault(f, []).append(np.asarray(v))
    dtypes = dict(STEP_FIELDS)
    for f, values in per_step.items():
        arr = np.stack(values)
        if f in dtypes:
            arr = arr.astype(dtypes[f], copy=False)
        out[f] = arr
    out["actions"] = np.stack(actions).reshape(steps + seek_steps, env.action_size)
    return out


def release() -> None:
    """Frees every compiled program: each XLA:CPU program holds thousands of memory mappings and
    a process may hold at most `vm.max_map_count` (65,530 by default)."""
    jax.clear_caches()
    gc.collect()


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (floats compared bit for bit: -0.0 is not 0.0, and NaNs must
    match in place and payload)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.dtype != b.dtype or a.shape != b.shape:
        return f"dtype/shape {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    x, y = a.astype(np.float64), b.astype(np.float64)
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    notes = []
    if not np.array_equal(nan_x, nan_y):
        notes.append("NaN positions differ")
    both = ~(nan_x | nan_y)
    if both.any():
        notes.append(f"max |diff| {np.max(np.abs(x[both] - y[both])):.3g}")
    return ", ".join(notes) or "bit patterns differ"


def compare(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> str | None:
    """None where every field is bit-identical; else a line naming the first differing step (or
    the reset), the fields that differ there, and each one's max absolute difference."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing or extra:
        return f"fields differ: missing {missing or '[]'}, new {extra or '[]'}"
    first: dict[str, int] = {}  # field -> first differing step (-1: reset or whole-array fields)
    notes: dict[str, str] = {}
    for f in expected:
        a, b = expected[f], actual[f]
        if identical(a, b):
            continue
        notes[f] = _max_abs_diff(a, b)
        if f.startswith("reset_") or f == "actions" or a.shape != b.shape or a.ndim == 0:
            first[f] = -1
        else:
            rows = [i for i in range(a.shape[0]) if not identical(a[i], b[i])]
            first[f] = rows[0] if rows else -1
    if not first:
        return None
    at = min(first.values())
    fields = [f for f in expected if first.get(f) == at]
    where = "at reset/actions" if at < 0 else f"from step {at + 1}"
    detail = "; ".join(f"{f} ({notes[f]})" for f in fields)
    later = len(first) - len(fields)
    return f"differs {where}: {detail}" + (f"; {later} more field(s) later" if later else "")


def git_commit(path: Path) -> str:
    """The checkout's HEAD commit, with `+dirty` where tracked files under safejax/ differ."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no", "safejax"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def metadata_entry(steps: int, envs: Iterable[str]) -> dict:
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    root = Path(safejax.__file__).resolve().parent.parent
    return {
        "versions": versions,
        "steps": steps,
        "seek_steps": SEEK_STEPS,
        "seek": f"seek_action: forward {SEEK_FORWARD}, turn gain {SEEK_TURN_GAIN} per rad",
        "reset_key": f"jax.random.PRNGKey({RESET_SEED})",
        "reset_seed": RESET_SEED,
        "action_key": f"jax.random.PRNGKey({ACTION_SEED})",
        "action_seed": ACTION_SEED,
        "actions": "jax.random.uniform(action_key, (steps, action_size), minval=-1, maxval=1)",
        "formulation": "jax.jit(env.reset), then jax.jit(env.step) once per step",
        "commit": git_commit(root),
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "envs": list(envs),
    }


def save(path: Path, results: dict[str, dict[str, np.ndarray]], meta: dict) -> None:
    """Writes the fixture atomically (a temporary file, then a rename)."""
    arrays = {f"{name}/{f}": a for name, fields in results.items() for f, a in fields.items()}
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load(path: Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """(metadata, {env: {field: array}})."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z[META_KEY]))
        results: dict[str, dict[str, np.ndarray]] = {}
        for key in z.files:
            if key == META_KEY:
                continue
            name, field = key.split("/", 1)
            results.setdefault(name, {})[field] = z[key]
    return meta, results


def fresh_rollout(
    name: str, steps: int, reset_seed: int, action_seed: int, seek_steps: int = SEEK_STEPS
) -> dict:
    """`rollout` with newly compiled functions, whose programs are freed before returning."""
    try:
        return rollout(name, steps, reset_seed, action_seed, seek_steps=seek_steps)
    finally:
        release()


def _run_each(
    names: list[str],
    steps: int,
    seeds: tuple[int, int],
    compute: Callable[..., dict[str, np.ndarray]],
    done: Callable[[str, dict], None],
    seek_steps: int = SEEK_STEPS,
) -> None:
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        result = compute(name, steps, *seeds, seek_steps=seek_steps)
        print(f"[{i}/{len(names)}] {name}: {time.perf_counter() - t0:.0f} s", end=" ", flush=True)
        done(name, result)


def record(
    path: Path,
    names: list[str],
    steps: int | None = None,
    compute=fresh_rollout,
    update: bool = False,
) -> int:
    """Records `names` into a new fixture at `path` (rewritten after every environment), or with
    `update` replaces just those environments in the existing fixture, keeping the others and
    its metadata and noting the commit and the environments in its `updates` list. `steps`
    defaults to `STEPS`, or with `update` to the fixture's.
    `compute(name, steps, reset_seed, action_seed)` gives one environment's arrays."""
    results: dict[str, dict[str, np.ndarray]] = {}
    meta: dict | None = None
    if update:
        if not path.exists():
            raise UsageError(f"no fixture at {path} to update; run `record` without --update")
        meta, results = load(path)
        steps = meta["steps"] if steps is None else steps
        if steps != meta["steps"]:
            raise UsageError(f"the fixture has {meta['steps']} steps; --steps {steps} differs")
        here = metadata_entry(steps, names)
        meta = {
            **meta,
            "updates": [*meta.get("updates", []), {"commit": here["commit"], "envs": names}],
        }
        meta["envs"] = sorted(set(meta.get("envs", [])) | set(names))
    steps = STEPS if steps is None else steps

    def done(name, result):
        results[name] = result
        save(path, results, meta if meta is not None else metadata_entry(steps, results))
        print("recorded", flush=True)

    seeds = (meta["reset_seed"], meta["action_seed"]) if meta else (RESET_SEED, ACTION_SEED)
    _run_each(names, steps, seeds, compute, done)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {len(results)} environments)")
    return 0


def check(
    path: Path, names: list[str] | None, steps: int | None = None, compute=fresh_rollout
) -> int:
    """Recomputes `names` (when None: every registered environment, and any other the fixture
    holds) with the fixture's steps and seeds, compares them bitwise with the fixture, and
    returns the exit status (1 if any differs). `compute` as for `record`."""
    meta, expected = load(path)
    if steps is not None and steps != meta["steps"]:
        raise UsageError(f"the fixture has {meta['steps']} steps; --steps {steps} differs")
    registered = safejax.registered_names()
    if names is None:
        names = list(registered) + [n for n in expected if n not in registered]
    missing = [n for n in names if n not in expected]
    failed = [f"{n}: no longer registered" for n in names if n not in registered]
    here = metadata_entry(meta["steps"], [])
    for k in ("versions", "backend", "cpu", "xla_flags"):
        if here[k] != meta[k]:
            print(f"note: {k} differs from the recording: {meta[k]!r} -> {here[k]!r}")
    failed += [f"{n}: not in the fixture" for n in missing]
    for line in failed:
        print(line)
    todo = [n for n in names if n in expected and n in registered]

    def done(name, result):
        diff = compare(expected[name], result)
        print("identical" if diff is None else diff, flush=True)
        if diff is not None:
            failed.append(f"{name}: {diff}")

    _run_each(
        todo,
        meta["steps"],
        (meta["reset_seed"], meta["action_seed"]),
        compute,
        done,
        seek_steps=meta.get("seek_steps", 0),
    )
    print(
        f"{len(names) - len(failed)}/{len(names)} identical to {path} "
        f"(recorded at {meta['commit']})"
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("record", "check"))
    p.add_argument("--envs", default=None, help="comma-separated names (default: all)")
    p.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    p.add_argument(
        "--update", action="store_true",
        help="record: replace only --envs in the existing fixture, keep the others",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=int, default=None,
        help=f"random-action steps per environment, before the {SEEK_STEPS} scripted ones "
        f"(record: default {STEPS}; check: the fixture's)",
    )  # fmt: skip
    args = p.parse_args(argv)
    try:
        if args.steps is not None and args.steps < 1:
            raise UsageError("--steps must be at least 1")
        if args.command == "record":
            if args.update and not args.envs:
                raise UsageError("--update needs --envs (the environments to re-record)")
            return record(args.fixture, parse_envs(args.envs), args.steps, update=args.update)
        names = parse_envs(args.envs) if args.envs else None
        if not args.fixture.exists():
            raise UsageError(f"no fixture at {args.fixture}; run `record` first")
        return check(args.fixture, names, args.steps)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
