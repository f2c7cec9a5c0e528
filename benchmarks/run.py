"""Train one algorithm on one environment and write its metrics, summary, curves and checkpoint.

    python -m benchmarks.run --env NAME --algo {ppo,ppo_lag,pid_lag} [--steps N] [--seeds N]
        [--seed S] [--num-envs N] [--set key=value ...] [--out DIR] [--chunk K]
    python -m benchmarks.run --resume DIR [--steps N]

Without --steps the run is CPU-sized (DEFAULT_STEPS env steps per seed, a few minutes on two
cores); the Safety Gym budget is --steps 10000000. Seeds run side by side in one process
(`jax.vmap`); seed i uses PRNGKey(seed + i), so it matches a one-seed run with --seed seed+i.

The host loop calls one jitted, vmapped chunk of K updates (a `lax.scan`) at a time. After each
chunk it appends the chunk's rows to metrics.csv (flushed), rewrites the checkpoint atomically and
updates the progress line. Ctrl-C or SIGTERM stops after the running chunk (a second one aborts
at once); every row written so far stays, and `--resume DIR` continues from the last checkpoint
without repeating finished updates. The output directory holds:

    config.yaml      resolved run and algorithm config
    metrics.csv      one row per update and seed (J_r, J_c, episodes, rho_c, lambda, losses, KL,
                     sps, ...); J_r / J_c carry the last value when no episode ended in the update
                     (episodes = 0) and are empty before the first episode ends
    summary.json     final J_r, J_c, rho_c (mean over seeds and per seed), env_steps_per_s, and
                     Safety Gym's normalized metrics against unconstrained PPO
    curves.png       return and cost vs env steps, cost limit drawn
    checkpoint.msgpack   train state (all seeds) and host counters
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

DEFAULT_STEPS = 320_000
CHUNK_TARGET_STEPS = 30_000  # auto --chunk: about this many env steps (all seeds) per chunk
FIRST_COLUMNS = [
    "seed", "update", "env_steps", "J_r", "J_c", "episodes", "episodes_total", "rho_c", "lambda",
]  # fmt: skip
HOST_COLUMNS = ["sps", "time_s"]
# A non-finite value in any of these stops the run with an error (the row is still written).
CHECKED = ("J_r", "J_c", "rho_c", "lambda", "loss_pi", "kl", "loss_vr", "loss_vc")


# Compiled learners of this process, reused by later runs with the same algorithm, config (up to
# total_steps), env object, seeds and chunk (a resumed or repeated run in one process).
_COMPILED: dict[tuple, tuple[Any, Any, Any]] = {}


class UsageError(Exception):
    """Bad command-line input, reported before anything is compiled."""


# ---------------------------------------------------------------------------------- set-up


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Train a constrained RL algorithm on a safejax environment.",
    )
    p.add_argument("--env", help="environment name, e.g. PointGoal1")
    p.add_argument("--algo", help="algorithm: ppo, ppo_lag, pid_lag, ...")
    p.add_argument("--steps", type=int, help=f"env steps per seed (default {DEFAULT_STEPS:,})")
    p.add_argument("--seeds", type=int, default=1, help="seeds run side by side (vmap)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--num-envs", type=int, help="worlds per seed (config num_envs)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    p.add_argument("--out", help="output directory (default runs/ENV-ALGO-TIME)")
    p.add_argument("--chunk", type=int, help="updates per jitted call (default: auto)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR")
    return p


def _make_env(name: str, make_env: Callable[[str], Any] | None) -> Any:
    if make_env is not None:
        return make_env(name)
    import safejax

    names = safejax.registered_names()
    try:
        return safejax.make(name)
    except ValueError as e:
        raise UsageError(
            f"cannot make environment {name!r}: {e}\nregistered environments: {', '.join(names)}"
        ) from e


def _resolve(args: argparse.Namespace) -> dict[str, Any]:
    """The run description (env, algo, seeds, chunk, algorithm config) from args or a run dir."""
    from agents import get_algorithm
    from agents.common.config import from_dict, load_config, parse_overrides

    if args.resume:
        extra = [k for k in ("env", "algo", "num_envs", "out", "chunk") if getattr(args, k)]
        extra += ["set"] if args.set else []
        extra += ["seeds"] if args.seeds != 1 else []
        extra += ["seed"] if args.seed != 0 else []
        if extra:
            raise UsageError(f"--resume takes only --steps; got also {', '.join(extra)}")
        path = Path(args.resume) / "config.yaml"
        if not path.exists():
            raise UsageError(f"nothing to resume: {path} does not exist")
        run = yaml.safe_load(path.read_text())
        module = get_algorithm(run["algo"])
        values = dict(run["config"])
        if args.steps is not None:
            values["total_steps"] = args.steps
        cfg = from_dict(module.Config, values, where=str(path))
        return {**run, "config": cfg, "module": module, "out": Path(args.resume)}

    if not args.env or not args.algo:
        raise UsageError("--env and --algo are required (or --resume DIR)")
    try:
        module = get_algorithm(args.algo)
    except ValueError as e:
        raise UsageError(str(e)) from e
    overrides = parse_overrides(args.set)
    for flag, key, value in (("--steps", "total_steps", args.steps), ("--num-envs", "num_envs",
                             args.num_envs)):  # fmt: skip
        if value is not None:
            if key in overrides:
                raise UsageError(f"{flag} and --set {key}=... both given")
            overrides[key] = value
    overrides.setdefault("total_steps", DEFAULT_STEPS)
    cfg = load_config(module.Config, module.DEFAULT_CONFIG, overrides)
    if args.seeds < 1:
        raise UsageError("--seeds must be >= 1")
    if args.chunk is not None and args.chunk < 1:
        raise UsageError("--chunk must be >= 1")
    chunk = args.chunk or max(1, round(CHUNK_TARGET_STEPS / (cfg.batch_size * args.seeds)))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"runs/{args.env}-{args.algo}-{stamp}")
    if (out / "metrics.csv").exists():
        raise UsageError(f"{out} already holds a run; use --resume {out} or another --out")
    run = {
        "env": args.env,
        "algo": args.algo,
        "seed": args.seed,
        "seeds": args.seeds,
        "chunk": min(chunk, cfg.num_updates),
    }
    return {**run, "config": cfg, "module": module, "out": out}


# ---------------------------------------------------------------------------------- files


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: Path, ts: Any, meta: dict[str, Any]) -> None:
    """Writes the train-state pytree's leaves and `meta` to `path` atomically (msgpack)."""
    import jax
    from flax import serialization

    leaves = []
    for leaf in jax.tree.leaves(ts):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        leaves.append(np.asarray(leaf))
    payload = {"meta": json.dumps(meta), "leaves": {str(i): x for i, x in enumerate(leaves)}}
    _atomic_write(path, serialization.msgpack_serialize(payload))


