"""CPO (Achiam et al. 2017): the trust-region step that also keeps the linearised cost in bounds.

The policy step follows safety-starter-agents' `CPOAgent` (spec ALGORITHMS.md 1.9): ``g`` is the
gradient of the reward surrogate loss (standardised advantages), ``b`` the gradient of the cost
surrogate ``mean(ratio A_c)`` (cost advantages centred, not scaled), ``c`` the constraint offset;
the four-case dual solution and the infeasible-recovery step are `agents.common.cpo`; the
backtracking line search accepts a candidate when the KL is within ``delta``, the reward loss has
not risen (cases 2-4) and the cost surrogate rose by at most ``max(-c, 0)``; when nothing passes
the policy is left unchanged.

CPO has no Lagrange multiplier of a penalized objective, so it logs no ``lambda``; its values
have names of their own: ``cpo_c`` (the offset ``c``), ``cpo_case`` (0-4, as SSA numbers them),
``cpo_lambda`` and ``cpo_nu`` (the dual variables of the step's subproblem: the trust-region and
the cost multipliers, `agents.common.cpo.CPODual`; SSA logs ``nu`` as "Penalty").

The offset ``c`` comes from the constraint strategy `ConstraintOffset` (its state is J_c), which
hands it to the policy rule as its `policy_input` (agents/common/train.py: the strategy and the
rule are a pair, and for this pair the value is ``c``, of either sign):

* ``cpo_offset: ssa``: ``c = (J_c - d) / (L + 1e-8)`` as SSA, whose ``L`` is the
  mean episode length; here ``L`` is the environment's time limit, which equals SSA's mean
  whenever episodes run to the limit (always for Safety Gym's tasks, which have no terminal
  states; in safejax only a physics error or a failed goal resampling ends one early).
* ``cpo_offset: omnisafe`` (default): ``c = J_c - d`` (OmniSafe's `cpo.py`, no per-step
  rescaling).

``cpo_margin`` (a fraction of the cost limit, default 0.15) moves the target of the linearised
constraint below the limit: ``d`` above becomes ``(1 - cpo_margin) * cost_limit``. CPO's
linearised step overshoots: with no margin it ended 1.8 above the limit of 25 on PointGoal1
(3 seeds x 1e7 steps, evaluation J_c 26.77; docs/results/README.md), alternating feasible steps
that exceed the limit with recovery steps. The margin is a safejax setting, not the reference
code's (``cpo_margin=0`` restores it); the reported "meets limit" is always against
``cost_limit`` itself.

``J_c`` is the mean cost of the episodes completed in the batch, as the other learners use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from agents import trpo
from agents.common.config import load_config
from agents.common.cpo import cpo_accept, cpo_step
from agents.common.train import Batch, Learner, Metrics
from agents.common.trust_region import EPS, backtracking_line_search, fisher_vector_product

Array = jax.Array

DEFAULT_CONFIG = "cpo.yaml"
OFFSETS = ("ssa", "omnisafe")
HYPERPARAMS = {
    **trpo.HYPERPARAMS,
    "cost_limit": ("constraint", "cost_limit"),
    "cpo_margin": ("constraint", "margin"),
}
TRAINING_INERT: tuple[str, ...] = ()
# Config fields added later, with the value the code before them had: a run directory written
# then (no `cpo_margin` in its config.yaml) resumes and loads as it trained.
FORMER_VALUES = {"cpo_margin": 0.0}
# metrics.csv columns of runs written before CPO's values had names of their own: resuming such
# a run renames them (agents/runfiles.py `truncate_csv`).
RENAMED_METRICS = {"lambda": "cpo_lambda", "nu": "cpo_nu"}


@dataclasses.dataclass(frozen=True)
class Config(trpo.Config):
    """TRPO's config plus the choice of constraint offset and its margin."""

    cpo_offset: str
    cpo_margin: float

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"cpo_offset": OFFSETS}

    def validate(self) -> None:
        """TRPO's checks plus the margin's range."""
        super().validate()
        if not 0.0 <= self.cpo_margin < 1.0:
            raise ValueError(f"cpo_margin must be in [0, 1), got {self.cpo_margin}")


