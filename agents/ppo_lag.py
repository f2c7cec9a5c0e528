"""PPO-Lagrangian: PPO on the penalized objective, lambda by gradient ascent on J_c - d.

Defaults are safety-starter-agents' (configs/ppo_lag.yaml): lambda = softplus(p), lambda_0 = 1,
one Adam step (lr 0.05) on -p * (J_c - d) per update, and the objective
(clip_surr(A_r) - lambda * mean(ratio * A_c)) / (1 + lambda). `lagrangian=clamp` with
`lambda_init=0.001 lambda_lr=0.035 penalty_objective=combined` gives OmniSafe's PPOLag rule.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from agents import ppo
from agents.common.config import load_config
from agents.common.lagrange import Lagrangian
from agents.common.train import Learner

DEFAULT_CONFIG = "ppo_lag.yaml"
HYPERPARAMS = {
    **ppo.HYPERPARAMS,
    "cost_limit": ("constraint", "cost_limit"),
    "lambda_lr": ("constraint", "lr"),
}
TRAINING_INERT: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config(ppo.Config):
    """PPO's config plus the multiplier and the penalized objective."""

    lagrangian: str
    lambda_init: float
    lambda_lr: float
    penalty_objective: str

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "lagrangian": ("softplus", "clamp"),
        "penalty_objective": ppo.PPOPolicy.OBJECTIVES,
    }


def default_config(**overrides: Any) -> Config:
    """configs/ppo_lag.yaml with `overrides` applied."""
    return load_config(Config, DEFAULT_CONFIG, overrides)


def make_train(config: Config, env: Any) -> Learner:
    """PPO-Lagrangian on `env`."""
    strategy = Lagrangian(
        cost_limit=config.cost_limit,
        lr=config.lambda_lr,
        lambda_init=config.lambda_init,
        parameterization=config.lagrangian,
    )
    policy = ppo.policy_from_config(config, objective=config.penalty_objective)
    return Learner(config, env, policy, strategy, HYPERPARAMS)
