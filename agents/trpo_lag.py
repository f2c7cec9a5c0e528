"""TRPO-Lagrangian: TRPO on the penalized objective, lambda by gradient ascent on J_c - d.

The multiplier is the shared `Lagrangian` strategy with SSA's defaults (configs/trpo_lag.yaml):
lambda = softplus(p), lambda_0 = 1, one Adam step (lr 0.05) on -p * (J_c - d) per update,
updated before the policy step. The policy step is TRPO's on
(mean(ratio A_r) - lambda mean(ratio A_c)) / (1 + lambda) (SSA `TRPOAgent` with
`objective_penalized=True`). `lagrangian=clamp lambda_init=0.001 lambda_lr=0.035` gives
OmniSafe's TRPOLag multiplier.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from agents import trpo
from agents.common.config import load_config
from agents.common.lagrange import Lagrangian
from agents.common.train import Learner

DEFAULT_CONFIG = "trpo_lag.yaml"
HYPERPARAMS = {
    **trpo.HYPERPARAMS,
    "cost_limit": ("constraint", "cost_limit"),
    "lambda_lr": ("constraint", "lr"),
}
TRAINING_INERT: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config(trpo.Config):
    """TRPO's config plus the multiplier."""

    lagrangian: str
    lambda_init: float
    lambda_lr: float

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"lagrangian": ("softplus", "clamp")}


def default_config(**overrides: Any) -> Config:
    """configs/trpo_lag.yaml with ``overrides`` applied."""
    return load_config(Config, DEFAULT_CONFIG, overrides)


def make_train(config: Config, env: Any) -> Learner:
    """TRPO-Lagrangian on ``env``."""
    strategy = Lagrangian(
        cost_limit=config.cost_limit,
        lr=config.lambda_lr,
        lambda_init=config.lambda_init,
        parameterization=config.lagrangian,
    )
    return Learner(config, env, trpo.policy_from_config(config), strategy, HYPERPARAMS)
