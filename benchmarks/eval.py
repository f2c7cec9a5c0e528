"""Evaluate a trained run: `python -m benchmarks.eval RUN_DIR`, a command line over
`agents.policy.evaluate_run_dir`.

    python -m benchmarks.eval RUN_DIR [--episodes 100] [--deterministic | --stochastic]
        [--env OTHER_ENV] [--env-set KEY=VALUE ...] [--seed S] [--out FILE]

Runs `--episodes` jitted, vmapped episodes of every member of the run (the mean action unless
--stochastic; the same episode layouts for every member) and writes J_r, J_c and rho_c with 95%
confidence intervals over episodes, each constraint's own cost, goals met and episode lengths.
On the run's own environment the result goes to RUN_DIR/eval.json and into summary.json;
with --env or --env-set (a policy on a world it was not trained on) to
RUN_DIR/eval-ENV[-SETTINGS].json, unless --out names the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.eval", description="Evaluate the policies of a run directory."
    )
    p.add_argument("run_dir", help="a run directory (python -m benchmarks.run's --out)")
    p.add_argument("--episodes", type=int, default=100, help="episodes per member (default 100)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", action="store_true", help="mean action (the default)")
    mode.add_argument("--stochastic", action="store_true", help="sample actions")
    p.add_argument("--env", help="evaluate on another environment (transfer)")
    p.add_argument(
        "--env-set", action="append", default=[], metavar="KEY=VALUE",
        help="environment setting for the evaluation (safejax.make keywords)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="key of the episode layouts")
    p.add_argument("--out", help="output file (default: see above)")
    return p


def _default_out(run_dir: Path, result: dict) -> Path:
    if result["trained_on"] is None:
        return run_dir / "eval.json"
    tag = result["env"]
    if result["env_overrides"]:
        tag += "-" + ",".join(f"{k}={v}" for k, v in sorted(result["env_overrides"].items()))
    safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in tag)
    return run_dir / f"eval-{safe}.json"


def _table(result: dict) -> str:
    lines = [f"{result['env']}: {result['episodes']} episodes per member, "
             f"{'mean action' if result['deterministic'] else 'sampled actions'}"]  # fmt: skip
    for m in result["members"]:
        parts = []
        for k in ("J_r", "J_c", "rho_c"):
            ci = m[k]["ci95"]
            parts.append(f"{k} {m[k]['mean']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
        label = (
            f"member {m['member']} (seed {m['seed']}{', ' + m['setting'] if m['setting'] else ''})"
        )
        lines.append(f"  {label}: " + "  ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from agents import policy, runner

    args = _parser().parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        if args.episodes < 1:
            raise cli.UsageError(f"--episodes must be >= 1, got {args.episodes}")
        env_overrides = cli.parse_pairs(args.env_set, "--env-set")
        result = policy.evaluate_run_dir(
            run_dir, args.episodes, not args.stochastic, args.env, env_overrides, args.seed
        )
    except (cli.UsageError, runner.UsageError) as e:
        return cli.fail(str(e))
    out = Path(args.out) if args.out else _default_out(run_dir, result)
    policy.write_eval(out, result)
    if out == run_dir / "eval.json":
        runner.write_summary(runner.read_plan(run_dir), evaluation=result["members"])
    print(_table(result))
    t = result["timing"]
    print(f"compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s "
          f"({t['env_steps_per_s']:,.0f} env-steps/s); written {out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
