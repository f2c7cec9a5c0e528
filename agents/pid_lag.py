"""PID-Lagrangian PPO (Stooke, Achiam and Abbeel 2020; OmniSafe's CPPOPID).

lambda follows a PID controller on J_c - d (agents/common/lagrange.py, `PIDLagrangian`) instead
of gradient ascent. Defaults (configs/pid_lag.yaml) are OmniSafe's gains Kp 0.1, Ki 0.01,
Kd 0.01, d_delay 10, EMA 0.95 on unscaled costs, with the "sum" normalisation (objective divided
by 1 + lambda) and Stooke's pessimistically clipped cost surrogate.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from agents import ppo
from agents.common.config import load_config
from agents.common.lagrange import PIDLagrangian
from agents.common.train import Learner

DEFAULT_CONFIG = "pid_lag.yaml"
HYPERPARAMS = {
    **ppo.HYPERPARAMS,
    "cost_limit": ("constraint", "cost_limit"),
    "pid_kp": ("constraint", "kp"),
    "pid_ki": ("constraint", "ki"),
    "pid_kd": ("constraint", "kd"),
}
TRAINING_INERT: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config(ppo.Config):
    """PPO's config plus the PID controller and the penalized objective."""

    pid_kp: float
    pid_ki: float
    pid_kd: float
    pid_d_delay: int
    pid_alpha_p: float
    pid_alpha_d: float
    lambda_init: float
    pid_norm: str
    penalty_max: float
    penalty_objective: str

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "pid_norm": ("sum", "diff", "none"),
        "penalty_objective": ppo.PPOPolicy.OBJECTIVES,
    }


def default_config(**overrides: Any) -> Config:
    """configs/pid_lag.yaml with `overrides` applied."""
    return load_config(Config, DEFAULT_CONFIG, overrides)


def make_train(config: Config, env: Any) -> Learner:
    """PID-Lagrangian PPO on `env`."""
    strategy = PIDLagrangian(
        cost_limit=config.cost_limit,
        kp=config.pid_kp,
        ki=config.pid_ki,
        kd=config.pid_kd,
        d_delay=config.pid_d_delay,
        alpha_p=config.pid_alpha_p,
        alpha_d=config.pid_alpha_d,
        lambda_init=config.lambda_init,
        norm=config.pid_norm,
        penalty_max=config.penalty_max,
    )
    policy = ppo.policy_from_config(
        config, objective=config.penalty_objective, norm=config.pid_norm
    )
    return Learner(config, env, policy, strategy, HYPERPARAMS)
