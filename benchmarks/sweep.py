"""Train a grid of environments x algorithms x seeds x settings: a command line over
`agents.sweep`.

    python -m benchmarks.sweep --envs PointGoal1,CarGoal1 --algos ppo_lag,cpo --seeds 5 \\
        [--grid cost_limit=10,25,50] [--steps N] [--set KEY=VALUE] [--env-set KEY=VALUE] \\
        [--eval-episodes N] [--no-tensorboard] [--wandb [--wandb-project NAME]] --out DIR

Each (environment, algorithm) is one run directory DIR/ENV/ALGO whose seeds and vmappable grid
values train side by side in one compiled program, spread over every local device. Run the same
command again to resume: finished cells are skipped, interrupted ones continue. Every cell writes
TensorBoard event files beside its metrics.csv (`tensorboard --logdir DIR` shows all cells;
--no-tensorboard: none); --wandb logs each cell as a Weights & Biases run. Then
`python -m benchmarks.report DIR` compares them.

Several hosts: start one process per host with the same arguments plus
`--coordinator HOST:PORT --num-processes N --process-id I` (HOST:PORT of process 0; every
process must see the same DIR, e.g. a shared file system). `jax.distributed` connects them;
process I runs the cells i with i % N == I on its own devices. On clusters where JAX finds these
values itself (SLURM, TPU pods), `--distributed` alone initializes it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import cli


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    from agents.runner import EVAL_EPISODES

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep", description=__doc__.split("\n")[0]
    )
    p.add_argument("--envs", required=True, help="comma-separated environment names")
    p.add_argument("--algos", required=True, help="comma-separated algorithm names")
    p.add_argument("--seeds", type=int, default=3, help="seeds per cell and setting (default 3)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--steps", type=int, help="env steps per member (default: agents.runner's)")
    cli.add_override_args(p, grid=True)
    p.add_argument(
        "--eval-episodes",
        type=int,
        default=EVAL_EPISODES,
        help=f"episodes per member after training (default {EVAL_EPISODES})",
    )
    p.add_argument("--chunk", type=int, help="updates per jitted call (default: auto)")
    p.add_argument("--out", required=True, help="sweep directory")
    p.add_argument("--coordinator", help="HOST:PORT of process 0 (several processes)")
    p.add_argument("--num-processes", type=int, help="number of processes")
    p.add_argument("--process-id", type=int, help="this process's index")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="initialize jax.distributed from the cluster's environment",
    )
    cli.add_logging_args(p)
    return p


def _init_distributed(args: argparse.Namespace) -> None:
    given = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in given) and not all(v is not None for v in given):
        raise cli.UsageError("--coordinator, --num-processes and --process-id go together")
    if args.coordinator is None and not args.distributed:
        return
    import jax

    if args.coordinator is not None:
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    else:
        jax.distributed.initialize()


def main(argv: list[str] | None = None, make_env: Callable[[str], Any] | None = None) -> int:
    """CLI entry point; `make_env(name)` replaces `safejax.make` (tests)."""
    args = _parser().parse_args(argv)
    try:
        grid = cli.parse_grid(args.grid)
        overrides = cli.parse_pairs(args.set, "--set")
        env_overrides = cli.parse_pairs(args.env_set, "--env-set")
        logging = cli.logging_kwargs(args)
        # jax.distributed must connect before the process's first JAX computation; every input
        # is still checked before anything is compiled.
        _init_distributed(args)
    except cli.UsageError as e:
        return cli.fail(str(e))
    from agents import runner, sweep

    try:
        runner.check_logging(**logging)
        sweep.plan_cells(
            _names(args.envs), _names(args.algos), args.seeds, args.out, seed=args.seed,
            grid=grid, steps=args.steps, overrides=overrides, env_overrides=env_overrides,
            eval_episodes=args.eval_episodes, chunk=args.chunk,
        )  # fmt: skip
        result = sweep.sweep(
            _names(args.envs), _names(args.algos), args.seeds, args.out, seed=args.seed,
            grid=grid, steps=args.steps, overrides=overrides, env_overrides=env_overrides,
            eval_episodes=args.eval_episodes, chunk=args.chunk, make_env=make_env, **logging,
        )  # fmt: skip
    except (cli.UsageError, runner.UsageError) as e:
        return cli.fail(str(e))
    return result.status


if __name__ == "__main__":
    sys.exit(main())
