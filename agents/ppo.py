"""PPO (clipped surrogate) and the penalized objective shared by its Lagrangian variants.

The policy step follows safety-starter-agents' `PPOAgent`: up to `pi_iters` Adam passes over the
batch (one full-batch step per pass when `pi_minibatches` is 1, as SSA), stopping after the pass
whose mean KL(old || new) exceeds `kl_margin * target_kl`. With a multiplier lambda the objective
is penalized; `objective` picks how the cost term enters:

  "ssa":         (clip_surr(A_r) - lambda * mean(ratio * A_c)) / (1 + lambda)     SSA
  "pessimistic": cost surrogate max(ratio * A_c, clip(ratio) * A_c) instead        Stooke's rlpyt
  "combined":    clip_surr((A_r - lambda * A_c) / (1 + lambda))                    OmniSafe

and `norm` the weighting: "sum" (divide by 1 + lambda, as above), "diff" ((1 - lambda) R -
lambda C, lambda in [0, 1]) or "none" (R - lambda C). Plain PPO is lambda = 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from agents.common.config import BaseConfig, load_config
from agents.common.lagrange import Unconstrained
from agents.common.networks import gaussian_entropy, gaussian_kl, gaussian_log_prob
from agents.common.train import Batch, Learner, Metrics, adam, minibatches

Array = jax.Array

DEFAULT_CONFIG = "ppo.yaml"
# Config fields read from the train state at every update (vmappable: `Learner.hyper`).
HYPERPARAMS = {"pi_lr": ("policy", "lr"), "target_kl": ("policy", "target_kl")}
# Config fields that do not change what an unconstrained learner trains (only plots use them).
TRAINING_INERT = ("cost_limit",)


@dataclasses.dataclass(frozen=True)
class Config(BaseConfig):
    """BaseConfig plus PPO's policy-step fields."""

    pi_lr: float
    pi_iters: int
    pi_minibatches: int
    clip_ratio: float
    target_kl: float
    kl_margin: float

    def validate(self) -> None:
        super().validate()
        self.check_minibatches("pi_minibatches")


def combine(reward_term: Array, cost_term: Array, penalty: Array, norm: str) -> Array:
    """Penalized combination of a reward and a cost term with multiplier `penalty`."""
    if norm == "sum":
        return (reward_term - penalty * cost_term) / (1.0 + penalty)
    if norm == "diff":
        return (1.0 - penalty) * reward_term - penalty * cost_term
    return reward_term - penalty * cost_term


def penalized_surrogate(
    ratio: Array,
    adv_r: Array,
    adv_c: Array,
    penalty: Array,
    clip_ratio: float,
    objective: str = "ssa",
    norm: str = "sum",
) -> Array:
    """The objective to maximise (a scalar); see the module docstring for the variants."""
    clipped = jnp.clip(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio)
    if objective == "combined":
        adv = combine(adv_r, adv_c, penalty, norm)
        return jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    surr_r = jnp.mean(jnp.minimum(ratio * adv_r, clipped * adv_r))
    if objective == "pessimistic":
        surr_c = jnp.mean(jnp.maximum(ratio * adv_c, clipped * adv_c))
    else:
        surr_c = jnp.mean(ratio * adv_c)
    return combine(surr_r, surr_c, penalty, norm)


