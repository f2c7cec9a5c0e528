"""Environment throughput: `python -m benchmarks.sps --env PointGoal1 --num-envs 2048`.

Steps `num_envs` worlds with uniform random actions through `VecEnv` (auto-reset included) in
jitted chunks of `--chunk` steps (a `lax.scan`), and prints the compile time and the median
env-steps/s over `--repeats` timed chunks. `--json` prints one JSON line instead; `--all` runs
every registered environment; `--markdown` ends with a Markdown table of every row, beside the
project's throughput targets where it has one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import jax

import safejax

# The project's env-steps/s targets for `benchmarks.sps` on a 2-core CPU (README, issues 2-4).
TARGETS = {
    "PointGoal1": 10_000,
    "PointGoal2": 5_000,
    "CarGoal1": 5_000,
    "DoggoGoal1": 2_000,
    "PointButton1": 5_000,
    "PointPush1": 5_000,
    "CarPush2": 3_000,
}


def markdown_table(rows: list[dict]) -> str:
    """One Markdown row per measured environment, with the target and whether it was met."""
    lines = [
        "| env | worlds | devices | compile (s) | env-steps/s (median) | per CPU-second | target "
        "| met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = TARGETS.get(r["env"])
        met = "" if target is None else ("yes" if r["env_steps_per_s"] >= target else "no")
        lines.append(
            f"| {r['env']} | {r['num_envs']} | {r.get('devices', 1)} | {r['compile_s']:.0f} "
            f"| {r['env_steps_per_s']:,} "
            f"| {r['env_steps_per_cpu_s']:,} | {'' if target is None else f'{target:,}'} | {met} |"
        )
    return "\n".join(lines)


def measure(
    name: str,
    num_envs: int,
    chunk: int,
    repeats: int,
    overrides: dict,
    shard: bool = True,
    stagger: bool = False,
) -> dict:
    env = safejax.make(name, **overrides)
    venv = safejax.VecEnv(env, num_envs, devices="auto" if shard else None)

    def run_chunk(vstate, key):
        def body(carry, k):
            vs = carry
            action = jax.random.uniform(k, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
            vs = venv.step(vs, action)
            return vs, vs.state.cost.sum()

        vstate, costs = jax.lax.scan(body, vstate, jax.random.split(key, chunk))
        return vstate, costs.sum()

    run_chunk = jax.jit(run_chunk)
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    vstate = jax.jit(venv.reset)(key)
    if stagger:
        # Clocks spread as the learners start them: the timed steps include the resets' share.
        vstate = jax.jit(safejax.stagger_clocks, static_argnums=1)(vstate, env.num_steps)
    vstate, c = run_chunk(vstate, key)
    jax.block_until_ready(c)
    compile_s = time.perf_counter() - t0
    rates, cpu_rates = [], []
    for i in range(repeats):
        t, tc = time.perf_counter(), time.process_time()
        vstate, c = run_chunk(vstate, jax.random.fold_in(key, i + 1))
        jax.block_until_ready(c)
        rates.append(num_envs * chunk / (time.perf_counter() - t))
        cpu_rates.append(num_envs * chunk / (time.process_time() - tc))
    return {
        "env": name,
        "num_envs": num_envs,
        "chunk": chunk,
        "repeats": repeats,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        # Devices the worlds were split across (safejax.VecEnv; 1: not split).
        "devices": max(1, len(venv.devices)),
        "compile_s": round(compile_s, 2),
        "env_steps_per_s": round(statistics.median(rates)),
        "env_steps_per_s_all": [round(r) for r in rates],
        # Per CPU-second of this process: less sensitive to other load on the machine.
        "env_steps_per_cpu_s": round(statistics.median(cpu_rates)),
        "overrides": overrides,
        "stagger": stagger,
    }


def parse_overrides(items: list[str]) -> dict:
    """`key=value` strings to a dict; values parsed as JSON where they look like numbers,
    booleans or lists."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="PointGoal1")
    p.add_argument("--all", action="store_true", help="every registered environment")
    p.add_argument("--num-envs", type=int, default=2048)
    p.add_argument("--chunk", type=int, default=50, help="env steps per timed chunk")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--set", nargs="*", default=[], help="EnvConfig overrides key=value")
    p.add_argument(
        "--no-shard", action="store_true", help="all worlds on one device (VecEnv devices=None)"
    )
    p.add_argument(
        "--stagger",
        action="store_true",
        help="episode clocks spread over an episode, so the timed steps include resets",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--markdown", action="store_true", help="end with a Markdown table")
    a = p.parse_args(argv)
    overrides = parse_overrides(a.set)
    names = safejax.registered_names() if a.all else [safejax.registry.canonical_name(a.env)]
    safejax.registry.config_for(names[0], **overrides)  # bad keys fail before any compile
    rows = []
    for name in names:
        r = measure(
            name, a.num_envs, a.chunk, a.repeats, overrides, shard=not a.no_shard, stagger=a.stagger
        )
        rows.append(r)
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            print(
                f"{r['env']:<14} num_envs={r['num_envs']:<6} backend={r['backend']:<4} "
                f"devices={r['devices']} "
                f"compile {r['compile_s']:6.1f} s   {r['env_steps_per_s']:>9,} env-steps/s "
                f"(median of {a.repeats} chunks of {a.chunk} steps; "
                f"{r['env_steps_per_cpu_s']:,} per CPU-second)",
                flush=True,
            )
    if a.markdown:
        print(markdown_table(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
