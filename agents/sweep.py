"""Sweeps: environments x algorithms x seeds x settings, resumable, one compiled program a cell.

    agents.sweep(["PointGoal1", "CarGoal1"], ["ppo_lag", "cpo"], seeds=5, out_dir="sweeps/a",
                 grid={"cost_limit": [10, 25, 50]}, steps=1_000_000)

A *cell* is one (environment, algorithm, static setting) and one run directory,
`OUT/ENV/ALGO[/SETTING]`. Inside a cell every seed and every value of the grid's vmappable
settings (`module.HYPERPARAMS`: cost limit, learning rates, multiplier gains) train side by side
in one compiled program (`agents.runner`); grid settings the algorithm can only change by
recompiling (`num_envs`, `hidden_sizes`, ...) make separate cells; settings that do not change
what an algorithm trains (`TRAINING_INERT`, the cost limit of unconstrained PPO and TRPO) or that
it does not have are dropped for it, and the plan says so.

Resumable: run the same sweep again and finished cells are skipped, an interrupted cell continues
from its checkpoint, a failed cell is tried again. A cell that raises is recorded (its
`error.txt`) and the others go on. With several processes (`jax.distributed`, one per host, or
`process_index` / `process_count` given), process p runs the cells i with i % count == p, each on
its own local devices; cells share nothing, so no collective runs between hosts. OUT/sweep.yaml
records the sweep; a rerun with different settings into the same OUT is refused.

Before each cell the sweep frees the compiled programs of the one before
(`runner.release_compiled`): a process holds one cell's programs at a time, however long the grid.
"""

from __future__ import annotations

import dataclasses
import itertools
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from agents import runner
from agents.runner import UsageError

SPEC = "sweep.yaml"
ERROR = "error.txt"


@dataclasses.dataclass
class Cell:
    """One run directory of a sweep and its plan."""

    env: str
    algo: str
    static: dict[str, Any]
    plan: runner.RunPlan
    dropped: list[str]

    @property
    def name(self) -> str:
        label = runner.setting_label(self.static) if self.static else ""
        return "/".join(x for x in (self.env, self.algo, label) if x)

    def state(self) -> str:
        """ "done", "failed", "partial" (a checkpoint to resume) or "pending"."""
        out = self.plan.out
        summary = out / "summary.json"
        if summary.exists():
            import json

            s = json.loads(summary.read_text())
            evaluated = not self.plan.eval_episodes or (out / "eval.json").exists()
            if s.get("complete") and evaluated:
                return "done"
        if (out / ERROR).exists():
            return "failed"
        return "partial" if (out / runner.CHECKPOINT).exists() else "pending"


@dataclasses.dataclass
class SweepResult:
    out: Path
    cells: list[Cell]
    states: dict[str, str]  # cell name -> done / failed / skipped-by-process / interrupted
    status: int  # 0 all of this process's cells done, 1 some failed, 130 interrupted


def _split_grid(
    module: Any, algo: str, grid: Mapping[str, list[Any]]
) -> tuple[dict[str, list[float]], dict[str, list[Any]], list[str]]:
    """(vmapped, static, dropped) parts of `grid` for one algorithm."""
    fields = {f.name for f in dataclasses.fields(module.Config)}
    hyper = set(runner.hyper_names(module))
    inert = set(getattr(module, "TRAINING_INERT", ()))
    vmapped, static, dropped = {}, {}, []
    for name, values in grid.items():
        if name in inert or name not in fields:
            dropped.append(name)
        elif name in hyper:
            vmapped[name] = values
        else:
            static[name] = values
    return vmapped, static, dropped