def load_checkpoint(path: Path, template: Any) -> tuple[Any, dict[str, Any]]:
    """The train state saved at `path`, shaped like `template` (arrays or ShapeDtypeStructs)."""
    import jax
    from flax import serialization

    payload = serialization.msgpack_restore(path.read_bytes())
    spec, treedef = jax.tree.flatten(template)
    saved = payload["leaves"]
    if len(saved) != len(spec):
        raise ValueError(f"{path}: {len(saved)} arrays saved, the train state has {len(spec)}")
    leaves = []
    for i, s in enumerate(spec):
        x = saved[str(i)]
        if jax.dtypes.issubdtype(s.dtype, jax.dtypes.prng_key):
            leaves.append(jax.random.wrap_key_data(x, impl=jax.random.key_impl(s)))
            continue
        if x.shape != s.shape or x.dtype != s.dtype:
            raise ValueError(
                f"{path}: array {i} is {x.dtype}{list(x.shape)}, expected {s.dtype}{list(s.shape)}"
            )
        leaves.append(x)
    return jax.tree.unflatten(treedef, leaves), json.loads(payload["meta"])


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def _rows(metrics: dict[str, np.ndarray], n: int, seed0: int) -> list[dict[str, Any]]:
    """Per-update, per-seed rows from chunk metrics shaped (K, seeds)."""
    rows = []
    for k in range(n):
        for s in range(metrics["update"].shape[1]):
            row = {"seed": seed0 + s}
            row.update({name: v[k, s].item() for name, v in metrics.items()})
            if row["episodes_total"] == 0:  # nothing to report yet
                row["J_r"] = row["J_c"] = ""
            rows.append(row)
    return rows


def _append_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Appends rows (header first if the file is new); closed, hence flushed, on return."""
    extra = sorted(set(rows[0]) - set(FIRST_COLUMNS) - set(HOST_COLUMNS))
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIRST_COLUMNS + extra + HOST_COLUMNS)
        if new_file:
            w.writeheader()
        w.writerows({k: _fmt(v) for k, v in r.items()} for r in rows)


def _nonfinite(rows: list[dict[str, Any]]) -> list[str]:
    """'column (update u, seed s)' for each non-finite checked value."""
    return [
        f"{c} (update {r['update']}, seed {r['seed']})"
        for r in rows
        for c in CHECKED
        if c in r and r[c] != "" and not math.isfinite(r[c])
    ]


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _truncate_csv(path: Path, max_update: int) -> None:
    """Drops rows of updates after the checkpoint (written before a kill interrupted it)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    keep = [r for r in rows if int(r["update"]) <= max_update]
    if len(keep) != len(rows):
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(keep)


