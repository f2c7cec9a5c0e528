"""Trained policies from a run directory alone, and their evaluation.

    env, act = agents.load_policy("runs/pg1")             # member 0, mean action
    action = jax.jit(act)(obs)                            # obs (obs_size,) or (batch, obs_size)
    loaded = agents.load_run("runs/pg1", env="PointGoal2", env_overrides={"hazards_num": 12})

`load_run` reads config.yaml (environment, overrides, algorithm config, members) and the actor
parameters and observation statistics of every member from the checkpoint (by field name), builds
the environment, and checks that the policy fits it. It compiles nothing and builds no learner.
Another environment or shifted settings (`env`, `env_overrides`) evaluate a policy where it was
not trained (transfer), provided the observation and action sizes agree.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents import checkpoint
from agents.common.networks import Actor
from agents.common.normalization import RunningStats

Array = jax.Array


def policy_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a saved train state (leading member axis) that act: actor and obs stats."""
    stats = state["obs_stats"]
    return {
        "actor": jax.tree.map(jnp.asarray, state["actor"]),
        "obs_stats": RunningStats(
            count=jnp.asarray(stats["count"]),
            mean=jnp.asarray(stats["mean"]),
            m2=jnp.asarray(stats["m2"]),
        ),
    }


def make_act(config: Any, env: Any) -> Callable[[Any, Array, Array, bool], Array]:
    """`act(member_params, obs, key, deterministic) -> action` of the learners' Gaussian policy:
    observations normalized as in training, the mean action, or a sample when not
    deterministic."""
    from agents.evaluate import gaussian_act

    actor = Actor(config.hidden_sizes, env.action_size, config.log_std_init)
    return gaussian_act(actor.apply, config.obs_clip, config.normalize_obs)


@dataclasses.dataclass
class LoadedRun:
    """A run directory's policies: `params` has a leading member axis (`members` in order)."""

    run_dir: Path
    plan: Any  # agents.runner.RunPlan
    env: Any
    params: dict[str, Any]
    act: Callable[[Any, Array, Array, bool], Array]
    members: list[dict[str, Any]]
    update: int
    env_name: str  # the environment `env` was built as, and its settings
    env_overrides: dict[str, Any]

    def member_params(self, member: int) -> dict[str, Any]:
        if not 0 <= member < len(self.members):
            raise ValueError(f"member {member} out of range: this run has {len(self.members)}")
        return jax.tree.map(lambda x: x[member], self.params)


def load_run(
    run_dir: str | Path,
    env: Any = None,
    env_overrides: Mapping[str, Any] | None = None,
) -> LoadedRun:
    """The policies of `run_dir` and the environment to run them in.

    `env`: None (the run's own environment and overrides), another registered name, or an Env
    object (needed for runs of an unregistered environment); `env_overrides` replace or extend
    the run's own overrides (with a name or None). Raises runner.UsageError when the directory
    has no checkpoint or the policy does not fit the environment.
    """
    from agents import runner

    run_dir = Path(run_dir)
    plan = runner.read_plan(run_dir)
    ckpt = run_dir / runner.CHECKPOINT
    if not ckpt.exists():
        raise runner.UsageError(
            f"{run_dir} has no checkpoint ({runner.CHECKPOINT}): the run never finished a chunk"
        )
    state, meta = checkpoint.read(ckpt)
    if env is None or isinstance(env, str):
        name = env or plan.env
        overrides = dict(plan.env_overrides) if env is None else {}
        overrides.update(env_overrides or {})
        if env is not None:
            name = runner.check_env(name, overrides)
        env_obj = runner.make_env(dataclasses.replace(plan, env=name, env_overrides=overrides))
    else:
        if env_overrides:
            raise runner.UsageError("env_overrides need an environment name, not an Env object")
        env_obj = env
        name, overrides = getattr(env, "name", plan.env), dict(plan.env_overrides)
    params = policy_params(state)
    obs_size = int(np.shape(params["obs_stats"].mean)[-1])
    if obs_size != env_obj.observation_size:
        raise runner.UsageError(
            f"the policy of {run_dir} observes {obs_size} numbers, "
            f"{runner.env_name_of(env_obj)} gives {env_obj.observation_size}"
        )
    act = make_act(plan.config, env_obj)
    probe = jax.eval_shape(
        lambda p: act(p, jnp.zeros((1, obs_size)), jax.random.PRNGKey(0), True),
        jax.tree.map(lambda x: x[0], params),
    )
    if probe.shape[-1] != env_obj.action_size:
        raise runner.UsageError(
            f"the policy of {run_dir} acts with {probe.shape[-1]} numbers, "
            f"{runner.env_name_of(env_obj)} takes {env_obj.action_size}"
        )
    return LoadedRun(run_dir, plan, env_obj, params, act, plan.members, int(meta["update"]),
                     name, overrides)  # fmt: skip


