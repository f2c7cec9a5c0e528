"""Training runs as library calls: plan, train with checkpoints, resume, evaluate.

    import agents
    result = agents.run("PointGoal1", "ppo_lag", steps=320_000, seeds=3, out_dir="runs/pg1")
    result.summary["J_r"], result.train_state
    result = agents.resume("runs/pg1", steps=640_000)       # continue, or extend the budget
    env, act = agents.load_policy("runs/pg1")               # agents.policy

One run trains *members* side by side in one compiled program (`jax.vmap`): `seeds` seeds for
each point of `grid`, a mapping of hyperparameters the learner reads from its train state
(`module.HYPERPARAMS`: cost limit, learning rates, multiplier gains) to lists of values. Seed i
uses PRNGKey(seed + i) whatever the grid point, so a member equals a one-member run with the
same seed and settings. With several local devices the members are split across them when they
divide evenly (`jax.shard_map`, one program); a single member's worlds are split (`VecEnv`).

The host loop calls one jitted chunk of K updates (a `lax.scan`) at a time. After each chunk it
appends the chunk's rows to metrics.csv (flushed), rewrites the checkpoint atomically and prints
a progress line. Ctrl-C or SIGTERM stops after the running chunk (a second one aborts at once);
every row written so far stays, and `resume` continues from the last checkpoint without
repeating finished updates. A finished run is evaluated (`agents.evaluate`, mean action,
`eval_episodes` episodes per member) into eval.json. The rows also go to TensorBoard event files
(on by default) and to Weights & Biases when asked (`wandb=True`; agents/livelog.py), chunk by
chunk. The run directory holds:

    config.yaml         env, env_overrides, algo, seeds, grid, members, chunk, algorithm config,
                        package versions: everything `load_policy` needs to rebuild the policy
    metrics.csv         one row per update and member (agents/runfiles.py)
    events.out.tfevents.*  TensorBoard event files: every metrics.csv column as a scalar per
                        member (agents/livelog.py; tensorboard=False: none)
    checkpoint.msgpack  train state of all members by field name (agents/checkpoint.py)
    summary.json        windowed training means and the evaluation, per setting
    eval.json           the evaluation of every member (J_r, J_c, rho_c with 95% intervals)
    curves.png          return and cost vs env steps, cost limit drawn
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import itertools
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import yaml

from agents import checkpoint, livelog, runfiles

DEFAULT_STEPS = 320_000
CHUNK_TARGET_STEPS = 30_000  # auto chunk: about this many env steps (all members) per chunk
EVAL_EPISODES = 100
CHECKPOINT = "checkpoint.msgpack"
# Train-state fields a checkpoint written before they existed may lack; resuming starts them at
# zero (the per-metric sums of the episodes running at the checkpoint then miss its earlier steps).
NEWER_FIELDS = (
    "env/episode/metrics/",
    "env/episode/done_metrics/",
    # Cost metrics of constraints added since (sigwalls, velocity): zero in the worlds saved.
    "env/state/metrics/cost_",
)

# The compiled learner of the last run of this process, reused by the next run with the same
# algorithm, config (up to total_steps), env object, members and chunk (a resumed or repeated run
# in one process). One entry only: every compiled XLA:CPU program holds a few thousand memory
# mappings until it is freed, and a process may hold at most `vm.max_map_count` (65,530 by
# default on Linux) before the next compile crashes.
_COMPILED: dict[tuple, tuple[Any, Any, Any]] = {}


def release_compiled() -> None:
    """Frees this process's compiled learner and JAX's caches of compiled programs.

    A sweep calls it between cells so that a long grid holds one cell's programs at a time.
    Jitted functions elsewhere in the process stay valid; they compile again on their next call.
    """
    import jax

    _COMPILED.clear()
    jax.clear_caches()
    gc.collect()


class UsageError(ValueError):
    """Bad input (names, settings, directories), reported before anything is compiled."""


@dataclasses.dataclass
class RunPlan:
    """Everything a run is: checked, resolved, and written to config.yaml."""

    env: str
    env_overrides: dict[str, Any]
    algo: str
    seed: int
    seeds: int
    grid: dict[str, list[float]]
    members: list[dict[str, Any]]
    chunk: int
    eval_episodes: int
    config: Any
    module: ModuleType
    out: Path

    def to_yaml(self) -> dict[str, Any]:
        from agents.common.config import to_dict

        return {
            "env": self.env,
            "env_overrides": self.env_overrides,
            "algo": self.algo,
            "seed": self.seed,
            "seeds": self.seeds,
            "grid": self.grid,
            "members": self.members,
            "chunk": self.chunk,
            "eval_episodes": self.eval_episodes,
            "config": to_dict(self.config),
            "versions": checkpoint.versions(),
        }


@dataclasses.dataclass
class RunResult:
    """What `run` and `resume` return. `status`: 0 finished, 1 stopped by an error (non-finite
    metrics), 130 stopped by a signal (resume it)."""

    out: Path
    status: int
    train_state: Any
    summary: dict[str, Any] | None
    evaluation: list[dict[str, Any]] | None


# ---------------------------------------------------------------------------------- planning


def setting_label(settings: Mapping[str, float]) -> str:
    """ "cost_limit=10,pi_lr=0.0003" ("" for no settings)."""
    return ",".join(f"{k}={v:g}" for k, v in settings.items())


def grid_points(grid: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """The cartesian product of `grid` in its key order ([{}] for an empty grid)."""
    keys = list(grid)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*grid.values())]


def members_of(seed: int, seeds: int, grid: Mapping[str, Sequence[float]]) -> list[dict]:
    """Members in train-state order: for each grid point, seeds seed .. seed + seeds - 1."""
    out = []
    for point in grid_points(grid):
        for i in range(seeds):
            out.append({
                "member": len(out),
                "seed": seed + i,
                "setting": setting_label(point),
                "settings": dict(point),
            })  # fmt: skip
    return out


def hyper_names(module: ModuleType) -> list[str]:
    """The hyperparameters algorithm `module` can vary between members of one run."""
    from agents.common.train import BASE_HYPERPARAMS

    return sorted({**BASE_HYPERPARAMS, **getattr(module, "HYPERPARAMS", {})})


def check_grid(module: ModuleType, algo: str, grid: Mapping[str, Any]) -> dict[str, list[float]]:
    """`grid` as {name: [float, ...]}; names the algorithm cannot vary, empty or non-numeric
    value lists raise UsageError."""
    valid = hyper_names(module)
    out = {}
    for name, values in grid.items():
        if name not in valid:
            raise UsageError(
                f"{algo} cannot vary {name!r} within one compiled run; vmappable settings of "
                f"{algo}: {', '.join(valid)}"
            )
        values = list(values) if isinstance(values, list | tuple) else [values]
        if not values:
            raise UsageError(f"grid {name}: no values")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise UsageError(f"grid {name}: {v!r} is not a finite number")
        out[name] = [float(v) for v in values]
    return out


def env_name_of(env: Any) -> str:
    """The registered name of `env` (a name or an Env object)."""
    return env if isinstance(env, str) else getattr(env, "name", type(env).__name__)


def env_label(name: str) -> str:
    """A directory-safe label of an environment name: a world file's own `name`, else the name
    (also for an unregistered `Env` object's name)."""
    import safejax

    if safejax.registry.is_world_file(name):
        return safejax.registry.display_name(name)
    return name


def check_env(name: str, env_overrides: Mapping[str, Any]) -> str:
    """The canonical name; an unknown name or override key raises UsageError (no compile)."""
    import safejax

    try:
        safejax.config_for(name, **env_overrides)
        return safejax.canonical_name(name)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from e


def plan(
    env: Any,
    algo: str,
    steps: int | None = None,
    seeds: int = 1,
    overrides: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    seed: int = 0,
    grid: Mapping[str, Sequence[float]] | None = None,
    env_overrides: Mapping[str, Any] | None = None,
    chunk: int | None = None,
    eval_episodes: int = EVAL_EPISODES,
) -> RunPlan:
    """Checks and resolves a run without building or compiling anything.

    `env`: a registered name ("PointGoal1") or an Env object (its `name` is recorded);
    `overrides`: algorithm config fields (configs/ALGO.yaml); `env_overrides`: `safejax.make`
    keywords; `steps`: env steps per member (default DEFAULT_STEPS).
    """
    from agents import get_algorithm
    from agents.common.config import load_config

    try:
        module = get_algorithm(algo)
    except ValueError as e:
        raise UsageError(str(e)) from e
    env_overrides = dict(env_overrides or {})
    name = env_name_of(env)
    if isinstance(env, str):
        name = check_env(env, env_overrides)
    overrides = dict(overrides or {})
    if steps is not None:
        if "total_steps" in overrides:
            raise UsageError("steps and the override total_steps both given")
        overrides["total_steps"] = steps
    overrides.setdefault("total_steps", DEFAULT_STEPS)
    try:
        cfg = load_config(module.Config, module.DEFAULT_CONFIG, overrides)
    except ValueError as e:
        raise UsageError(str(e)) from e
    grid = check_grid(module, algo, grid or {})
    if seeds < 1:
        raise UsageError(f"seeds must be >= 1, got {seeds}")
    if chunk is not None and chunk < 1:
        raise UsageError(f"chunk must be >= 1, got {chunk}")
    if eval_episodes < 0:
        raise UsageError(f"eval_episodes must be >= 0, got {eval_episodes}")
    members = members_of(seed, seeds, grid)
    chunk = chunk or max(1, round(CHUNK_TARGET_STEPS / (cfg.batch_size * len(members))))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(out_dir or f"runs/{env_label(name)}-{algo}-{stamp}")
    if (out / "metrics.csv").exists() or (out / CHECKPOINT).exists():
        raise UsageError(f"{out} already holds a run; resume it or choose another directory")
    return RunPlan(
        env=name,
        env_overrides=env_overrides,
        algo=algo,
        seed=seed,
        seeds=seeds,
        grid=grid,
        members=members,
        chunk=min(chunk, cfg.num_updates),
        eval_episodes=eval_episodes,
        config=cfg,
        module=module,
        out=out,
    )


def read_plan(run_dir: str | Path, steps: int | None = None) -> RunPlan:
    """The plan saved in `run_dir`/config.yaml (`steps` replaces its budget)."""
    from agents import get_algorithm
    from agents.common.config import from_dict

    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not path.exists():
        raise UsageError(f"{run_dir} is not a run directory: {path} does not exist")
    saved = yaml.safe_load(path.read_text())
    if "members" not in saved:
        raise UsageError(
            f"{path} was written by an older safejax (no members); its run cannot be resumed"
        )
    try:
        module = get_algorithm(saved["algo"])
        values = dict(saved["config"])
        # Config fields added after a run was written take the value its code had then
        # (`FORMER_VALUES`, e.g. CPO's `cpo_margin`: 0), never the current default.
        for key, value in getattr(module, "FORMER_VALUES", {}).items():
            values.setdefault(key, value)
        if steps is not None:
            values["total_steps"] = steps
        cfg = from_dict(module.Config, values, where=str(path))
    except ValueError as e:
        raise UsageError(str(e)) from e
    return RunPlan(
        env=saved["env"],
        env_overrides=dict(saved.get("env_overrides") or {}),
        algo=saved["algo"],
        seed=int(saved["seed"]),
        seeds=int(saved["seeds"]),
        grid={k: list(v) for k, v in (saved.get("grid") or {}).items()},
        members=list(saved["members"]),
        chunk=int(saved["chunk"]),
        eval_episodes=int(saved.get("eval_episodes", EVAL_EPISODES)),
        config=cfg,
        module=module,
        out=run_dir,
    )


def make_env(plan: RunPlan, env: Any = None) -> Any:
    """`env` if given (an Env object), else `safejax.make(plan.env, **plan.env_overrides)`."""
    if env is not None and not isinstance(env, str):
        return env
    import safejax

    try:
        return safejax.make(plan.env, **plan.env_overrides)
    except ValueError as e:
        raise UsageError(str(e)) from e


# ---------------------------------------------------------------------------------- devices


def placement(
    devices: Sequence[Any] | str | None, num_members: int, num_envs: int
) -> tuple[str, tuple[Any, ...]]:
    """How a run uses the devices: ("members", devs) splits members across devices,
    ("worlds", devs) splits every member's worlds (VecEnv), ("none", ()) keeps one device.
    Members that divide evenly go one share per device; otherwise each member's worlds are split
    (members then take turns on every device, `over_seeds`).

    `devices`: "auto" (every local device), None (one device) or a sequence of devices.
    """
    import jax

    if devices is None:
        return "none", ()
    if isinstance(devices, str):
        if devices != "auto":
            raise UsageError(f"devices must be 'auto', None or devices, got {devices!r}")
        devs = tuple(jax.local_devices())
    else:
        devs = tuple(devices)
    if len(devs) <= 1:
        return "none", ()
    if num_members % len(devs) == 0:
        return "members", devs
    if num_envs % len(devs) == 0:
        return "worlds", devs
    if isinstance(devices, str):
        return "none", ()
    raise UsageError(
        f"neither {num_members} members nor {num_envs} worlds divide across {len(devs)} devices"
    )


def _programs(plan: RunPlan, env: Any, devices: Any) -> tuple[Any, Any, Any, Any]:
    """(learner, init(keys, hparams), update over members, mode) for this plan and devices."""
    import jax
    from jax.sharding import Mesh, PartitionSpec

    from agents.common.train import over_seeds

    n = len(plan.members)
    if getattr(env, "host_physics", False):
        devices = None  # the MuJoCo backend's engine threads over the worlds on one device
    mode, devs = placement(devices, n, plan.config.num_envs)
    world_devices = devs if mode == "worlds" else None
    learner = plan.module.make_train(plan.config, env)
    if world_devices is None:
        learner.venv = type(learner.venv)(env, plan.config.num_envs, devices=None)
    init = jax.vmap(learner.init)
    if mode == "members":
        local = n // len(devs)
        update = over_seeds(learner.update, local)
        mesh = Mesh(np.array(devs), ("members",))
        spec = PartitionSpec("members")
        shard = lambda f, i: jax.shard_map(  # noqa: E731
            f, mesh=mesh, in_specs=i, out_specs=spec, check_vma=False
        )
        update = shard(update, spec)
        init = shard(init, (spec, spec))
    else:
        update = over_seeds(learner.update, n)
    return learner, init, update, mode


# ---------------------------------------------------------------------------------- the loop


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


# The constraint value a progress line shows, by the metric the learner logs: (column, label).
PROGRESS_CONSTRAINT = (("lambda", "lambda"), ("cpo_c", "c"))


def _progress(label: str, done: int, cfg: Any, last: list[dict], sps: float, left: float) -> str:
    """One progress line: steps, return, cost and the constraint's value (the multiplier lambda,
    or CPO's offset c; means over members), speed, time left."""

    def avg(col: str) -> str:
        vals = [r[col] for r in last if r.get(col, "") != ""]
        return f"{np.mean(vals):.2f}" if vals else "-"

    shown = [f"  {name} {avg(col)}" for col, name in PROGRESS_CONSTRAINT if last and col in last[0]]
    return (
        f"[{label}] {done * cfg.batch_size:,}/{cfg.num_updates * cfg.batch_size:,} steps"
        f"  J_r {avg('J_r')}  J_c {avg('J_c')}{''.join(shown)}"
        f"  {sps:,.0f} steps/s  left {_duration(left)}"
    )


def member_keys(plan: RunPlan) -> Any:
    import jax
    import jax.numpy as jnp

    return jax.vmap(jax.random.PRNGKey)(jnp.asarray([m["seed"] for m in plan.members]))


def check_logging(tensorboard: bool, wandb: bool, wandb_project: str | None) -> None:
    """UsageError when a requested log destination cannot be used (package missing, a project
    name without wandb); see agents/livelog.py."""
    try:
        livelog.check(tensorboard, wandb, wandb_project)
    except ValueError as e:
        raise UsageError(str(e)) from e


def execute(
    plan: RunPlan,
    env: Any = None,
    *,
    devices: Sequence[Any] | str | None = "auto",
    on_chunk: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = print,
    tensorboard: bool = True,
    wandb: bool = False,
    wandb_project: str | None = None,
) -> RunResult:
    """Runs (or resumes, when plan.out holds a checkpoint) `plan` to its planned updates.

    `tensorboard`: write TensorBoard event files into plan.out; `wandb`: log to Weights & Biases
    too (project `wandb_project`, default "safejax"; needs `pip install wandb`). A requested
    destination that cannot be used raises UsageError before anything is built.
    """
    import jax
    import jax.numpy as jnp

    check_logging(tensorboard, wandb, wandb_project)
    say = log or (lambda _: None)
    env = make_env(plan, env)
    cfg, out = plan.config, plan.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(plan.to_yaml(), sort_keys=False))
    n = len(plan.members)
    cache_key = (plan.algo, dataclasses.replace(cfg, total_steps=0), env, n, plan.chunk,
                 str(devices))  # fmt: skip
    learner, init, chunk = _COMPILED.get(cache_key, (None, None, None))
    update = None
    if learner is None:
        _COMPILED.clear()  # the previous run's program is freed before this one compiles
        learner, init, update, mode = _programs(plan, env, devices)
        init = jax.jit(init)
    keys = member_keys(plan)
    try:
        hp = learner.stack_hparams([m["settings"] for m in plan.members])
    except ValueError as e:
        raise UsageError(str(e)) from e
    ckpt, csv_path = out / CHECKPOINT, out / "metrics.csv"
    host = {"train_s": 0.0, "steps_run": 0, "compile_s": 0.0}
    t_start = time.perf_counter()
    if ckpt.exists():
        ts, meta = checkpoint.restore(ckpt, jax.eval_shape(init, keys, hp), NEWER_FIELDS)
        host.update(meta["host"])
        done = int(meta["update"])
        renamed = getattr(plan.module, "RENAMED_METRICS", None)
        runfiles.truncate_csv(csv_path, done, renamed)
        say(f"resuming {out} at update {done}/{cfg.num_updates}")
        if any(p.startswith("env/episode/") for p in meta.get("zero_filled", ())):
            say(
                "note: the checkpoint predates per-metric episode sums; the episodes running at "
                "its update count their ep_cost_* / ep_goals_met from the resume on"
            )
    else:
        if csv_path.exists():
            csv_path.unlink()  # rows without a checkpoint cannot be continued
        ts, done = init(keys, hp), 0

    steps_per_update = cfg.batch_size * n
    label = f"{plan.algo} {plan.env}"
    episode = getattr(env, "num_steps", 0)
    if cfg.rollout_len < episode and not cfg.stagger_starts:
        # (With staggered clocks some worlds finish an episode in every update.)
        say(
            f"note: rollout_len {cfg.rollout_len} < episode length {episode}: time-limited "
            f"episodes end about every {math.ceil(episode / cfg.rollout_len)} updates and J_r / "
            "J_c carry their last values in between"
        )
    stop = _Stop()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    rows: list[dict[str, Any]] = []
    logs = livelog.RunLogs(
        out, tensorboard=tensorboard, wandb=wandb, wandb_project=wandb_project,
        first_update=done, config=plan.to_yaml(),
    )  # fmt: skip
    failed = False
    try:
        if done < cfg.num_updates:
            # Before compiling, so that a W&B login or network problem shows at once; its time
            # is not compile time.
            t_open = time.perf_counter()
            logs.open((done + 1) * cfg.batch_size)  # env_steps of the first row to come
            t_start += time.perf_counter() - t_open
        if done < cfg.num_updates and chunk is None:
            from agents.common.train import make_chunk

            say(f"[{label}] compiling ...")
            chunk = jax.jit(make_chunk(update, plan.chunk), donate_argnums=0)
            chunk = chunk.lower(ts, jnp.int32(plan.chunk)).compile()
            _COMPILED[cache_key] = (learner, init, chunk)
        host["compile_s"] += time.perf_counter() - t_start
        tty = sys.stdout.isatty() and log is print
        while done < cfg.num_updates and stop.reason is None:
            k = min(plan.chunk, cfg.num_updates - done)
            t0 = time.perf_counter()
            ts, metrics = chunk(ts, jnp.int32(k))
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t0
            host["train_s"] += dt
            host["steps_run"] += k * steps_per_update
            sps = k * steps_per_update / dt
            rows = runfiles.rows_from_metrics(metrics, k, plan.members)
            for r in rows:
                r.update(sps=round(sps), time_s=round(host["train_s"], 2))
            runfiles.append_csv(csv_path, rows)
            logs.write(rows)
            bad = runfiles.nonfinite(rows)
            if bad:
                print(
                    f"\nerror: non-finite {', '.join(bad[:4])}; rows kept in {csv_path}; the "
                    f"checkpoint holds update {done}",
                    file=sys.stderr,
                )
                status = 1
                break
            done += k
            checkpoint.save(ckpt, ts, {"host": host, "update": done})
            updates_run = host["steps_run"] / steps_per_update
            left = (cfg.num_updates - done) * host["train_s"] / updates_run
            line = _progress(label, done, cfg, rows[-n:], sps, left)
            if tty:
                print("\r" + line + "\x1b[K", end="", flush=True)
            else:
                say(line)
            if on_chunk is not None:
                on_chunk(done)
        if tty:
            print()
    except KeyboardInterrupt:
        stop.reason = stop.reason or "SIGINT"
        say("\naborted")
    except BaseException:
        failed = True
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        logs.close(1 if failed else status or (130 if stop.reason else 0))
    evaluation = None
    if status == 0 and stop.reason is None and done >= cfg.num_updates and plan.eval_episodes:
        evaluation = evaluate_run(plan, env, ts, log=say)
    summary = write_summary(plan, host, evaluation, stopped_by=stop.reason)
    if stop.reason is not None:
        say(f"stopped at update {done}; continue with resume {out}")
        status = 130 if status == 0 else status
    elif status == 0 and summary is not None:
        shown = ("J_r", "J_c", "rho_c", "env_steps_per_s", "compile_s")
        say("done: " + ", ".join(f"{k} {summary[k]}" for k in shown) + f"; files in {out}")
    return RunResult(out=out, status=status, train_state=ts, summary=summary,
                     evaluation=evaluation)  # fmt: skip


