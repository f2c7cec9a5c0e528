"""Multiplier strategies: how the cost multiplier lambda follows the episodic cost J_c.

Each strategy is a `ConstraintStrategy` (agents/common/train.py): a small frozen (hashable,
static) object with pure methods over a state pytree that lives in the train state:

    state = strategy.init()
    state = strategy.update(state, J_c)      # once per update, before the policy step
    lam = strategy.penalty(state)            # lambda >= 0 used in the penalized objective

Paired with the penalized objectives of agents/ppo.py and agents/trpo.py: the policy rule reads
lambda (`policy_input` is `penalty`), and lambda is logged as the metric `lambda`.

`Lagrangian` is gradient ascent on the multiplier (safety-starter-agents by default, OmniSafe as
an option); `PIDLagrangian` is Stooke, Achiam and Abbeel's PID control of lambda (their rlpyt code
and OmniSafe's `pid_lagrange.py` define the same rule); `Unconstrained` keeps lambda = 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
Metrics = dict[str, Array]


class Multiplier:
    """What every multiplier strategy shares: its `penalty` (lambda >= 0) is what the policy rule
    reads and what is logged as `lambda`."""

    def penalty(self, state: Any) -> Array:
        raise NotImplementedError

    def policy_input(self, state: Any) -> Array:
        return self.penalty(state)

    def metrics(self, state: Any) -> Metrics:
        return {"lambda": self.penalty(state)}


@dataclasses.dataclass(frozen=True)
class Unconstrained(Multiplier):
    """lambda = 0 forever (plain PPO and TRPO: the penalized objective without its penalty)."""

    def init(self) -> Array:
        return jnp.zeros((), jnp.float32)

    def update(self, state: Array, ep_cost: Array) -> Array:
        return state

    def penalty(self, state: Array) -> Array:
        return jnp.zeros((), jnp.float32)


@dataclasses.dataclass(frozen=True)
class Lagrangian(Multiplier):
    """One Adam step per update on the loss -x * (J_c - d).

    `parameterization`:
      "softplus" (safety-starter-agents): x = p is a raw parameter, lambda = softplus(p),
        p0 = softplus^-1(lambda_init). Adam normalises the step, so p moves by about `lr` per
        update whatever the size of the violation.
      "clamp" (OmniSafe `common/lagrange.py`): x = lambda itself, clamped to [0, inf) after the
        step (OmniSafe uses lambda_init 0.001, lr 0.035).
    """

    cost_limit: float
    lr: float = 0.05
    lambda_init: float = 1.0
    parameterization: str = "softplus"

    def __post_init__(self):
        if self.parameterization not in ("softplus", "clamp"):
            raise ValueError(
                f"lagrangian parameterization {self.parameterization!r}; valid: softplus, clamp"
            )
        if self.parameterization == "softplus" and self.lambda_init <= 0:
            raise ValueError("softplus multiplier needs lambda_init > 0")
        if self.lambda_init < 0:
            raise ValueError("lambda_init must be >= 0")

    def _opt(self) -> optax.GradientTransformation:
        return optax.adam(self.lr)

    def init(self) -> dict[str, Any]:
        if self.parameterization == "softplus":
            x0 = math.log(math.expm1(self.lambda_init))
        else:
            x0 = self.lambda_init
        x = jnp.asarray(x0, jnp.float32)
        return {"x": x, "opt": self._opt().init(x)}

    def update(self, state: dict[str, Any], ep_cost: Array) -> dict[str, Any]:
        # d/dx of -x * (J_c - d): the multiplier rises while J_c > d and falls while J_c < d.
        grad = -(jnp.asarray(ep_cost, jnp.float32) - self.cost_limit)
        step, opt = self._opt().update(grad, state["opt"], state["x"])
        x = optax.apply_updates(state["x"], step)
        if self.parameterization == "clamp":
            x = jnp.maximum(x, 0.0)
        return {"x": x, "opt": opt}

    def penalty(self, state: dict[str, Any]) -> Array:
        if self.parameterization == "softplus":
            return jax.nn.softplus(state["x"])
        return state["x"]


@dataclasses.dataclass(frozen=True)
class PIDLagrangian(Multiplier):
    """PID control of lambda (Stooke et al. 2020, ALGORITHMS.md section 5).

    Per update, with delta = J_c - d:
      I <- max(0, I + ki * delta)                  (clipped to [0, 1] under norm "diff")
      P <- alpha_p * P + (1 - alpha_p) * delta     (EMA of the error)
      D_ema <- alpha_d * D_ema + (1 - alpha_d) * J_c
      D = max(0, D_ema - D_ema from d_delay updates ago)   (0 before the first update)
      lambda = max(0, kp * P + I + kd * D)
    then lambda <= 1 under norm "diff", lambda <= penalty_max under norm "none". I starts at
    `lambda_init` (OmniSafe).
    """

    cost_limit: float
    kp: float = 0.1
    ki: float = 0.01
    kd: float = 0.01
    d_delay: int = 10
    alpha_p: float = 0.95
    alpha_d: float = 0.95
    lambda_init: float = 0.001
    norm: str = "sum"
    penalty_max: float = 100.0

    def __post_init__(self):
        if self.norm not in ("sum", "diff", "none"):
            raise ValueError(f"pid norm {self.norm!r}; valid: sum, diff, none")
        if self.d_delay < 1:
            raise ValueError("d_delay must be >= 1")

    def init(self) -> dict[str, Array]:
        f = jnp.float32
        i0 = jnp.asarray(max(0.0, self.lambda_init), f)
        return {
            "i": i0,
            "p": jnp.zeros((), f),
            "d_ema": jnp.zeros((), f),
            # EMA values of the last d_delay updates, oldest first (zeros before the start).
            "d_hist": jnp.zeros((self.d_delay,), f),
            "lambda": self._clip(i0),
        }

    def _clip(self, lam: Array) -> Array:
        lam = jnp.maximum(lam, 0.0)
        if self.norm == "diff":
            return jnp.minimum(lam, 1.0)
        if self.norm == "none":
            return jnp.minimum(lam, self.penalty_max)
        return lam

    def update(self, state: dict[str, Array], ep_cost: Array) -> dict[str, Array]:
        ep_cost = jnp.asarray(ep_cost, jnp.float32)
        delta = ep_cost - self.cost_limit
        i = jnp.maximum(0.0, state["i"] + self.ki * delta)
        if self.norm == "diff":
            i = jnp.minimum(i, 1.0)
        p = self.alpha_p * state["p"] + (1.0 - self.alpha_p) * delta
        d_ema = self.alpha_d * state["d_ema"] + (1.0 - self.alpha_d) * ep_cost
        d = jnp.maximum(0.0, d_ema - state["d_hist"][0])
        lam = self._clip(self.kp * p + i + self.kd * d)
        d_hist = jnp.concatenate([state["d_hist"][1:], d_ema[None]])
        return {"i": i, "p": p, "d_ema": d_ema, "d_hist": d_hist, "lambda": lam}

    def penalty(self, state: dict[str, Array]) -> Array:
        return state["lambda"]
