"""Multiplier strategies: direction of the Lagrangian step, and PID terms on a worked sequence."""

import math

import numpy as np
import pytest

from agents.common.lagrange import Lagrangian, PIDLagrangian, Unconstrained


def _run(strategy, costs):
    state, out = strategy.init(), []
    for c in costs:
        state = strategy.update(state, c)
        out.append(float(strategy.penalty(state)))
    return out


def test_ssa_multiplier_starts_at_one_and_rises_over_the_limit():
    s = Lagrangian(cost_limit=25.0, lr=0.05, lambda_init=1.0)
    assert float(s.penalty(s.init())) == pytest.approx(1.0, rel=1e-6)
    lams = _run(s, [40.0] * 5)
    assert all(b > a for a, b in zip([1.0] + lams, lams, strict=False))
    # Adam's first step is lr * sign(grad): p = softplus^-1(1) + 0.05.
    p0 = math.log(math.e - 1.0)
    assert lams[0] == pytest.approx(math.log1p(math.exp(p0 + 0.05)), rel=1e-5)


def test_ssa_multiplier_falls_under_the_limit_and_stays_positive():
    s = Lagrangian(cost_limit=25.0, lr=0.05, lambda_init=1.0)
    lams = _run(s, [5.0] * 200)
    assert all(b < a for a, b in zip([1.0] + lams, lams, strict=False))
    assert min(lams) > 0.0


def test_clamped_multiplier_never_goes_below_zero():
    s = Lagrangian(cost_limit=25.0, lr=0.035, lambda_init=0.001, parameterization="clamp")
    lams = _run(s, [40.0] * 3 + [0.0] * 20)
    assert lams[0] > 0.001 and lams[1] > lams[0] and lams[2] > lams[1]
    assert min(lams) == 0.0 and lams[-1] == 0.0


def test_pid_worked_sequence():
    # kp 1, ki 0.5, kd 2, d_delay 2, EMAs 0.5, limit 10, I0 = 0, J_c = 20, 30, 0, 0, 0:
    # n1: delta 10, I 5, P 5, D_ema 10, D = 10 - 0 = 10      -> 5 + 5 + 20 = 30
    # n2: delta 20, I 15, P 12.5, D_ema 20, D = 20 - 0 = 20  -> 12.5 + 15 + 40 = 67.5
    # n3: delta -10, I 10, P 1.25, D_ema 10, D = max(0, 10 - 10) -> 11.25
    # n4: delta -10, I 5, P -4.375, D_ema 5, D = max(0, 5 - 20)  -> 0.625
    # n5: delta -10, I 0, P -7.1875, D_ema 2.5                    -> max(0, -7.19) = 0
    s = PIDLagrangian(
        cost_limit=10.0, kp=1.0, ki=0.5, kd=2.0, d_delay=2, alpha_p=0.5, alpha_d=0.5,
        lambda_init=0.0,
    )  # fmt: skip
    np.testing.assert_allclose(
        _run(s, [20.0, 30.0, 0.0, 0.0, 0.0]), [30.0, 67.5, 11.25, 0.625, 0.0], atol=1e-5
    )


def test_pid_integral_only_is_a_clipped_integrator():
    s = PIDLagrangian(cost_limit=25.0, kp=0.0, ki=0.01, kd=0.0, lambda_init=0.001)
    np.testing.assert_allclose(_run(s, [35.0, 35.0, 5.0]), [0.101, 0.201, 0.001], atol=1e-6)


def test_pid_diff_norm_keeps_lambda_in_unit_interval():
    s = PIDLagrangian(cost_limit=25.0, ki=1.0, norm="diff")
    lams = _run(s, [100.0] * 5)
    assert max(lams) == 1.0


def test_unconstrained_is_zero():
    assert _run(Unconstrained(), [100.0, 0.0]) == [0.0, 0.0]


@pytest.mark.parametrize(
    "strategy",
    [Unconstrained(), Lagrangian(cost_limit=25.0), PIDLagrangian(cost_limit=25.0)],
    ids=["unconstrained", "lagrangian", "pid"],
)
def test_the_policy_reads_lambda_and_lambda_is_logged(strategy):
    state = strategy.update(strategy.init(), 40.0)
    lam = float(strategy.penalty(state))
    assert lam >= 0.0
    assert float(strategy.policy_input(state)) == lam
    assert {k: float(v) for k, v in strategy.metrics(state).items()} == {"lambda": lam}


def test_bad_strategy_options_are_errors():
    with pytest.raises(ValueError, match="softplus, clamp"):
        Lagrangian(cost_limit=25.0, parameterization="exp")
    with pytest.raises(ValueError, match="lambda_init > 0"):
        Lagrangian(cost_limit=25.0, lambda_init=0.0)
    with pytest.raises(ValueError, match="sum, diff, none"):
        PIDLagrangian(cost_limit=25.0, norm="max")