def plot(rows: list[dict[str, str]], path: Path, title: str, cost_limit: float) -> None:
    """Return and cost vs env steps, one thin line per seed and their mean, limit dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    seeds = sorted({r["seed"] for r in rows}, key=int)
    for ax, col, label in ((axes[0], "J_r", "return J_r"), (axes[1], "J_c", "cost J_c")):
        curves = {}
        for s in seeds:
            pts = [(int(r["env_steps"]), float(r[col])) for r in rows if r["seed"] == s and r[col]]
            curves[s] = pts
            if pts and len(seeds) > 1:
                ax.plot(*zip(*pts, strict=True), lw=0.8, alpha=0.4)
        steps = sorted({x for pts in curves.values() for x, _ in pts})
        mean = [
            (x, float(np.mean([y for pts in curves.values() for xx, y in pts if xx == x])))
            for x in steps
        ]
        if mean:
            ax.plot(*zip(*mean, strict=True), lw=2, color="k", label="mean over seeds")
        if col == "J_c":
            ax.axhline(cost_limit, ls="--", color="r", label=f"cost limit {cost_limit:g}")
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def summarize(run: dict[str, Any], rows: list[dict[str, str]], host: dict[str, Any]) -> dict:
    """summary.json: final metrics (last update, mean over seeds) and normalized metrics."""
    from benchmarks.reference import normalized

    cfg = run["config"]
    last: dict[str, dict[str, str]] = {}
    for r in rows:
        last[r["seed"]] = r  # rows are in update order
    seeds = sorted(last, key=int)

    def per_seed(col: str) -> list[float | None]:
        return [float(last[s][col]) if last[s][col] != "" else None for s in seeds]

    def mean(vals: list[float | None]) -> float | None:
        vals = [v for v in vals if v is not None]
        return _round(float(np.mean(vals))) if vals else None

    j_r, j_c, rho = per_seed("J_r"), per_seed("J_c"), per_seed("rho_c")
    updates = int(last[seeds[0]]["update"]) if seeds else 0
    train_s = host["train_s"]
    summary = {
        "env": run["env"],
        "algo": run["algo"],
        "seeds": [int(s) for s in seeds],
        "updates": updates,
        "updates_planned": cfg.num_updates,
        "env_steps": updates * cfg.batch_size,
        "complete": updates >= cfg.num_updates,
        "J_r": mean(j_r),
        "J_c": mean(j_c),
        "rho_c": mean(rho),
        "per_seed": {"J_r": j_r, "J_c": j_c, "rho_c": rho},
        "cost_limit": cfg.cost_limit,
        "env_steps_per_s": round(host["steps_run"] / train_s, 1) if train_s > 0 else None,
        "train_time_s": round(train_s, 2),
        "compile_s": round(host["compile_s"], 2),
        "normalized": None,
    }
    if summary["rho_c"] is not None:
        summary["normalized"] = normalized(
            run["env"], summary["J_r"], summary["J_c"], summary["rho_c"], cfg.cost_limit
        )
    return summary


# ---------------------------------------------------------------------------------- loop


class _Stop:
    """First Ctrl-C / SIGTERM: finish the running chunk, save, stop. Second: abort now."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.reason is not None:
            raise KeyboardInterrupt
        self.reason = signal.Signals(signum).name
        print(f"\n{self.reason}: stopping after this chunk (again to abort)", flush=True)