@dataclasses.dataclass(frozen=True)
class PPOPolicy:
    """PPO's policy step (a `PolicyRule`), with KL early stopping; its input ``penalty`` is the
    multiplier lambda >= 0 of a `Multiplier` strategy (agents/common/lagrange.py)."""

    lr: float
    iters: int
    clip_ratio: float
    target_kl: float
    kl_margin: float
    num_minibatches: int = 1
    max_grad_norm: float | None = None
    objective: str = "ssa"
    norm: str = "sum"

    OBJECTIVES: ClassVar[tuple[str, ...]] = ("ssa", "pessimistic", "combined")

    def __post_init__(self):
        if self.objective not in self.OBJECTIVES:
            raise ValueError(f"objective {self.objective!r}; valid: {', '.join(self.OBJECTIVES)}")

    def _opt(self) -> optax.GradientTransformation:
        return adam(self.lr, self.max_grad_norm)

    def init(self, actor_params: Any) -> Any:
        return self._opt().init(actor_params)

    def update(
        self,
        actor_apply: Callable[[Any, Array], tuple[Array, Array]],
        actor_params: Any,
        opt_state: Any,
        batch: Batch,
        penalty: Array,
        key: Array,
    ) -> tuple[Any, Any, Metrics]:
        penalty = jax.lax.stop_gradient(penalty)
        old_log_std = actor_apply(actor_params, batch.obs[:1])[1][0]

        def kl_to_old(mean: Array, log_std: Array, old_mean: Array) -> Array:
            return jnp.mean(gaussian_kl(old_mean, old_log_std, mean, log_std))

        def loss_fn(p: Any, mb: Batch) -> tuple[Array, Array]:
            mean, log_std = actor_apply(p, mb.obs)
            ratio = jnp.exp(gaussian_log_prob(mean, log_std, mb.action) - mb.log_prob)
            surr = penalized_surrogate(
                ratio, mb.adv_r, mb.adv_c, penalty, self.clip_ratio, self.objective, self.norm
            )
            return -surr, kl_to_old(mean, log_std, mb.mean)

        def sgd_step(carry: tuple[Any, Any], mb: Batch) -> tuple[tuple[Any, Any], Any]:
            p, s = carry
            (loss, kl), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, mb)
            upd, s = self._opt().update(grads, s, p)
            return (optax.apply_updates(p, upd), s), (loss, kl)

        def cond(c: tuple) -> Array:
            i, _, _, stop, _ = c
            return (i < self.iters) & ~stop

        def body(c: tuple) -> tuple:
            i, p, s, _, first_loss = c
            mbs = minibatches(jax.random.fold_in(key, i), batch, self.num_minibatches)
            (p, s), (loss, kl) = jax.lax.scan(sgd_step, (p, s), mbs)
            # As SSA: the KL measured before the step decides; the step is kept.
            stop = jnp.mean(kl) > self.kl_margin * self.target_kl
            first_loss = jnp.where(i == 0, jnp.mean(loss), first_loss)
            return i + 1, p, s, stop, first_loss

        zero = jnp.zeros((), jnp.float32)
        init = (jnp.zeros((), jnp.int32), actor_params, opt_state, jnp.zeros((), bool), zero)
        iters, params, opt_state, _, loss_pi = jax.lax.while_loop(cond, body, init)
        mean, log_std = actor_apply(params, batch.obs)
        metrics = {
            "loss_pi": loss_pi,
            "kl": kl_to_old(mean, log_std, batch.mean),
            "pi_iters": iters,
            "entropy": jnp.mean(gaussian_entropy(log_std)),
            "std": jnp.mean(jnp.exp(log_std)),
        }
        return params, opt_state, metrics


def policy_from_config(config: Config, objective: str = "ssa", norm: str = "sum") -> PPOPolicy:
    """The PPO policy rule with `config`'s hyperparameters."""
    return PPOPolicy(
        lr=config.pi_lr,
        iters=config.pi_iters,
        clip_ratio=config.clip_ratio,
        target_kl=config.target_kl,
        kl_margin=config.kl_margin,
        num_minibatches=config.pi_minibatches,
        max_grad_norm=config.max_grad_norm,
        objective=objective,
        norm=norm,
    )


def default_config(**overrides: Any) -> Config:
    """configs/ppo.yaml with `overrides` applied."""
    return load_config(Config, DEFAULT_CONFIG, overrides)


def make_train(config: Config, env: Any) -> Learner:
    """Unconstrained PPO on `env`."""
    return Learner(config, env, policy_from_config(config), Unconstrained(), HYPERPARAMS)