@dataclasses.dataclass(frozen=True)
class ConstraintOffset:
    """Constraint strategy whose state is J_c and whose `offset` is CPO's ``c``, handed to
    `CPOPolicy` as its `policy_input` and logged as ``cpo_c``.

    ``c = (J_c - target) / (episode_length + 1e-8)`` with ``target = (1 - margin) * cost_limit``;
    ``episode_length = None`` gives the undivided ``J_c - target``. Before the first completed
    episode J_c is taken as 0.
    """

    cost_limit: float
    episode_length: float | None = None
    margin: float = 0.0

    def __post_init__(self):
        if self.episode_length is not None and not self.episode_length > 0:
            raise ValueError(f"episode_length must be > 0, got {self.episode_length}")

    def init(self) -> Array:
        return jnp.zeros((), jnp.float32)

    def update(self, state: Array, ep_cost: Array) -> Array:
        return jnp.asarray(ep_cost, jnp.float32)

    def offset(self, state: Array) -> Array:
        violation = state - (1.0 - self.margin) * self.cost_limit
        if self.episode_length is None:
            return violation
        return violation / (self.episode_length + EPS)

    def policy_input(self, state: Array) -> Array:
        return self.offset(state)

    def metrics(self, state: Array) -> Metrics:
        return {"cpo_c": self.offset(state)}


@dataclasses.dataclass(frozen=True)
class CPOPolicy:
    """CPO's policy step (a `PolicyRule`); its input ``offset`` is the constraint offset ``c``."""

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
        offset: Array,
        key: Array,
    ) -> tuple[Any, Any, Metrics]:
        c = jax.lax.stop_gradient(offset)
        sur = trpo.surrogates(actor_apply, actor_params, batch)

        def with_loss(stats: dict[str, Array]) -> dict[str, Array]:
            return {**stats, "loss": -stats["surr_r"]}

        def objectives(theta: Array) -> tuple[Array, dict[str, Array]]:
            stats = with_loss(sur.evaluate(theta))
            return jnp.stack([stats["loss"], stats["surr_c"]]), stats

        # Both gradients from one forward pass: rows are d(loss)/d(theta), d(surr_c)/d(theta).
        jac, old = jax.jacrev(objectives, has_aux=True)(sur.flat)
        g, b = jac[0], jac[1]
        hvp = fisher_vector_product(sur.kl, sur.flat, self.cg_damping)
        sol = cpo_step(g, b, c, self.target_kl, hvp, self.cg_iters)

        def accept(stats: dict[str, Array]) -> Array:
            return cpo_accept(
                sol.case,
                stats["kl"],
                stats["loss"],
                old["loss"],
                stats["surr_c"],
                old["surr_c"],
                c,
                self.target_kl,
            )

        result = backtracking_line_search(
            lambda theta: with_loss(sur.evaluate(theta)),
            accept,
            sur.flat,
            sol.step,
            old,
            self.backtrack_coeff,
            self.backtrack_iters,
        )
        params = sur.unravel(result.params)
        metrics = {
            "loss_pi": old["loss"],
            "delta_loss_pi": result.stats["loss"] - old["loss"],
            "surr_cost": old["surr_c"],
            "delta_surr_cost": result.stats["surr_c"] - old["surr_c"],
            "kl": result.stats["kl"],
            "backtrack": result.index,
            "cpo_case": sol.case,
            "cpo_lambda": sol.lam,
            "cpo_nu": sol.nu,
            **trpo.policy_metrics(actor_apply, params, batch),
        }
        return params, opt_state, metrics


def policy_from_config(config: Config) -> CPOPolicy:
    """The CPO policy rule with ``config``'s hyperparameters."""
    return CPOPolicy(
        target_kl=config.target_kl,
        cg_iters=config.cg_iters,
        cg_damping=config.cg_damping,
        backtrack_coeff=config.backtrack_coeff,
        backtrack_iters=config.backtrack_iters,
    )


def constraint_from_config(config: Config, env: Any) -> ConstraintOffset:
    """The offset strategy for ``config.cpo_offset``; SSA's divides by ``env.num_steps``."""
    if config.cpo_offset == "omnisafe":
        return ConstraintOffset(config.cost_limit, None, config.cpo_margin)
    if not isinstance(getattr(env, "num_steps", None), int):
        raise ValueError(
            "cpo_offset=ssa divides by the episode length: the environment must have an integer "
            "num_steps (its time limit); use cpo_offset=omnisafe otherwise"
        )
    return ConstraintOffset(config.cost_limit, float(env.num_steps), config.cpo_margin)


def default_config(**overrides: Any) -> Config:
    """configs/cpo.yaml with ``overrides`` applied."""
    return load_config(Config, DEFAULT_CONFIG, overrides)


def make_train(config: Config, env: Any) -> Learner:
    """CPO on ``env``."""
    return Learner(
        config, env, policy_from_config(config), constraint_from_config(config, env), HYPERPARAMS
    )
