"""The shared learner: one update = rollout, GAE (reward and cost), multiplier, policy, critics.

`Learner(config, env, policy, constraint)` holds everything static; its methods are pure
functions of a `TrainState` pytree and the caller owns `jit` and `vmap`:

    learner = agents.get_algorithm("ppo_lag").make_train(config, env)
    ts, metrics = jax.jit(learner.train)(key)                      # one seed, end to end
    ts, metrics = jax.jit(jax.vmap(learner.train))(keys)           # seeds side by side

Order within an update follows safety-starter-agents: collect `rollout_len` steps of `num_envs`
worlds with lambda fixed; J_r, J_c = mean return and cost of the episodes that ended in this
batch; update the multiplier with J_c; update the policy with the new lambda; fit the critics.
When no episode ended in the batch, J_r and J_c carry their previous values and the multiplier is
left unchanged (the `episodes` metric is then 0).

The policy step is swappable: any object with `init(actor_params) -> opt_state` and
`update(actor_apply, actor_params, opt_state, batch, penalty, key) -> (params, opt_state,
metrics)` (see agents/ppo.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import struct

from agents.common.config import BaseConfig
from agents.common.gae import gae
from agents.common.networks import Actor, Critic
from agents.common.normalization import RunningStats, normalize, update_stats
from agents.common.rollout import rollout
from safejax.vector import VecEnv, VecState

Array = jax.Array
Metrics = dict[str, Array]


@struct.dataclass
class TrainState:
    """Everything a learner carries from one update to the next (one seed)."""

    actor: Any
    critic: Any  # {"reward": params, "cost": params}
    pi_opt: Any  # owned by the policy rule
    vf_opt: Any
    obs_stats: RunningStats
    constraint: Any  # owned by the constraint strategy
    env: VecState
    key: Array
    update: Array  # updates done
    env_steps: Array
    cum_cost: Array  # sum of every step's cost since the start (for rho_c)
    episodes: Array  # episodes completed since the start
    last_ret: Array  # J_r of the last update that completed an episode
    last_cost: Array  # J_c of the last update that completed an episode


@struct.dataclass
class Batch:
    """One update's samples, flattened to (num_envs * rollout_len, ...).

    `obs` is normalized as the policy saw it; `mean` is the behaviour policy's action mean (its
    log-std is that of the pre-update parameters); `adv_r` is standardised, `adv_c` centred
    (and scaled if `cost_adv_scale`); `ret_*` are the critics' targets.
    """

    obs: Array
    action: Array
    log_prob: Array
    mean: Array
    adv_r: Array
    adv_c: Array
    ret_r: Array
    ret_c: Array


class PolicyRule(Protocol):
    """A policy-update step: PPO's clipped surrogate, a trust-region step, ..."""

    def init(self, actor_params: Any) -> Any: ...

    def update(
        self,
        actor_apply: Callable[[Any, Array], tuple[Array, Array]],
        actor_params: Any,
        opt_state: Any,
        batch: Batch,
        penalty: Array,
        key: Array,
    ) -> tuple[Any, Any, Metrics]: ...


def adam(lr: float, max_grad_norm: float | None) -> optax.GradientTransformation:
    """Adam, with global-norm gradient clipping first when `max_grad_norm` is set."""
    if max_grad_norm is None:
        return optax.adam(lr)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(lr))


