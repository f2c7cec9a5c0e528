"""Videos of a trained policy or of random actions: `python -m benchmarks.video`.

    python -m benchmarks.video --env PointGoal1 --out random.mp4            # uniform random actions
    python -m benchmarks.video --run RUN_DIR --episodes 2 --out policy.gif  # a run's policy
        [--member M] [--stochastic] [--camera fixedfar|fixednear|top|track] [--lidar]
        [--width 320 --height 240] [--steps N] [--fps F] [--seed S] [--env-set KEY=VALUE ...]

Each episode is one jitted rollout of one world (`safejax.render.rollout`), then drawn frame by
frame on the host by MuJoCo's renderer (`safejax.render.Renderer`) and streamed to the file: the
red warning sphere marks every step with cost. `--steps` shortens episodes (default: the
environment's episode length); an episode that ends earlier stops there. The frame rate defaults
to real time (one frame per env step). With --run the policy acts on the run's own environment
(or --env / --env-set for another one, as in benchmarks.eval), with its mean action unless
--stochastic.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from pathlib import Path

from benchmarks import cli


def _parser() -> argparse.ArgumentParser:
    from safejax.render import CAMERAS

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.video", description="Render episodes to .mp4 or .gif."
    )
    p.add_argument("--env", help="environment (required without --run)")
    p.add_argument("--run", help="a run directory whose policy acts (default: random actions)")
    p.add_argument("--member", type=int, default=0, help="member of the run (default 0)")
    p.add_argument("--stochastic", action="store_true", help="sample actions (default: mean)")
    p.add_argument("--episodes", type=int, default=1, help="episodes, one after another")
    p.add_argument("--steps", type=int, help="at most this many steps per episode")
    p.add_argument("--out", required=True, help="output file, .mp4 or .gif")
    p.add_argument("--camera", default="fixedfar", choices=CAMERAS)
    p.add_argument("--lidar", action="store_true", help="draw the lidar halos")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=float, help="frames per second (default: real time)")
    p.add_argument("--seed", type=int, default=0, help="key of the episodes' layouts and actions")
    p.add_argument(
        "--env-set", action="append", default=[], metavar="KEY=VALUE",
        help="environment setting (safejax.make keywords)",
    )  # fmt: skip
    return p


def _check(args: argparse.Namespace) -> None:
    from safejax.render import VIDEO_SUFFIXES

    if args.run is None and args.env is None:
        raise cli.UsageError("give --env NAME (random actions) or --run RUN_DIR (a policy)")
    if Path(args.out).suffix.lower() not in VIDEO_SUFFIXES:
        raise cli.UsageError(f"--out must end in {' or '.join(VIDEO_SUFFIXES)}, got {args.out}")
    for flag in ("episodes", "width", "height"):
        if getattr(args, flag) < 1:
            raise cli.UsageError(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if args.steps is not None and args.steps < 1:
        raise cli.UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.fps is not None and not args.fps > 0:
        raise cli.UsageError(f"--fps must be > 0, got {args.fps}")


def _env_and_policy(args: argparse.Namespace, env_overrides: dict):
    """(env, act) where act(obs, key) -> action, or None for random actions."""
    import safejax

    if args.run is None:
        try:
            return safejax.make(args.env, **env_overrides), None
        except (KeyError, ValueError, TypeError) as e:
            raise cli.UsageError(str(e).strip("'\"")) from e
    from agents import policy

    env, act = policy.load_policy(
        args.run, member=args.member, deterministic=not args.stochastic, env=args.env,
        env_overrides=env_overrides,
    )  # fmt: skip
    return env, (lambda obs, key: act(obs, key))


def main(argv: list[str] | None = None) -> int:
    import jax
    import numpy as np
    from tqdm import tqdm

    from agents import runner

    render_mod = importlib.import_module("safejax.render")  # `safejax.render` is the function
    args = _parser().parse_args(argv)
    try:
        _check(args)
        env_overrides = cli.parse_pairs(args.env_set, "--env-set")
        env, act = _env_and_policy(args, env_overrides)
        ok, why = render_mod.available()
        if not ok:
            raise cli.UsageError(f"cannot render: {why}")
    except (cli.UsageError, runner.UsageError) as e:
        return cli.fail(str(e))
    steps = env.num_steps if args.steps is None else args.steps
    fps = args.fps or render_mod.frame_rate(env)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    who = f"{args.run} member {args.member}" if args.run else "random actions"
    print(f"{env.name}, {who}: {args.episodes} episode(s) of up to {steps} steps -> {out}")
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.episodes)
    frames, t_render = 0, 0.0
    # imageio's ffmpeg writer starts its encoder with subprocess (fork + exec at once), which
    # Python warns about in any multi-threaded process such as JAX's.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    writer = render_mod.video_writer(str(out), fps)
    try:
        with render_mod.Renderer(env, args.width, args.height, args.camera, lidar=args.lidar) as r:
            for e in range(args.episodes):
                snaps, valid = render_mod.rollout_jit(env, keys[e], steps=steps, act=act)
                n = int(np.sum(jax.device_get(valid)))
                snaps = jax.device_get(jax.tree.map(lambda a, n=n: a[:n], snaps))
                bar = tqdm(range(n), desc=f"episode {e + 1}/{args.episodes}", unit="frame",
                           disable=None, leave=False)  # fmt: skip
                t0 = time.perf_counter()
                for i in bar:
                    writer.append_data(r.frame(jax.tree.map(lambda a, i=i: a[i], snaps)))
                t_render += time.perf_counter() - t0
                frames += n
    finally:
        writer.close()
    rate = frames / t_render if t_render > 0 else float("nan")
    print(f"written {out}: {frames} frames at {fps:g} fps, {args.width}x{args.height}, "
          f"rendered at {rate:.1f} frames/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