def write_summary(
    plan: RunPlan,
    host: dict[str, Any] | None = None,
    evaluation: list[dict[str, Any]] | None = None,
    stopped_by: str | None = None,
) -> dict[str, Any] | None:
    """Rewrites summary.json and curves.png from the files of plan.out; `host` timings default
    to the checkpoint's, `evaluation` to eval.json's."""
    out = plan.out
    rows = runfiles.read_rows(out / "metrics.csv")
    if not rows:
        return None
    if host is None:
        _, meta = checkpoint.read(out / CHECKPOINT)
        host = meta["host"]
    if evaluation is None and (out / "eval.json").exists():
        evaluation = json.loads((out / "eval.json").read_text())["members"]
    run = {k: getattr(plan, k) for k in ("env", "env_overrides", "algo", "members", "config")}
    summary = runfiles.summarize(run, rows, host, evaluation)
    summary["stopped_by"] = stopped_by
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    runfiles.plot(rows, out / "curves.png", f"{plan.algo} {plan.env}", summary["cost_limit"])
    return summary


def evaluate_run(
    plan: RunPlan, env: Any, train_state: Any, *, log: Callable[[str], None] | None = print
) -> list[dict[str, Any]]:
    """Evaluates every member of a trained state on `env` (mean action) into eval.json."""
    from agents import policy

    say = log or (lambda _: None)
    params = policy.policy_params(checkpoint.to_state(train_state))
    say(f"[{plan.algo} {plan.env}] evaluating {plan.eval_episodes} episodes per member ...")
    result = policy.evaluate_params(
        plan, env, params, episodes=plan.eval_episodes, deterministic=True
    )
    policy.write_eval(plan.out / "eval.json", result)
    return result["members"]


