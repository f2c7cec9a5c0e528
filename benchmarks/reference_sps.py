"""The reference implementation's throughput (Safety-Gymnasium), the yardstick of
docs/results/SPS.md: run it with the reference's own interpreter, not the project's:

    ~/ref-venv/bin/python benchmarks/reference_sps.py [--envs PointGoal1,CarPush2] [--steps 900]

(the reference needs Python 3.10 and `safety-gymnasium==1.0.0`; it is not a dependency of this
project). For each environment it times `--steps` uniform random steps
inside one episode, leaving its resets out ("stepping"), and one whole episode from its reset
(uniform random actions until it ends, 1000 steps; each reset rebuilds the model from XML, about a
second: "episodes", what a training loop sees, and what `benchmarks.sps` measures of safejax,
whose worlds reset within its timed steps). Each is timed in one process and in `--procs`
processes at the same time (one world each, as a vector of worlds runs them; the slowest sets the
pace). One JSON line per environment: every rate (env-steps/s) and the best of each kind.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

SUITE = [
    f"{r}{t}{lv}"
    for r in ("Point", "Car", "Doggo")
    for t in ("Goal", "Button", "Push")
    for lv in (0, 1, 2)
]


def _rates(name: str, steps: int, seed: int, start=None) -> tuple[float, float]:
    """(stepping, episodes) env-steps/s of one world."""
    import numpy as np
    import safety_gymnasium

    env = safety_gymnasium.make(f"Safety{name}-v0")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    draw = lambda: rng.uniform(low, high)  # noqa: E731
    for _ in range(10):  # warm up
        env.step(draw())
    actions = [draw() for _ in range(steps)]
    if start is not None:
        start.wait()
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
    stepping = steps / (time.perf_counter() - t0)
    if start is not None:
        start.wait()
    t0, n, done = time.perf_counter(), 0, False
    env.reset(seed=seed + 1)
    while not done:
        _, _, _, terminated, truncated, _ = env.step(draw())
        n += 1
        done = terminated or truncated
    return stepping, n / (time.perf_counter() - t0)


def _worker(name, steps, seed, start, out):
    out.put(_rates(name, steps, seed, start))


def measure(name: str, steps: int, procs: int) -> dict:
    one = _rates(name, steps, 0)
    ctx = mp.get_context("spawn")
    start, queue = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(name, steps, i, start, queue)) for i in range(procs)
    ]
    for w in workers:
        w.start()
    rates = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    # The processes start each part together; their slowest sets the pace of a vector of worlds.
    many = [procs * min(r[k] for r in rates) for k in (0, 1)]
    out = {"env": name}
    for k, kind in enumerate(("stepping", "episodes")):
        out[f"{kind}_1"] = round(one[k])
        out[f"{kind}_{procs}"] = round(many[k])
        out[f"{kind}_best"] = round(max(one[k], many[k]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", default=",".join(SUITE))
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--procs", type=int, default=2)
    a = p.parse_args()
    for name in [n for n in a.envs.split(",") if n]:
        print(json.dumps(measure(name, a.steps, a.procs)), flush=True)


if __name__ == "__main__":
    main()