def _duration(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _progress(
    label: str, done: int, cfg: Any, last: list[dict[str, Any]], sps: float, left: float
) -> str:
    """One progress line: steps, return, cost and lambda (means over seeds), speed, time left."""

    def avg(col: str) -> str:
        vals = [r[col] for r in last if r[col] != ""]
        return f"{np.mean(vals):.2f}" if vals else "-"

    return (
        f"[{label}] {done * cfg.batch_size:,}/{cfg.num_updates * cfg.batch_size:,} steps"
        f"  J_r {avg('J_r')}  J_c {avg('J_c')}  lambda {avg('lambda')}"
        f"  {sps:,.0f} steps/s  left {_duration(left)}"
    )


def train(
    run: dict[str, Any],
    env: Any,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Runs (or resumes) `run` to its planned number of updates; returns an exit status."""
    import jax
    import jax.numpy as jnp

    from agents.common.config import to_dict
    from agents.common.train import make_chunk, over_seeds

    cfg, out = run["config"], run["out"]
    out.mkdir(parents=True, exist_ok=True)
    run_file = {k: run[k] for k in ("env", "algo", "seed", "seeds", "chunk")}
    (out / "config.yaml").write_text(
        yaml.safe_dump({**run_file, "config": to_dict(cfg)}, sort_keys=False)
    )
    cache_key = (run["algo"], dataclasses.replace(cfg, total_steps=0), env, run["seeds"],
                 run["chunk"])  # fmt: skip
    learner, init, chunk = _COMPILED.get(cache_key, (None, None, None))
    if learner is None:
        learner = run["module"].make_train(cfg, env)
        init = jax.jit(jax.vmap(learner.init))
    keys = jax.vmap(jax.random.PRNGKey)(run["seed"] + jnp.arange(run["seeds"]))
    ckpt = out / "checkpoint.msgpack"
    csv_path = out / "metrics.csv"
    host = {"train_s": 0.0, "steps_run": 0, "compile_s": 0.0}
    t_start = time.perf_counter()
    if ckpt.exists():
        ts, meta = load_checkpoint(ckpt, jax.eval_shape(init, keys))
        host.update(meta["host"])
        done = int(np.asarray(ts.update)[0])
        _truncate_csv(csv_path, done)
        print(f"resuming {out} at update {done}/{cfg.num_updates}", flush=True)
    else:
        if csv_path.exists():
            csv_path.unlink()  # rows without a checkpoint cannot be continued
        ts, done = init(keys), 0

    steps_per_update = cfg.batch_size * run["seeds"]
    label = f"{run['algo']} {run['env']}"
    episode = getattr(env, "num_steps", 0)
    if cfg.rollout_len < episode:
        print(
            f"note: rollout_len {cfg.rollout_len} < episode length {episode}: time-limited "
            f"episodes end about every {math.ceil(episode / cfg.rollout_len)} updates and J_r / "
            "J_c carry their last values in between",
            flush=True,
        )
    stop = _Stop()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        if done < cfg.num_updates and chunk is None:
            print(f"[{label}] compiling ...", flush=True)
            update = over_seeds(learner.update, run["seeds"])
            chunk = jax.jit(make_chunk(update, run["chunk"]), donate_argnums=0)
            chunk = chunk.lower(ts, jnp.int32(run["chunk"])).compile()
            _COMPILED[cache_key] = (learner, init, chunk)
        host["compile_s"] += time.perf_counter() - t_start
        tty = sys.stdout.isatty()
        while done < cfg.num_updates and stop.reason is None:
            n = min(run["chunk"], cfg.num_updates - done)
            t0 = time.perf_counter()
            ts, metrics = chunk(ts, jnp.int32(n))
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t0
            host["train_s"] += dt
            host["steps_run"] += n * steps_per_update
            sps = n * steps_per_update / dt
            rows = _rows(metrics, n, run["seed"])
            for r in rows:
                r.update(sps=round(sps), time_s=round(host["train_s"], 2))
            _append_csv(csv_path, rows)
            bad = _nonfinite(rows)
            if bad:
                print(
                    f"\nerror: non-finite {', '.join(bad[:4])}; rows kept in {csv_path}; the "
                    f"checkpoint holds update {done}",
                    file=sys.stderr,
                )
                status = 1
                break
            done += n
            save_checkpoint(ckpt, ts, {"host": host, "update": done})
            updates_run = host["steps_run"] / steps_per_update
            left = (cfg.num_updates - done) * host["train_s"] / updates_run
            line = _progress(label, done, cfg, rows[-run["seeds"] :], sps, left)
            print(("\r" + line + "\x1b[K") if tty else line, end="" if tty else "\n", flush=True)
            if on_chunk is not None:
                on_chunk(done)
        if tty:
            print()
    except KeyboardInterrupt:
        stop.reason = stop.reason or "SIGINT"
        print("\naborted", flush=True)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        rows = read_rows(csv_path)
        if rows:
            summary = summarize(run, rows, host)
            summary["stopped_by"] = stop.reason
            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            plot(rows, out / "curves.png", label, cfg.cost_limit)
    if stop.reason is not None:
        print(f"stopped at update {done}; continue with --resume {out}", flush=True)
        return 130 if status == 0 else status
    if status == 0 and (out / "summary.json").exists():
        s = json.loads((out / "summary.json").read_text())
        keys = ("J_r", "J_c", "rho_c", "env_steps_per_s", "compile_s")
        print("done: " + ", ".join(f"{k} {s[k]}" for k in keys) + f"; files in {out}", flush=True)
    return status


def main(
    argv: list[str] | None = None,
    make_env: Callable[[str], Any] | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """CLI entry point. `make_env` replaces `safejax.make` (tests); `on_chunk(updates_done)` is
    called after each chunk."""
    args = _parser().parse_args(argv)
    try:
        run = _resolve(args)
        env = _make_env(run["env"], make_env)
    except (UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return train(run, env, on_chunk)


if __name__ == "__main__":
    sys.exit(main())