# ---------------------------------------------------------------------------------- entry points


def run(
    env: Any,
    algo: str,
    steps: int | None = None,
    seeds: int = 1,
    overrides: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    seed: int = 0,
    grid: Mapping[str, Sequence[float]] | None = None,
    env_overrides: Mapping[str, Any] | None = None,
    chunk: int | None = None,
    eval_episodes: int = EVAL_EPISODES,
    devices: Sequence[Any] | str | None = "auto",
    on_chunk: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = print,
    tensorboard: bool = True,
    wandb: bool = False,
    wandb_project: str | None = None,
) -> RunResult:
    """Trains `algo` on `env` and writes the run directory `out_dir` (see the module docstring).

    Example (a notebook): `agents.run("PointGoal1", "ppo_lag", 200_000, seeds=2,
    overrides={"num_envs": 64}, grid={"cost_limit": [10, 25]}, out_dir="runs/demo")`.
    `tensorboard=False` writes no TensorBoard event files; `wandb=True` also logs to Weights &
    Biases (project `wandb_project`, default "safejax"; needs `pip install wandb`).
    Bad input raises UsageError before anything is compiled.
    """
    check_logging(tensorboard, wandb, wandb_project)
    p = plan(
        env, algo, steps, seeds, overrides, out_dir, seed=seed, grid=grid,
        env_overrides=env_overrides, chunk=chunk, eval_episodes=eval_episodes,
    )  # fmt: skip
    return execute(p, None if isinstance(env, str) else env, devices=devices,
                   on_chunk=on_chunk, log=log, tensorboard=tensorboard, wandb=wandb,
                   wandb_project=wandb_project)  # fmt: skip


def resume(
    run_dir: str | Path,
    steps: int | None = None,
    *,
    env: Any = None,
    devices: Sequence[Any] | str | None = "auto",
    on_chunk: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = print,
    tensorboard: bool = True,
    wandb: bool = False,
    wandb_project: str | None = None,
) -> RunResult:
    """Continues the run in `run_dir` from its checkpoint (`steps`: a new budget per member).
    `env`: the Env object for runs of an unregistered environment. The logging arguments are
    `run`'s; the TensorBoard scalars continue in a new event file in `run_dir`."""
    check_logging(tensorboard, wandb, wandb_project)
    p = read_plan(run_dir, steps)
    return execute(p, env, devices=devices, on_chunk=on_chunk, log=log, tensorboard=tensorboard,
                   wandb=wandb, wandb_project=wandb_project)  # fmt: skip
