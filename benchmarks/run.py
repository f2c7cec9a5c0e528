"""Train one algorithm on one environment: a command line over `agents.run`.

    python -m benchmarks.run --env NAME --algo ALGO [--steps N] [--seeds N] [--seed S]
        [--num-envs N] [--set KEY=VALUE ...] [--env-set KEY=VALUE ...] [--grid KEY=V1,V2 ...]
        [--eval-episodes N] [--out DIR] [--chunk K] [--no-tensorboard]
        [--wandb [--wandb-project NAME]]
    python -m benchmarks.run --resume DIR [--steps N] [--no-tensorboard] [--wandb ...]

Without --steps the run is CPU-sized (agents.runner.DEFAULT_STEPS env steps per member, a few
minutes on two cores); the Safety Gym budget is --steps 10000000. Seeds, and the values of
--grid settings, run side by side in one process (`jax.vmap`); seed i uses PRNGKey(seed + i), so
it matches a one-seed run with --seed seed+i. Ctrl-C or SIGTERM stops after the running chunk
(again to abort); --resume DIR continues. The run directory's files are described in
agents/runner.py (config.yaml, metrics.csv, TensorBoard event files, checkpoint.msgpack,
summary.json, eval.json, curves.png); `tensorboard --logdir DIR` shows the training curves while
it runs; --wandb logs them to Weights & Biases too. `python -m benchmarks.eval DIR` evaluates it
again, on other settings too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import cli


def _parser() -> argparse.ArgumentParser:
    from agents.runner import DEFAULT_STEPS, EVAL_EPISODES

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Train a constrained RL algorithm on a safejax environment.",
    )
    p.add_argument("--env", help="environment name, e.g. PointGoal1")
    p.add_argument("--algo", help="algorithm: ppo, ppo_lag, pid_lag, trpo, trpo_lag, cpo")
    p.add_argument("--steps", type=int, help=f"env steps per member (default {DEFAULT_STEPS:,})")
    p.add_argument("--seeds", type=int, default=1, help="seeds run side by side (vmap)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--num-envs", type=int, help="worlds per member (config num_envs)")
    cli.add_override_args(p, grid=True)
    p.add_argument(
        "--eval-episodes", type=int, default=EVAL_EPISODES,
        help=f"episodes per member evaluated after training (default {EVAL_EPISODES}; 0: none)",
    )  # fmt: skip
    p.add_argument("--out", help="output directory (default runs/ENV-ALGO-TIME)")
    p.add_argument("--chunk", type=int, help="updates per jitted call (default: auto)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR")
    cli.add_logging_args(p)
    return p


def main(
    argv: list[str] | None = None,
    make_env: Callable[[str], Any] | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """CLI entry point. `make_env(name)` replaces `safejax.make` (tests); `on_chunk(updates_done)`
    is called after each chunk."""
    from agents import runner

    args = _parser().parse_args(argv)
    try:
        logging = cli.logging_kwargs(args)
        if args.resume:
            given = [f"--{k.replace('_', '-')}" for k in ("env", "algo", "num_envs", "out",
                     "chunk") if getattr(args, k) is not None]  # fmt: skip
            given += [f for f, v in (("--set", args.set), ("--env-set", args.env_set),
                      ("--grid", args.grid)) if v]  # fmt: skip
            given += ["--seeds"] if args.seeds != 1 else []
            given += ["--seed"] if args.seed != 0 else []
            if given:
                raise cli.UsageError(
                    "--resume takes only --steps and the logging flags; got also "
                    + ", ".join(given)
                )
            runner.check_logging(**logging)
            plan = runner.read_plan(args.resume, args.steps)
            env = make_env(plan.env) if make_env else None
            return runner.execute(plan, env, on_chunk=on_chunk, **logging).status
        if not args.env or not args.algo:
            raise cli.UsageError("--env and --algo are required (or --resume DIR)")
        overrides = cli.parse_pairs(args.set, "--set")
        if args.num_envs is not None:
            if "num_envs" in overrides:
                raise cli.UsageError("--num-envs and --set num_envs=... both given")
            overrides["num_envs"] = args.num_envs
        runner.check_logging(**logging)
        plan = runner.plan(
            args.env, args.algo, args.steps, args.seeds, overrides, args.out, seed=args.seed,
            grid=cli.parse_grid(args.grid), env_overrides=cli.parse_pairs(args.env_set,
            "--env-set"), chunk=args.chunk, eval_episodes=args.eval_episodes,
        )  # fmt: skip
        env = make_env(plan.env) if make_env else None
        return runner.execute(plan, env, on_chunk=on_chunk, **logging).status
    except (cli.UsageError, runner.UsageError) as e:
        return cli.fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
