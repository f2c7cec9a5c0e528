"""VecEnv: a batch of worlds in one pytree, with auto-reset and episode statistics.

This is the only wrapper layer. It vmaps `Env.reset`/`Env.step`, resets finished worlds to a
freshly sampled layout, keeps the pre-reset observation for bootstrapping (`final_obs`), and
reports each completed episode's return, cost, length and summed metrics (per-constraint costs,
goals met) exactly once, on the step it ends.

With more than one local device (on a CPU, `safejax.xla_flags` makes one device per core), the
worlds are split evenly across the devices with `jax.shard_map`: each device steps its own
share of the batch, independently (no world interacts with another), so a 2-core CPU runs two
halves of the batch at once instead of leaving a core idle between XLA's small kernels.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh, PartitionSpec

from safejax.types import LAYOUT_FLAG, Array, State


@struct.dataclass
class EpisodeStats:
    """Running and completed-episode statistics, one entry per world.

    `ret`, `cost`, `length` accumulate over the current episode, and `metrics` holds one float32
    running sum per key of the env's `State.metrics` (per-constraint costs, `goal_met`, ...: the
    env's fixed keys, so stats of different worlds and runs stack). On a step where an episode
    ends, `done` is True and `done_ret`, `done_cost`, `done_length` and `done_metrics` hold that
    episode's totals (they are zero elsewhere), so a learner can sum `done_*` over a rollout and
    divide by the sum of `done`. The running sums restart from zero on the step after.

    `metrics` and `done_metrics` default to empty mappings (no per-metric sums), for stats built
    without an env state; `VecEnv` always fills them from the env's metrics.
    """

    ret: Array
    cost: Array
    length: Array
    done: Array
    done_ret: Array
    done_cost: Array
    done_length: Array
    metrics: dict[str, Array] = dataclasses.field(default_factory=dict)
    done_metrics: dict[str, Array] = dataclasses.field(default_factory=dict)

    @classmethod
    def zeros(cls, num_envs: int, metric_keys: Sequence[str] = ()) -> EpisodeStats:
        """Stats of `num_envs` worlds at the start of their episodes, with a zero running sum
        for each of `metric_keys` (the env's `State.metrics` keys)."""
        f = jnp.zeros((num_envs,), jnp.float32)
        sums = {k: f for k in metric_keys}
        return cls(
            ret=f,
            cost=f,
            length=jnp.zeros((num_envs,), jnp.int32),
            done=jnp.zeros((num_envs,), bool),
            done_ret=f,
            done_cost=f,
            done_length=jnp.zeros((num_envs,), jnp.int32),
            metrics=sums,
            done_metrics=dict(sums),
        )


@struct.dataclass
class VecState:
    """A batch of worlds.

    Attributes:
      state: the batched env `State` (leading axis num_envs). After a step, worlds that finished
        have already been reset: `state.obs` is the first observation of the new episode, while
        `state.reward`, `state.cost`, `state.terminated`, `state.truncated` and `state.metrics`
        describe the step just taken, except `state.metrics["layout_failed"]` (where the env
        reports it): a flag of the world's layout, not of a step, it is the new layout's, so that
        the new episode's steps carry it (`Env.step` passes it on); the finished episode's sum in
        `episode.done_metrics` counts the old layout's.
      final_obs: the observation reached by the step just taken, before any auto-reset; equal to
        `state.obs` where no episode ended. Bootstrap truncated episodes from it.
      episode: `EpisodeStats`.
    """

    state: State
    final_obs: Array
    episode: EpisodeStats

    @property
    def obs(self) -> Array:
        return self.state.obs


def _select(mask: Array, on_true: Any, on_false: Any) -> Any:
    """Per-world select over two batched pytrees (mask has shape (num_envs,))."""

    def sel(a, b):
        m = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree.map(sel, on_true, on_false)


class VecEnv:
    """`num_envs` copies of `env`, vmapped, with auto-reset.

    Example:
      venv = VecEnv(safejax.make("PointGoal1"), 1024)
      vs = jax.jit(venv.reset)(key)
      vs = jax.jit(venv.step)(vs, actions)          # actions: (1024, env.action_size)
    """

    def __init__(
        self,
        env: Any,
        num_envs: int,
        devices: Sequence[Any] | str | None = "auto",
        reset_slots: int | str | None = "auto",
    ):
        """`devices`: where the worlds run. "auto" (default): every local device of the default
        backend when there are several and `num_envs` divides evenly among them, else no
        sharding. None or a single device: no sharding. A sequence of devices: shard across
        them (`num_envs` must divide evenly).

        `reset_slots`: on a step where at most this many worlds (per device) finished, only they
        are reset (their indices gathered, reset, scattered back); with more, every world's
        fresh state is made and the finished ones selected. Both give the same worlds (each
        world's reset depends on its own key only). None: always the latter. "auto" (default):
        for an env whose physics runs on the host (`Env.host_physics`, where a reset's forward
        pass of every world costs as much as a step), twice the number of worlds that end per
        step with staggered episode clocks, plus 2; None otherwise."""
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.env = env
        self.num_envs = int(num_envs)
        self.reset_slots = _pick_reset_slots(reset_slots, env, self.num_envs)
        self._reset = jax.vmap(env.reset)
        self._step = jax.vmap(env.step)
        self.devices = _pick_devices(devices, self.num_envs, getattr(env, "host_physics", False))
        self._batch_reset = self._reset_local
        self._batch_step = self._step_local
        if len(self.devices) > 1:
            mesh = Mesh(np.array(self.devices), ("worlds",))
            worlds = PartitionSpec("worlds")
            # No collectives inside (every world is independent): skip the varying-axis type
            # checks, which the env's loops (layout sampling, the solver) do not annotate.
            shard = functools.partial(jax.shard_map, mesh=mesh, out_specs=worlds, check_vma=False)
            self._batch_reset = shard(self._reset_local, in_specs=worlds)
            self._batch_step = shard(self._step_local, in_specs=(worlds, worlds))

    @property
    def observation_size(self) -> int:
        return self.env.observation_size

    @property
    def action_size(self) -> int:
        return self.env.action_size

    def reset(self, key: Array) -> VecState:
        return self._batch_reset(jax.random.split(key, self.num_envs))

    def _reset_local(self, keys: Array) -> VecState:
        """`reset` for the worlds of one device (all of them without sharding): every leaf of
        the VecState is made here, so that reset and step outputs are laid out alike."""
        state = self._reset(keys)
        episode = EpisodeStats.zeros(keys.shape[0], tuple(state.metrics))
        return VecState(state=state, final_obs=state.obs, episode=episode)

    def step(self, vstate: VecState, action: Array) -> VecState:
        expected = (self.num_envs, self.env.action_size)
        if tuple(action.shape) != expected:
            raise ValueError(f"action has shape {tuple(action.shape)}, expected {expected}")
        return self._batch_step(vstate, action)

    def _step_local(self, vstate: VecState, action: Array) -> VecState:
        """`step` for the worlds of one device (all of them without sharding)."""
        state = self._step(vstate.state, action)
        done = state.terminated | state.truncated
        ep = vstate.episode
        ret = ep.ret + state.reward
        cost = ep.cost + state.cost
        length = ep.length + 1
        if set(ep.metrics) != set(state.metrics):
            raise ValueError(
                f"the episode stats sum the metrics {sorted(ep.metrics)} but the env reports "
                f"{sorted(state.metrics)}; start from VecEnv.reset (or EpisodeStats.zeros with "
                "the env's metric keys)"
            )
        sums = {k: ep.metrics[k] + jnp.asarray(v, jnp.float32) for k, v in state.metrics.items()}
        episode = EpisodeStats(
            ret=jnp.where(done, 0.0, ret),
            cost=jnp.where(done, 0.0, cost),
            length=jnp.where(done, 0, length),
            done=done,
            done_ret=jnp.where(done, ret, 0.0),
            done_cost=jnp.where(done, cost, 0.0),
            done_length=jnp.where(done, length, 0),
            metrics={k: jnp.where(done, 0.0, v) for k, v in sums.items()},
            done_metrics={k: jnp.where(done, v, 0.0) for k, v in sums.items()},
        )
        final_obs = state.obs

        def fresh_for(s: State) -> State:
            # Fresh layouts from each world's own key stream; the step outputs of the finished
            # step (reward, cost, flags, metrics) are kept so that learners see them, except
            # the layout flag, which is the fresh layout's (VecState).
            keys = jax.vmap(lambda k: jax.random.split(k)[1])(s.key)
            fresh = self._reset(keys)
            metrics = dict(s.metrics)
            if LAYOUT_FLAG in metrics and LAYOUT_FLAG in fresh.metrics:
                metrics[LAYOUT_FLAG] = fresh.metrics[LAYOUT_FLAG]
            return fresh.replace(
                reward=s.reward,
                cost=s.cost,
                terminated=s.terminated,
                truncated=s.truncated,
                metrics=metrics,
            )

        def reset_done(s: State) -> State:
            return _select(done, fresh_for(s), s)

        slots = min(self.reset_slots or 0, done.shape[0])

        def reset_few(s: State) -> State:
            # The same fresh worlds as reset_done's, made for the finished ones only.
            idx = jnp.nonzero(done, size=slots, fill_value=done.shape[0])[0]
            take = jnp.minimum(idx, done.shape[0] - 1)
            fresh = fresh_for(jax.tree.map(lambda x: x[take], s))
            # Padding indices (== num_envs) fall outside and are dropped.
            return jax.tree.map(lambda a, b: a.at[idx].set(b, mode="drop"), s, fresh)

        # Episodes mostly end together (the time limit), so a batch-level switch skips the reset
        # work on the 999 steps in 1000 where no world finished; with staggered clocks a few
        # finish in every step, and `reset_slots` resets only them.
        n_done = jnp.sum(done.astype(jnp.int32))
        if slots:
            branch = jnp.where(n_done == 0, 0, jnp.where(n_done <= slots, 1, 2))
            state = jax.lax.switch(branch, [lambda s: s, reset_few, reset_done], state)
        else:
            state = jax.lax.cond(n_done > 0, reset_done, lambda s: s, state)
        return VecState(state=state, final_obs=final_obs, episode=episode)


def stagger_clocks(vstate: VecState, num_steps: int) -> VecState:
    """The worlds' episode clocks spread evenly over an episode: world i of N starts its clock
    at floor(i num_steps / N), so that from then on about N / num_steps worlds finish (and
    reset) in every step instead of all N together."""
    step = vstate.state.step
    n = step.shape[0]
    offsets = (jnp.arange(n, dtype=jnp.int32) * num_steps) // n
    return vstate.replace(state=vstate.state.replace(step=step + offsets.astype(step.dtype)))


def _pick_reset_slots(slots: int | str | None, env: Any, num_envs: int) -> int | None:
    if slots is None:
        return None
    if isinstance(slots, str):
        if slots != "auto":
            raise ValueError(f"reset_slots must be 'auto', None or an int >= 1, got {slots!r}")
        length = getattr(env, "num_steps", None)
        if not getattr(env, "host_physics", False) or not isinstance(length, int) or length < 1:
            return None
        return min(num_envs, 2 * -(-num_envs // length) + 2)
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"reset_slots must be 'auto', None or an int >= 1, got {slots!r}")
    return slots


def _pick_devices(
    devices: Sequence[Any] | str | None, num_envs: int, host_physics: bool = False
) -> tuple[Any, ...]:
    """The devices a VecEnv shards its worlds across (one or none: no sharding). An env whose
    physics runs on the host (`Env.host_physics`) is never sharded: its engine threads over the
    worlds itself, and host callbacks of several CPU devices would wait on each other."""
    if devices is None:
        return ()
    if isinstance(devices, str):
        if devices != "auto":
            raise ValueError(
                f"devices must be 'auto', None or a sequence of devices, got {devices!r}"
            )
        if host_physics:
            return ()
        local = tuple(jax.local_devices())
        return local if len(local) > 1 and num_envs % len(local) == 0 else ()
    chosen = tuple(devices)
    if len(chosen) > 1 and host_physics:
        raise ValueError(
            "the MuJoCo physics backend runs on one device (its engine uses every core); "
            "pass devices=None or 'auto'"
        )
    if len(chosen) > 1 and num_envs % len(chosen):
        raise ValueError(f"num_envs {num_envs} does not divide evenly across {len(chosen)} devices")
    return chosen if len(chosen) > 1 else ()