def plan_cells(
    envs: Sequence[str],
    algos: Sequence[str],
    seeds: int,
    out_dir: str | Path,
    *,
    seed: int = 0,
    grid: Mapping[str, Sequence[Any]] | None = None,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    env_overrides: Mapping[str, Any] | None = None,
    eval_episodes: int = runner.EVAL_EPISODES,
    chunk: int | None = None,
) -> tuple[dict[str, Any], list[Cell]]:
    """The sweep's spec (for sweep.yaml) and its cells, every input checked; compiles nothing.

    Unknown environments, algorithms or setting names, and values an algorithm rejects, raise
    UsageError naming them."""
    from agents import get_algorithm

    if not envs or not algos:
        raise UsageError("a sweep needs at least one environment and one algorithm")
    out = Path(out_dir)
    env_overrides = dict(env_overrides or {})
    envs = [runner.check_env(e, env_overrides) for e in envs]
    modules = {}
    for algo in algos:
        try:
            modules[algo] = get_algorithm(algo)
        except ValueError as e:
            raise UsageError(str(e)) from e
    grid = {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in (grid or {}).items()}
    overrides = dict(overrides or {})
    known = set().union(*({f.name for f in dataclasses.fields(m.Config)} for m in modules.values()))
    for what, keys in (("--grid", grid), ("--set", overrides)):
        unknown = sorted(set(keys) - known)
        if unknown:
            raise UsageError(
                f"unknown {what} setting(s) {', '.join(unknown)} for {', '.join(algos)}; "
                f"valid: {', '.join(sorted(known))}"
            )
    both = sorted(set(grid) & set(overrides))
    if both:
        raise UsageError(f"{', '.join(both)} given both in the grid and as an override")
    spec = {
        "envs": list(envs),
        "algos": list(algos),
        "seeds": seeds,
        "seed": seed,
        "grid": grid,
        "steps": steps,
        "overrides": overrides,
        "env_overrides": env_overrides,
        "eval_episodes": eval_episodes,
        "chunk": chunk,
    }
    labels: dict[str, str] = {}
    for env in envs:
        label = runner.env_label(env)
        if labels.setdefault(label, env) != env:
            raise runner.UsageError(
                f"{labels[label]!r} and {env!r} are both named {label!r}: their cells would "
                "share a directory"
            )
    cells = []
    for env, algo in itertools.product(envs, algos):
        module = modules[algo]
        vmapped, static, dropped = _split_grid(module, algo, grid)
        fields = {f.name for f in dataclasses.fields(module.Config)}
        own = {k: v for k, v in overrides.items() if k in fields}
        for point in runner.grid_points(static):
            cell_dir = out / runner.env_label(env) / algo
            if point:
                cell_dir = cell_dir / runner.setting_label(point)
            existing = (cell_dir / "config.yaml").exists()
            try:
                if existing:
                    plan = runner.read_plan(cell_dir)
                else:
                    plan = runner.plan(
                        env, algo, steps, seeds, {**own, **point}, cell_dir, seed=seed,
                        grid=vmapped, env_overrides=env_overrides, chunk=chunk,
                        eval_episodes=eval_episodes,
                    )  # fmt: skip
            except UsageError as e:
                raise UsageError(f"{env} {algo} {runner.setting_label(point)}: {e}") from e
            cells.append(Cell(env, algo, dict(point), plan, dropped))
    if not cells:
        raise UsageError("the sweep has no cells")
    return spec, cells


def _check_spec(out: Path, spec: dict[str, Any]) -> None:
    path = out / SPEC
    if path.exists():
        saved = yaml.safe_load(path.read_text())
        if saved != yaml.safe_load(yaml.safe_dump(spec)):
            diff = sorted(k for k in set(saved) | set(spec) if saved.get(k) != spec.get(k))
            raise UsageError(
                f"{out} holds another sweep (differs in {', '.join(diff)}); "
                "rerun it with the same settings to resume it, or choose another directory"
            )


def distributed_index() -> tuple[int, int]:
    """(process_index, process_count) of this process (0, 1 without jax.distributed)."""
    import jax

    return jax.process_index(), jax.process_count()