def minibatches(key: Array, data: Any, num: int) -> Any:
    """`data` (leading axis B) reshuffled into (num, B // num, ...); no shuffle when num == 1."""
    if num == 1:
        return jax.tree.map(lambda x: x[None], data)
    size = jax.tree.leaves(data)[0].shape[0]
    perm = jax.random.permutation(key, size)
    return jax.tree.map(lambda x: x[perm].reshape((num, size // num) + x.shape[1:]), data)


def tree_where(pred: Array, on_true: Any, on_false: Any) -> Any:
    """Elementwise select between two pytrees of the same structure on a scalar predicate."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class Learner:
    """Static parts of a learner (config, env, networks, rules); pure methods over TrainState."""

    def __init__(self, config: BaseConfig, env: Any, policy: PolicyRule, constraint: Any):
        config.validate()
        self.config = config
        self.env = env
        self.venv = VecEnv(env, config.num_envs)
        self.actor = Actor(config.hidden_sizes, env.action_size, config.log_std_init)
        self.critic = Critic(config.hidden_sizes)
        self.policy = policy
        self.constraint = constraint
        self.vf_opt = adam(config.vf_lr, config.max_grad_norm)

    # ------------------------------------------------------------------ state
    def init(self, key: Array) -> TrainState:
        """A fresh train state: networks, optimizers, multiplier, and `num_envs` reset worlds."""
        key, k_env, k_pi, k_vr, k_vc = jax.random.split(key, 5)
        dummy = jnp.zeros((1, self.env.observation_size), jnp.float32)
        actor = self.actor.init(k_pi, dummy)
        critic = {"reward": self.critic.init(k_vr, dummy), "cost": self.critic.init(k_vc, dummy)}
        zero = jnp.zeros((), jnp.float32)
        return TrainState(
            actor=actor,
            critic=critic,
            pi_opt=self.policy.init(actor),
            vf_opt=self.vf_opt.init(critic),
            obs_stats=RunningStats.zeros(self.env.observation_size),
            constraint=self.constraint.init(),
            env=self.venv.reset(k_env),
            key=key,
            update=jnp.zeros((), jnp.int32),
            env_steps=jnp.zeros((), jnp.int32),
            cum_cost=zero,
            episodes=jnp.zeros((), jnp.int32),
            last_ret=zero,
            last_cost=zero,
        )

    # ------------------------------------------------------------------ one update
    def update(self, ts: TrainState) -> tuple[TrainState, Metrics]:
        """One rollout and one update of multiplier, policy and critics."""
        cfg = self.config
        key, k_roll, k_pi, k_vf = jax.random.split(ts.key, 4)
        env_state, traj = rollout(
            self.venv,
            self.actor.apply,
            ts.actor,
            lambda o: self.preprocess(ts, o),
            ts.env,
            k_roll,
            cfg.rollout_len,
        )
        obs = self.preprocess(ts, traj.obs)
        final_obs = self.preprocess(ts, traj.final_obs)

        def advantages(name: str, signal: Array, gamma: float, lam: float) -> tuple[Array, Array]:
            v = self.critic.apply(ts.critic[name], obs)
            next_v = self.critic.apply(ts.critic[name], final_obs)
            adv = gae(signal, v, next_v, traj.terminated, traj.done, gamma, lam)
            # SSA's value target: discounted return-to-go, bootstrapped as above (lam = 1).
            ret = gae(signal, v, next_v, traj.terminated, traj.done, gamma, 1.0) + v
            return adv, ret

        adv_r, ret_r = advantages("reward", traj.reward, cfg.gamma, cfg.lam)
        adv_c, ret_c = advantages("cost", traj.cost, cfg.cost_gamma, cfg.cost_lam)

        # J_r, J_c over episodes completed in this batch (SSA's per-epoch EpRet / EpCost).
        n_ep = jnp.sum(traj.ep_done.astype(jnp.int32))
        has_ep = n_ep > 0
        denom = jnp.maximum(n_ep, 1).astype(jnp.float32)
        ep_ret = jnp.where(has_ep, jnp.sum(traj.ep_ret) / denom, ts.last_ret)
        ep_cost = jnp.where(has_ep, jnp.sum(traj.ep_cost) / denom, ts.last_cost)
        constraint = tree_where(
            has_ep, self.constraint.update(ts.constraint, ep_cost), ts.constraint
        )
        penalty = self.constraint.penalty(constraint)

        adv_r = (adv_r - adv_r.mean()) / (adv_r.std() + 1e-8)
        adv_c = adv_c - adv_c.mean()
        if cfg.cost_adv_scale:
            adv_c = adv_c / (adv_c.std() + 1e-8)
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
        batch = Batch(
            obs=flat(obs),
            action=flat(traj.action),
            log_prob=flat(traj.log_prob),
            mean=flat(traj.mean),
            adv_r=flat(adv_r),
            adv_c=flat(adv_c),
            ret_r=flat(ret_r),
            ret_c=flat(ret_c),
        )
        actor, pi_opt, pi_metrics = self.policy.update(
            self.actor.apply, ts.actor, ts.pi_opt, batch, penalty, k_pi
        )
        critic, vf_opt, vf_metrics = self._fit_critics(ts.critic, ts.vf_opt, batch, k_vf)

        obs_stats = update_stats(ts.obs_stats, traj.obs) if cfg.normalize_obs else ts.obs_stats
        env_steps = ts.env_steps + cfg.batch_size
        cum_cost = ts.cum_cost + jnp.sum(traj.cost)
        episodes = ts.episodes + n_ep
        new = TrainState(
            actor=actor,
            critic=critic,
            pi_opt=pi_opt,
            vf_opt=vf_opt,
            obs_stats=obs_stats,
            constraint=constraint,
            env=env_state,
            key=key,
            update=ts.update + 1,
            env_steps=env_steps,
            cum_cost=cum_cost,
            episodes=episodes,
            last_ret=ep_ret,
            last_cost=ep_cost,
        )
        metrics = {
            "update": new.update,
            "env_steps": env_steps,
            "J_r": ep_ret,
            "J_c": ep_cost,
            "episodes": n_ep,
            "episodes_total": episodes,
            "rho_c": cum_cost / env_steps.astype(jnp.float32),
            "lambda": penalty,
            **pi_metrics,
            **vf_metrics,
        }
        return new, metrics

    def preprocess(self, ts: TrainState, obs: Array) -> Array:
        """What the networks see: observations normalized by the running statistics (clipped to
        +-obs_clip), or raw observations when `normalize_obs` is off (SSA)."""
        if self.config.normalize_obs:
            return normalize(ts.obs_stats, obs, self.config.obs_clip)
        return obs

    def _fit_critics(
        self, params: Any, opt_state: Any, batch: Batch, key: Array
    ) -> tuple[Any, Any, Metrics]:
        """`vf_iters` passes of `vf_minibatches` Adam steps on MSE(V_r) + MSE(V_c), one shared
        optimizer (SSA)."""
        cfg = self.config
        data = (batch.obs, batch.ret_r, batch.ret_c)

        def loss_fn(p: Any, mb: tuple[Array, Array, Array]) -> tuple[Array, tuple[Array, Array]]:
            o, rr, rc = mb
            loss_r = jnp.mean((self.critic.apply(p["reward"], o) - rr) ** 2)
            loss_c = jnp.mean((self.critic.apply(p["cost"], o) - rc) ** 2)
            return loss_r + loss_c, (loss_r, loss_c)

        def sgd_step(carry: tuple[Any, Any], mb: Any) -> tuple[tuple[Any, Any], Any]:
            p, s = carry
            grads, losses = jax.grad(loss_fn, has_aux=True)(p, mb)
            upd, s = self.vf_opt.update(grads, s, p)
            return (optax.apply_updates(p, upd), s), losses

        def one_pass(carry: tuple[Any, Any], k: Array) -> tuple[tuple[Any, Any], Any]:
            carry, losses = jax.lax.scan(sgd_step, carry, minibatches(k, data, cfg.vf_minibatches))
            return carry, jax.tree.map(jnp.mean, losses)

        (params, opt_state), (loss_r, loss_c) = jax.lax.scan(
            one_pass, (params, opt_state), jax.random.split(key, cfg.vf_iters)
        )
        # As SSA's LossV: the loss on the fresh batch before fitting (first pass).
        return params, opt_state, {"loss_vr": loss_r[0], "loss_vc": loss_c[0]}

    # ------------------------------------------------------------------ whole runs
    def run(self, ts: TrainState, num_updates: int) -> tuple[TrainState, Metrics]:
        """`num_updates` updates in one scan; metrics stacked along axis 0."""
        return jax.lax.scan(lambda t, _: self.update(t), ts, None, length=num_updates)

    def train(self, key: Array) -> tuple[TrainState, Metrics]:
        """The whole run (`config.num_updates` updates) from `key`: pure, jit- and vmap-able."""
        return self.run(self.init(key), self.config.num_updates)


def over_seeds(fn: Callable[[Any], Any], num_seeds: int) -> Callable[[Any], Any]:
    """`fn` mapped over a leading seed axis: `jax.vmap`, or for one seed a squeeze and expand,
    which keeps XLA's unbatched kernels (vmap over a size-1 axis made an update ~1.5x slower
    on CPU)."""
    if num_seeds > 1:
        return jax.vmap(fn)

    def single(x: Any) -> Any:
        return jax.tree.map(lambda y: y[None], fn(jax.tree.map(lambda y: y[0], x)))

    return single


def make_chunk(
    update: Callable[[Any], tuple[Any, Metrics]], length: int
) -> Callable[[Any, Array], tuple[Any, Metrics]]:
    """`chunk(ts, n)`: the first `n <= length` of `length` updates, metrics stacked to (length,
    ...) with zeros past `n`.

    `n` is a traced scalar, so the last, shorter chunk of a run reuses the same compiled function.
    A `fori_loop` with a dynamic trip count rather than a scan of `lax.cond`s: the cond made each
    update about 1.3x slower on CPU. `update` may be mapped over seeds (see `over_seeds`).
    """

    def chunk(ts: Any, n: Array) -> tuple[Any, Metrics]:
        shapes = jax.eval_shape(update, ts)[1]
        rows = jax.tree.map(lambda s: jnp.zeros((length,) + s.shape, s.dtype), shapes)

        def body(i: Array, carry: tuple[Any, Metrics]) -> tuple[Any, Metrics]:
            t, out = carry
            t, m = update(t)
            return t, jax.tree.map(lambda o, x: o.at[i].set(x), out, m)

        return jax.lax.fori_loop(0, jnp.minimum(n, length), body, (ts, rows))

    return chunk
