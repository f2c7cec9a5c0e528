"""The shared learner: one update = rollout, GAE (reward and cost), constraint, policy, critics.

`Learner(config, env, policy, constraint)` holds everything static; its methods are pure
functions of a `TrainState` pytree and the caller owns `jit` and `vmap`:

    learner = agents.get_algorithm("ppo_lag").make_train(config, env)
    ts, metrics = jax.jit(learner.train)(key)                      # one seed, end to end
    ts, metrics = jax.jit(jax.vmap(learner.train))(keys)           # seeds side by side

Order within an update follows safety-starter-agents: collect `rollout_len` steps of `num_envs`
worlds with the policy fixed; J_r, J_c = mean return and cost of the episodes that ended in this
batch; update the constraint strategy with J_c (the multiplier lambda of the Lagrangian methods);
update the policy with the strategy's new value; fit the critics. When no episode ended in the
batch, J_r and J_c carry their previous values and the strategy's state is left unchanged (the
`episodes` metric is then 0).

The same episodes also give `ep_length` (mean length), `ep_goals_met` (goals met per episode) and
one `ep_cost_*` per constraint (`ep_cost_hazards`, ...: the mean over episodes of the episode's
sum of that constraint's 0/1 cost, from the env's `State.metrics`; `episode_columns`). They are
reported only: nothing the learner optimizes reads them. They are 0 when no episode ended.

The policy step and the constraint handling are swappable, and paired: a `ConstraintStrategy`
turns J_c into one scalar per update, `policy_input`, and the `PolicyRule` reads it. What that
scalar means is the contract of the pair, not of the learner: the multiplier lambda >= 0 of a
penalized objective for the Lagrangian strategies (agents/common/lagrange.py) with PPO's and
TRPO's rules, CPO's constraint offset c (of either sign) for its `ConstraintOffset` with its rule
(agents/cpo.py). Each logs its own values under names of its own (`ConstraintStrategy.metrics`):
`lambda` is the multiplier of a penalized objective and nothing else; CPO logs `cpo_*`.

Hyperparameters: the numbers named in `Learner.hyper` (learning rates, the cost limit, multiplier
gains: whatever an algorithm declares) are not baked into the compiled program; they live in
`TrainState.hparams` and are bound to the policy rule, the constraint strategy and the critic
optimizer at every update. So one compiled update serves any value, and `jax.vmap` over
`(keys, hparams)` trains several settings side by side:

    hp = learner.stack_hparams([{"cost_limit": 10.0}, {"cost_limit": 25.0}])
    ts = jax.vmap(learner.init)(keys, hp)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
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
from safejax.vector import VecEnv, VecState, stagger_clocks

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
    hparams: dict[str, Array]  # the learner's vmappable hyperparameters (float32 scalars)
    shortened: Array  # (num_envs,) bool: the world is in its shortened first episode


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
    """A policy-update step: PPO's clipped surrogate, a trust-region step, ...

    `update`'s fifth argument is the paired strategy's `policy_input`; it is positional so that
    each rule names it for what it is to that rule (`penalty` for the multiplier lambda, `offset`
    for CPO's c).
    """

    def init(self, actor_params: Any) -> Any: ...

    def update(
        self,
        actor_apply: Callable[[Any, Array], tuple[Array, Array]],
        actor_params: Any,
        opt_state: Any,
        batch: Batch,
        policy_input: Array,
        key: Array,
        /,
    ) -> tuple[Any, Any, Metrics]: ...


class ConstraintStrategy(Protocol):
    """How J_c steers the policy: a frozen (hashable, static) object with pure methods over a
    state pytree that lives in `TrainState.constraint`.

    `update` runs once per update in which an episode ended, before the policy step;
    `policy_input(state)` is the scalar handed to the paired `PolicyRule` (see the module
    docstring); `metrics(state)` are the values logged each update, under the strategy's own
    names, none of which a policy rule may also use.
    """

    def init(self) -> Any: ...

    def update(self, state: Any, ep_cost: Array) -> Any: ...

    def policy_input(self, state: Any) -> Array: ...

    def metrics(self, state: Any) -> Metrics: ...


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


def merge_metrics(*parts: Metrics) -> Metrics:
    """One metrics dict from several sources; a name given by two of them is an error, so that
    no source silently replaces another's value (a column means one thing)."""
    merged: Metrics = {}
    for part in parts:
        clash = sorted(set(merged) & set(part))
        if clash:
            raise ValueError(f"metric names reported twice: {', '.join(clash)}")
        merged.update(part)
    return merged


def tree_where(pred: Array, on_true: Any, on_false: Any) -> Any:
    """Elementwise select between two pytrees of the same structure on a scalar predicate."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


# Metric columns of episode means: "ep_" + the env's metric key, with goal_met as goals_met.
EPISODE_PREFIX = "ep_"


def episode_columns(length: Array, metrics: Mapping[str, Array]) -> dict[str, Array]:
    """The per-episode values reported as `ep_*` metrics: `ep_length` from the episodes' lengths,
    and from the env's summed `State.metrics`, one `ep_cost_*` per per-constraint cost key
    (`cost_hazards`, `cost_vases_contact`, ...) and `ep_goals_met` from `goal_met`. Other metric
    keys (error flags) are left out. The keys depend only on the env's fixed metric keys."""
    out = {EPISODE_PREFIX + "length": length.astype(jnp.float32)}
    for key in sorted(metrics):
        if key.startswith("cost_"):
            out[EPISODE_PREFIX + key] = metrics[key]
        elif key == "goal_met":
            out[EPISODE_PREFIX + "goals_met"] = metrics[key]
    return out


# Hyperparameters every learner binds from its train state: config field -> (component, field).
BASE_HYPERPARAMS: dict[str, tuple[str, str]] = {"vf_lr": ("critic", "lr")}
_COMPONENTS = ("policy", "constraint", "critic")


class Learner:
    """Static parts of a learner (config, env, networks, rules); pure methods over TrainState.

    `policy` and `constraint` are a paired `PolicyRule` and `ConstraintStrategy` (see the module
    docstring).

    `hyper` maps config fields to the field of the component that uses them ("policy" or
    "constraint", both frozen dataclasses, or "critic" for the critic optimizer's "lr"); those
    numbers are read from `TrainState.hparams` at every update (see the module docstring).
    `world_devices` is `VecEnv`'s `devices` argument (None: the worlds stay on one device).
    """

    def __init__(
        self,
        config: BaseConfig,
        env: Any,
        policy: PolicyRule,
        constraint: ConstraintStrategy,
        hyper: Mapping[str, tuple[str, str]] | None = None,
        world_devices: Sequence[Any] | str | None = "auto",
    ):
        config.validate()
        self.config = config
        self.env = env
        self.venv = VecEnv(env, config.num_envs, devices=world_devices)
        self.actor = Actor(config.hidden_sizes, env.action_size, config.log_std_init)
        self.critic = Critic(config.hidden_sizes)
        self.policy = policy
        self.constraint = constraint
        self.hyper = {**BASE_HYPERPARAMS, **(hyper or {})}
        targets = {"policy": policy, "constraint": constraint}
        for name, (component, field) in self.hyper.items():
            if not hasattr(config, name):
                raise ValueError(f"hyperparameter {name!r} is not a field of {type(config)}")
            if component not in _COMPONENTS:
                raise ValueError(f"hyperparameter {name!r}: component {component!r}")
            if component != "critic" and field not in {
                f.name for f in dataclasses.fields(targets[component])
            }:
                raise ValueError(f"hyperparameter {name!r}: {component} has no field {field!r}")
        self.vf_opt = adam(config.vf_lr, config.max_grad_norm)

    # ------------------------------------------------------------------ hyperparameters
    @property
    def hyper_names(self) -> tuple[str, ...]:
        """The config fields that can differ between vmapped members, sorted."""
        return tuple(sorted(self.hyper))

    def hparams(self, **values: float) -> dict[str, Array]:
        """The config's hyperparameters with `values` replacing some; unknown names raise."""
        unknown = sorted(set(values) - set(self.hyper))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} cannot vary within one compiled run of this learner; "
                f"vmappable: {', '.join(self.hyper_names)}"
            )
        merged = {n: values.get(n, getattr(self.config, n)) for n in self.hyper_names}
        return {n: jnp.asarray(v, jnp.float32) for n, v in merged.items()}

    def stack_hparams(self, members: Sequence[Mapping[str, float]]) -> dict[str, Array]:
        """`hparams(**m)` for each member, stacked along a leading member axis."""
        rows = [self.hparams(**m) for m in members]
        return {n: jnp.stack([r[n] for r in rows]) for n in self.hyper_names}

    def bind(
        self, hp: Mapping[str, Array]
    ) -> tuple[PolicyRule, ConstraintStrategy, optax.GradientTransformation]:
        """(policy, constraint, critic optimizer) with the numbers of `hp` in place."""
        fields: dict[str, dict[str, Array]] = {c: {} for c in _COMPONENTS}
        for name, (component, field) in self.hyper.items():
            fields[component][field] = hp[name]
        policy = dataclasses.replace(self.policy, **fields["policy"])
        constraint = dataclasses.replace(self.constraint, **fields["constraint"])
        vf_lr = fields["critic"].get("lr", self.config.vf_lr)
        return policy, constraint, adam(vf_lr, self.config.max_grad_norm)

    # ------------------------------------------------------------------ state
    def init(self, key: Array, hparams: Mapping[str, Array] | None = None) -> TrainState:
        """A fresh train state: networks, optimizers, constraint state and `num_envs` reset worlds.
        `hparams` defaults to the config's values (`self.hparams()`)."""
        hparams = self.hparams() if hparams is None else dict(hparams)
        if sorted(hparams) != list(self.hyper_names):
            raise ValueError(f"hparams must have keys {self.hyper_names}, got {sorted(hparams)}")
        _, constraint, _ = self.bind(hparams)
        key, k_env, k_pi, k_vr, k_vc = jax.random.split(key, 5)
        actor, critic = self._init_networks(k_pi, k_vr, k_vc)
        zero = jnp.zeros((), jnp.float32)
        env_state, shortened = self._staggered(self.venv.reset(k_env))
        return TrainState(
            actor=actor,
            critic=critic,
            pi_opt=self.policy.init(actor),
            vf_opt=self.vf_opt.init(critic),
            obs_stats=RunningStats.zeros(self.env.observation_size),
            constraint=constraint.init(),
            env=env_state,
            key=key,
            update=jnp.zeros((), jnp.int32),
            env_steps=jnp.zeros((), jnp.int32),
            cum_cost=zero,
            episodes=jnp.zeros((), jnp.int32),
            last_ret=zero,
            last_cost=zero,
            hparams={n: jnp.asarray(v, jnp.float32) for n, v in hparams.items()},
            shortened=shortened,
        )

    def _init_networks(self, k_pi: Array, k_vr: Array, k_vc: Array) -> tuple[Any, Any]:
        """Actor and critic parameters; under `vmap`, one member after another.

        The orthogonal initialisation factors every weight matrix with LAPACK's QR. Batched over
        members, that call splits its batch over XLA's CPU thread pool and waits for the pieces
        from inside the same pool: two such calls at once held both threads of a 2-core machine
        waiting forever (a 3-seed PointGoal1 run never reached its first update). Looping over
        members (`sequential_vmap`) factors one matrix per call, which runs inline; the values
        are the same as a single member's.
        """
        dummy = jnp.zeros((1, self.env.observation_size), jnp.float32)

        @jax.custom_batching.sequential_vmap
        def networks(k_pi: Array, k_vr: Array, k_vc: Array) -> tuple[Any, Any]:
            reward, cost = self.critic.init(k_vr, dummy), self.critic.init(k_vc, dummy)
            return self.actor.init(k_pi, dummy), {"reward": reward, "cost": cost}

        return networks(k_pi, k_vr, k_vc)

    def _staggered(self, vs: VecState) -> tuple[VecState, Array]:
        """Fresh worlds with staggered episode clocks, and which of them start shortened.

        With `stagger_starts` and rollouts shorter than the episode (time limit L), world i of N
        starts its clock at floor(i L / N), so its first episode is that much shorter and
        afterwards episodes end evenly spread over updates: about N rollout_len / L per update,
        not all N of them every L / rollout_len updates. The shortened first episodes are left
        out of J_r, J_c and the episode counts (they would bias them low); they still train, cut
        by the time limit as any episode is (bootstrapped). Otherwise the clocks start at 0.
        """
        cfg = self.config
        length = getattr(self.env, "num_steps", None)
        if cfg.stagger_starts and isinstance(length, int) and cfg.rollout_len < length:
            vs = stagger_clocks(vs, length)
        # Derived from the worlds' own clocks, so it is laid out across devices as they are.
        return vs, vs.state.step > 0

    # ------------------------------------------------------------------ one update
    def update(self, ts: TrainState) -> tuple[TrainState, Metrics]:
        """One rollout and one update of constraint strategy, policy and critics."""
        cfg = self.config
        policy, strategy, vf_opt = self.bind(ts.hparams)
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

        # J_r, J_c over episodes completed in this batch (SSA's per-epoch EpRet / EpCost),
        # leaving out the shortened first episodes of staggered worlds (`_staggered`).
        first_end = jnp.cumsum(traj.ep_done.astype(jnp.int32), axis=0) == 1
        counted = traj.ep_done & ~(ts.shortened[None, :] & first_end)
        shortened = ts.shortened & ~jnp.any(traj.ep_done, axis=0)
        n_ep = jnp.sum(counted.astype(jnp.int32))
        has_ep = n_ep > 0
        denom = jnp.maximum(n_ep, 1).astype(jnp.float32)
        ep_ret = jnp.where(has_ep, jnp.sum(jnp.where(counted, traj.ep_ret, 0.0)) / denom,
                           ts.last_ret)  # fmt: skip
        ep_cost = jnp.where(has_ep, jnp.sum(jnp.where(counted, traj.ep_cost, 0.0)) / denom,
                            ts.last_cost)  # fmt: skip
        # Each constraint's own cost, goals met and length of the same episodes: reported only.
        per_episode = {
            name: jnp.sum(jnp.where(counted, x, 0.0)) / denom
            for name, x in episode_columns(traj.ep_length, traj.ep_metrics).items()
        }
        constraint = tree_where(has_ep, strategy.update(ts.constraint, ep_cost), ts.constraint)
        policy_input = strategy.policy_input(constraint)

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
        actor, pi_opt, pi_metrics = policy.update(
            self.actor.apply, ts.actor, ts.pi_opt, batch, policy_input, k_pi
        )
        critic, vf_state, vf_metrics = self._fit_critics(vf_opt, ts.critic, ts.vf_opt, batch, k_vf)

        obs_stats = update_stats(ts.obs_stats, traj.obs) if cfg.normalize_obs else ts.obs_stats
        env_steps = ts.env_steps + cfg.batch_size
        cum_cost = ts.cum_cost + jnp.sum(traj.cost)
        episodes = ts.episodes + n_ep
        new = TrainState(
            actor=actor,
            critic=critic,
            pi_opt=pi_opt,
            vf_opt=vf_state,
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
            hparams=ts.hparams,
            shortened=shortened,
        )
        metrics = {
            "update": new.update,
            "env_steps": env_steps,
            "J_r": ep_ret,
            "J_c": ep_cost,
            "episodes": n_ep,
            "episodes_total": episodes,
            "rho_c": cum_cost / env_steps.astype(jnp.float32),
            **per_episode,
        }
        return new, merge_metrics(metrics, strategy.metrics(constraint), pi_metrics, vf_metrics)

    def preprocess(self, ts: TrainState, obs: Array) -> Array:
        """What the networks see: observations normalized by the running statistics (clipped to
        +-obs_clip), or raw observations when `normalize_obs` is off (SSA)."""
        if self.config.normalize_obs:
            return normalize(ts.obs_stats, obs, self.config.obs_clip)
        return obs

    def _fit_critics(
        self,
        vf_opt: optax.GradientTransformation,
        params: Any,
        opt_state: Any,
        batch: Batch,
        key: Array,
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
            upd, s = vf_opt.update(grads, s, p)
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


def over_seeds(
    fn: Callable[[Any], Any], num_seeds: int, batched: bool | None = None
) -> Callable[[Any], Any]:
    """`fn` mapped over a leading seed (member) axis.

    `batched`: `jax.vmap` (one batched computation, what accelerators want) or `jax.lax.map`
    (members one after another inside the same program). None picks by backend: vmap on GPU and
    TPU, a loop on CPU, where XLA's batched kernels of the update were slower than running the
    members in turn (PointGoal1 PPO-Lag, 3 members, 2-core CPU, median env-steps/s: 11.1k
    batched on one device, 12.9k batched over worlds split on two, 18.1k looped). For one
    seed: a squeeze and expand, which keeps XLA's unbatched kernels (vmap over a size-1 axis made
    an update ~1.5x slower on CPU).
    """
    if num_seeds > 1:
        if batched is None:
            batched = jax.default_backend() != "cpu"
        if batched:
            return jax.vmap(fn)
        return lambda x: jax.lax.map(fn, x)

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