def sweep(
    envs: Sequence[str],
    algos: Sequence[str],
    seeds: int = 1,
    out_dir: str | Path = "sweeps/sweep",
    *,
    seed: int = 0,
    grid: Mapping[str, Sequence[Any]] | None = None,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    env_overrides: Mapping[str, Any] | None = None,
    eval_episodes: int = runner.EVAL_EPISODES,
    chunk: int | None = None,
    devices: Any = "auto",
    make_env: Callable[[str], Any] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    log: Callable[[str], None] | None = print,
    tensorboard: bool = True,
    wandb: bool = False,
    wandb_project: str | None = None,
) -> SweepResult:
    """Runs (or resumes) every cell of the sweep that belongs to this process; see the module
    docstring. `make_env(name)` replaces `safejax.make` (tests, custom environments).

    `tensorboard`, `wandb`, `wandb_project`: each cell's live logs, as `agents.run`'s (one
    TensorBoard log directory and one W&B run per cell); they are not part of the sweep's
    settings, so a rerun may change them. A destination that cannot be used raises UsageError
    before any cell starts."""
    runner.check_logging(tensorboard, wandb, wandb_project)
    say = log or (lambda _: None)
    spec, cells = plan_cells(
        envs, algos, seeds, out_dir, seed=seed, grid=grid, steps=steps, overrides=overrides,
        env_overrides=env_overrides, eval_episodes=eval_episodes, chunk=chunk,
    )  # fmt: skip
    out = Path(out_dir)
    _check_spec(out, spec)
    if process_index is None or process_count is None:
        process_index, process_count = distributed_index()
    if not 0 <= process_index < process_count:
        raise UsageError(f"process index {process_index} not in [0, {process_count})")
    out.mkdir(parents=True, exist_ok=True)
    if process_index == 0:
        runner.checkpoint.atomic_write(out / SPEC, yaml.safe_dump(spec, sort_keys=False).encode())
    for cell in cells:
        if cell.dropped:
            say(f"{cell.name}: setting(s) {', '.join(cell.dropped)} do not apply to {cell.algo}")
    states: dict[str, str] = {}
    status = 0
    mine = [c for i, c in enumerate(cells) if i % process_count == process_index]
    say(f"sweep {out}: {len(cells)} cells, {len(mine)} on process {process_index}")
    for i, cell in enumerate(cells):
        if i % process_count != process_index:
            states[cell.name] = "other process"
            continue
        state = cell.state()
        if state == "done":
            say(f"{cell.name}: done, skipped")
            states[cell.name] = "done"
            continue
        (cell.plan.out / ERROR).unlink(missing_ok=True)
        say(f"{cell.name}: {'resuming' if state == 'partial' else 'starting'}")
        runner.release_compiled()  # one cell's programs at a time (memory mappings, RAM)
        try:
            env = make_env(cell.env) if make_env else None
            result = runner.execute(
                cell.plan, env, devices=devices, log=log, tensorboard=tensorboard, wandb=wandb,
                wandb_project=wandb_project,
            )  # fmt: skip
        except Exception as e:  # one cell's crash must not stop the others
            cell.plan.out.mkdir(parents=True, exist_ok=True)
            (cell.plan.out / ERROR).write_text(traceback.format_exc())
            say(f"{cell.name}: FAILED ({type(e).__name__}: {e}); see {cell.plan.out / ERROR}")
            states[cell.name] = "failed"
            status = 1
            continue
        if result.status == 130:
            states[cell.name] = "interrupted"
            say(f"sweep interrupted in {cell.name}; run the same command again to resume")
            return SweepResult(out, cells, states, 130)
        if result.status != 0:
            (cell.plan.out / ERROR).write_text(f"training stopped with status {result.status}\n")
            states[cell.name] = "failed"
            status = 1
            continue
        states[cell.name] = "done"
    failed = [n for n, s in states.items() if s == "failed"]
    say(f"sweep {out}: " + ", ".join(f"{n} {s}" for n, s in states.items()))
    if failed:
        say(f"{len(failed)} cell(s) failed: {', '.join(failed)}")
    return SweepResult(out, cells, states, status)