def load_policy(
    run_dir: str | Path,
    member: int = 0,
    deterministic: bool = True,
    env: Any = None,
    env_overrides: Mapping[str, Any] | None = None,
) -> tuple[Any, Callable[..., Array]]:
    """(env, act) for one member of a run: `act(obs, key=None) -> action`, pure (jit it), for one
    observation or a batch; the mean action unless `deterministic` is False (then `key` is
    required)."""
    loaded = load_run(run_dir, env, env_overrides)
    params = loaded.member_params(member)
    act = loaded.act

    def act_fn(obs: Array, key: Array | None = None) -> Array:
        if not deterministic and key is None:
            raise ValueError("a stochastic policy needs a key: act(obs, key)")
        key = jax.random.PRNGKey(0) if key is None else key
        obs = jnp.asarray(obs, jnp.float32)
        batch = obs[None] if obs.ndim == 1 else obs
        action = act(params, batch, key, deterministic)
        return action[0] if obs.ndim == 1 else action

    return loaded.env, act_fn


# ---------------------------------------------------------------------------------- evaluation


def evaluate_params(
    plan: Any,
    env: Any,
    params: dict[str, Any],
    episodes: int,
    deterministic: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluates every member of `params` (leading member axis) for `episodes` episodes each
    (the same episode keys for every member); returns the content of eval.json."""
    from agents.evaluate import evaluate

    act = make_act(plan.config, env)
    t0 = time.perf_counter()
    members, timing = evaluate(
        env, act, params, jax.random.PRNGKey(seed), episodes=episodes, deterministic=deterministic
    )
    for info, m in zip(plan.members, members, strict=True):
        m.update(member=info["member"], seed=info["seed"], setting=info["setting"])
    return {
        "env": plan.env,
        "env_overrides": plan.env_overrides,
        "trained_on": None,
        "algo": plan.algo,
        "episodes": episodes,
        "deterministic": deterministic,
        "key": seed,
        "members": members,
        "timing": {**timing, "total_s": round(time.perf_counter() - t0, 2)},
    }


def write_eval(path: str | Path, result: dict[str, Any]) -> None:
    """Writes an evaluation atomically as JSON."""
    checkpoint.atomic_write(Path(path), (json.dumps(result, indent=2) + "\n").encode())


def evaluate_run_dir(
    run_dir: str | Path,
    episodes: int = 100,
    deterministic: bool = True,
    env: Any = None,
    env_overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Loads every member of `run_dir` and evaluates it (on another environment or settings when
    given); returns the eval.json content (`trained_on` names the training env when it differs)."""
    loaded = load_run(run_dir, env, env_overrides)
    name, overrides = loaded.env_name, loaded.env_overrides
    plan = dataclasses.replace(loaded.plan, env=name, env_overrides=overrides)
    result = evaluate_params(plan, loaded.env, loaded.params, episodes, deterministic, seed)
    result["update"] = loaded.update
    if (name, overrides) != (loaded.plan.env, loaded.plan.env_overrides):
        result["trained_on"] = {"env": loaded.plan.env, "env_overrides": loaded.plan.env_overrides}
    return result
