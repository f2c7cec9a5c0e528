"""TRPO: a natural-gradient step on the surrogate, sized to the KL trust region, backtracked.

The policy step follows safety-starter-agents' `TRPOAgent` (spec ALGORITHMS.md 1.7):
``x = CG(H, g)`` with ``H`` the damped Hessian of the mean KL and ``g`` the gradient of the
surrogate loss, step ``-sqrt(2 delta / x^T H x) x``, then ``0.8**j`` backtracking until the KL is
within ``delta`` and the loss has not risen; when nothing passes the policy is left unchanged.
The surrogate is SSA's penalized objective ``(mean(ratio A_r) - lambda mean(ratio A_c)) /
(1 + lambda)`` (no clipping), so TRPO-Lagrangian only swaps in a multiplier; plain TRPO has
lambda = 0. Rollout, GAE, critics and the multiplier are the shared learner's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from agents.common.config import BaseConfig, load_config
from agents.common.lagrange import Unconstrained
from agents.common.networks import gaussian_entropy, gaussian_log_prob
from agents.common.train import Batch, Learner, Metrics
from agents.common.trust_region import (
    backtracking_line_search,
    conjugate_gradient,
    fisher_vector_product,
    flatten_params,
    mean_gaussian_kl,
    trust_region_step_size,
)

Array = jax.Array

DEFAULT_CONFIG = "trpo.yaml"
# Config fields read from the train state at every update (vmappable: `Learner.hyper`).
HYPERPARAMS = {"target_kl": ("policy", "target_kl")}
# Config fields that do not change what an unconstrained learner trains (only plots use them).
TRAINING_INERT = ("cost_limit",)


@dataclasses.dataclass(frozen=True)
class Config(BaseConfig):
    """BaseConfig plus the trust-region step's fields."""

    target_kl: float
    cg_iters: int
    cg_damping: float
    backtrack_coeff: float
    backtrack_iters: int

    def validate(self) -> None:
        """BaseConfig's checks plus the trust-region ranges."""
        super().validate()
        if not self.target_kl > 0:
            raise ValueError(f"target_kl must be > 0, got {self.target_kl}")
        for name in ("cg_iters", "backtrack_iters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cg_damping < 0:
            raise ValueError(f"cg_damping must be >= 0, got {self.cg_damping}")
        if not 0.0 < self.backtrack_coeff < 1.0:
            raise ValueError(f"backtrack_coeff must be in (0, 1), got {self.backtrack_coeff}")


@dataclasses.dataclass(frozen=True)
class Surrogates:
    """The batch's surrogates as functions of the flat policy parameters.

    ``evaluate(theta)`` gives ``surr_r = mean(ratio A_r)``, ``surr_c = mean(ratio A_c)`` and
    ``kl = mean KL(pi_theta || pi_old)`` in one forward pass; ``kl`` alone feeds the Fisher
    product. ``pi_old`` is the policy at ``flat`` (the parameters that collected the batch).
    """

    flat: Array
    unravel: Callable[[Array], Any]
    evaluate: Callable[[Array], dict[str, Array]]
    kl: Callable[[Array], Array]


def surrogates(
    actor_apply: Callable[[Any, Array], tuple[Array, Array]], actor_params: Any, batch: Batch
) -> Surrogates:
    """Builds the surrogate and KL functions of ``batch`` around ``actor_params``."""
    flat, unravel = flatten_params(actor_params)
    mean_old, log_std_old = jax.lax.stop_gradient(actor_apply(actor_params, batch.obs))

    def dist(theta: Array) -> tuple[Array, Array]:
        return actor_apply(unravel(theta), batch.obs)

    def kl(theta: Array) -> Array:
        mean, log_std = dist(theta)
        return mean_gaussian_kl(mean, log_std, mean_old, log_std_old)

    def evaluate(theta: Array) -> dict[str, Array]:
        mean, log_std = dist(theta)
        ratio = jnp.exp(gaussian_log_prob(mean, log_std, batch.action) - batch.log_prob)
        return {
            "surr_r": jnp.mean(ratio * batch.adv_r),
            "surr_c": jnp.mean(ratio * batch.adv_c),
            "kl": mean_gaussian_kl(mean, log_std, mean_old, log_std_old),
        }

    return Surrogates(flat=flat, unravel=unravel, evaluate=evaluate, kl=kl)


def policy_metrics(actor_apply: Callable, params: Any, batch: Batch) -> Metrics:
    """Entropy and mean std of the updated policy (the PPO family logs the same)."""
    _, log_std = actor_apply(params, batch.obs[:1])
    return {
        "entropy": jnp.mean(gaussian_entropy(log_std)),
        "std": jnp.mean(jnp.exp(log_std)),
    }


@dataclasses.dataclass(frozen=True)
class TRPOPolicy:
    """TRPO's policy step (a `PolicyRule`) on the penalized surrogate; no optimizer state. Its
    input ``penalty`` is the multiplier lambda >= 0 of a `Multiplier` strategy."""

    target_kl: float
    cg_iters: int = 10
    cg_damping: float = 0.1
    backtrack_coeff: float = 0.8
    backtrack_iters: int = 10

    def init(self, actor_params: Any) -> Any:
        return ()

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
        sur = surrogates(actor_apply, actor_params, batch)

        def with_loss(stats: dict[str, Array]) -> dict[str, Array]:
            # SSA's penalized objective, negated into a loss.
            loss = -(stats["surr_r"] - penalty * stats["surr_c"]) / (1.0 + penalty)
            return {**stats, "loss": loss}

        def loss_fn(theta: Array) -> tuple[Array, dict[str, Array]]:
            stats = with_loss(sur.evaluate(theta))
            return stats["loss"], stats

        (_, old), g = jax.value_and_grad(loss_fn, has_aux=True)(sur.flat)
        hvp = fisher_vector_product(sur.kl, sur.flat, self.cg_damping)
        x = conjugate_gradient(hvp, g, self.cg_iters)
        alpha = trust_region_step_size(x, hvp(x), self.target_kl)

        def accept(stats: dict[str, Array]) -> Array:
            return (stats["kl"] <= self.target_kl) & (stats["loss"] <= old["loss"])

        result = backtracking_line_search(
            lambda theta: with_loss(sur.evaluate(theta)),
            accept,
            sur.flat,
            -alpha * x,
            old,
            self.backtrack_coeff,
            self.backtrack_iters,
        )
        params = sur.unravel(result.params)
        metrics = {
            "loss_pi": old["loss"],
            "delta_loss_pi": result.stats["loss"] - old["loss"],
            "kl": result.stats["kl"],
            "backtrack": result.index,
            **policy_metrics(actor_apply, params, batch),
        }
        return params, opt_state, metrics


def policy_from_config(config: Config) -> TRPOPolicy:
    """The TRPO policy rule with ``config``'s hyperparameters."""
    return TRPOPolicy(
        target_kl=config.target_kl,
        cg_iters=config.cg_iters,
        cg_damping=config.cg_damping,
        backtrack_coeff=config.backtrack_coeff,
        backtrack_iters=config.backtrack_iters,
    )


def default_config(**overrides: Any) -> Config:
    """configs/trpo.yaml with ``overrides`` applied."""
    return load_config(Config, DEFAULT_CONFIG, overrides)


def make_train(config: Config, env: Any) -> Learner:
    """Unconstrained TRPO on ``env``."""
    return Learner(config, env, policy_from_config(config), Unconstrained(), HYPERPARAMS)
