"""The trust-region learners (TRPO, TRPO-Lagrangian, CPO: every registered algorithm whose
policy step is a backtracking line search): they run, stay finite, are deterministic and keep
their steps inside the trust region.

The full learners run a few updates on the physics-free `FakeEnv`; the CPO policy rule is also
driven directly on a synthetic batch with chosen offsets ``c`` to pin down its cases.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import agents
from agents import cpo, trpo, trpo_lag
from agents.common.config import read_yaml
from agents.common.networks import Actor, gaussian_log_prob
from agents.common.train import Batch
from tests.fakes import FakeEnv

# CPO's case numbers as logged in `cpo_case` (SSA's numbering, spec ALGORITHMS.md 1.9).
INFEASIBLE_RECOVERY, FEASIBLE_RECOVERY, ALL_FEASIBLE = 0, 1, 3
# The registered algorithms whose policy step backtracks along a trust-region step.
TRUST_REGION = [
    name
    for name in agents.algorithm_names()
    if "backtrack_iters" in {f.name for f in dataclasses.fields(agents.get_algorithm(name).Config)}
]
NUM_UPDATES = 3
TINY = {
    "num_envs": 4,
    "rollout_len": 20,
    "total_steps": 4 * 20 * NUM_UPDATES,
    "hidden_sizes": [8],
    "vf_iters": 2,
    "cost_limit": 2.0,
}


@pytest.fixture(scope="module")
def env() -> FakeEnv:
    return FakeEnv(num_steps=20)


def test_the_trust_region_family_is_found(env):
    # The selection by config field finds learners whose policy rule does backtrack.
    assert TRUST_REGION
    for name in TRUST_REGION:
        module = agents.get_algorithm(name)
        rule = module.make_train(module.default_config(**TINY), env).policy
        assert rule.backtrack_iters == module.default_config().backtrack_iters >= 1


@pytest.fixture(scope="module", params=TRUST_REGION)
def trained(request, env):
    """(name, config, train function, final state, metrics) after NUM_UPDATES updates."""
    module = agents.get_algorithm(request.param)
    config = module.default_config(**TINY)
    train = jax.jit(module.make_train(config, env).train)
    ts, metrics = train(jax.random.key(0))
    return request.param, config, train, ts, metrics


def test_runs_and_stays_finite(trained):
    _, config, _, ts, metrics = trained
    assert metrics["update"].tolist() == list(range(1, NUM_UPDATES + 1))
    for key, value in metrics.items():
        assert bool(jnp.all(jnp.isfinite(value))), key
    for leaf in jax.tree.leaves(ts.actor):
        assert bool(jnp.all(jnp.isfinite(leaf)))
    backtrack = np.asarray(metrics["backtrack"])
    assert np.all((backtrack >= -1) & (backtrack < config.backtrack_iters))
    assert np.any(backtrack >= 0), "no update accepted a step"
    # An accepted step respects the trust region; a rejected one leaves KL 0.
    kl = np.asarray(metrics["kl"])
    assert np.all(kl <= config.target_kl)
    assert np.all(kl[backtrack == -1] == 0.0)
    # The surrogate loss never rises on a TRPO step (CPO: outside the recovery cases).
    rises = np.asarray(metrics["delta_loss_pi"]) > 0
    if "cpo_case" in metrics:
        case = np.asarray(metrics["cpo_case"])
        assert np.all((case >= 0) & (case <= 4))
        assert not np.any(rises & (case >= 2))
        for key in ("cpo_c", "cpo_lambda", "cpo_nu"):
            assert key in metrics
        # CPO has no multiplier of a penalized objective: nothing is logged as one.
        assert "lambda" not in metrics and "nu" not in metrics
        # Infeasible cases never let the cost surrogate rise.
        assert np.all(np.asarray(metrics["delta_surr_cost"])[case <= 1] <= 0)
    else:
        assert not np.any(rises)


def test_deterministic_and_key_dependent(trained):
    _, _, train, ts, metrics = trained
    ts2, metrics2 = train(jax.random.key(0))
    for a, b in zip(
        jax.tree.leaves((ts.actor, ts.critic, metrics)),
        jax.tree.leaves((ts2.actor, ts2.critic, metrics2)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    _, metrics3 = train(jax.random.key(1))
    assert not np.array_equal(metrics["J_r"], metrics3["J_r"])


def test_policy_moves(trained, env):
    name, config, _, ts, _ = trained
    learner = agents.get_algorithm(name).make_train(config, env)
    init = jax.jit(learner.init)(jax.random.key(0))
    moved = [
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(init.actor), jax.tree.leaves(ts.actor), strict=True)
    ]
    assert any(moved)


# --------------------------------------------------------------------- CPO rule, direct


def _synthetic_batch(key: jax.Array, actor: Actor, params) -> Batch:
    k_obs, k_act, k_r, k_c = jax.random.split(key, 4)
    n = 64
    obs = jax.random.normal(k_obs, (n, 6))
    mean, log_std = actor.apply(params, obs)
    action = mean + jnp.exp(log_std) * jax.random.normal(k_act, mean.shape)
    adv_r = jax.random.normal(k_r, (n,))
    adv_c = jax.random.normal(k_c, (n,)) + 0.5 * adv_r  # partly aligned: a real trade-off
    return Batch(
        obs=obs,
        action=action,
        log_prob=gaussian_log_prob(mean, log_std, action),
        mean=mean,
        adv_r=(adv_r - adv_r.mean()) / adv_r.std(),
        adv_c=adv_c - adv_c.mean(),
        ret_r=jnp.zeros(n),
        ret_c=jnp.zeros(n),
    )


@pytest.fixture(scope="module")
def cpo_rule():
    actor = Actor((8,), 2)
    params = actor.init(jax.random.key(3), jnp.zeros((1, 6)))
    batch = _synthetic_batch(jax.random.key(4), actor, params)
    rule = cpo.CPOPolicy(target_kl=0.01)
    update = jax.jit(lambda c: rule.update(actor.apply, params, (), batch, c, jax.random.key(5)))
    trpo_rule = trpo.TRPOPolicy(target_kl=0.01)
    trpo_update = jax.jit(
        lambda: trpo_rule.update(
            actor.apply, params, (), batch, jnp.float32(0.0), jax.random.key(5)
        )
    )
    return params, update, trpo_update


def test_cpo_far_inside_constraint_is_a_trpo_step(cpo_rule):
    params, update, trpo_update = cpo_rule
    new, _, m = update(jnp.float32(-10.0))
    assert int(m["cpo_case"]) == ALL_FEASIBLE
    assert float(m["cpo_nu"]) == 0.0
    trpo_new, _, trpo_m = trpo_update()
    assert int(m["backtrack"]) == int(trpo_m["backtrack"]) >= 0
    # Same step up to float32 round-off, measured against the step's size.
    flat0, flat_cpo, flat_trpo = (ravel_pytree(p)[0] for p in (params, new, trpo_new))
    step = np.asarray(flat_trpo - flat0)
    assert np.linalg.norm(step) > 0
    np.testing.assert_allclose(flat_cpo - flat0, step, atol=1e-3 * np.linalg.norm(step))


def test_cpo_far_outside_constraint_recovers(cpo_rule):
    params, update, _ = cpo_rule
    new, _, m = update(jnp.float32(10.0))
    assert int(m["cpo_case"]) == INFEASIBLE_RECOVERY
    assert float(m["cpo_lambda"]) == 0.0 and float(m["cpo_nu"]) > 0.0
    assert int(m["backtrack"]) >= 0
    assert float(m["delta_surr_cost"]) < 0.0  # the cost surrogate goes down
    assert float(m["kl"]) <= 0.01


def test_cpo_just_outside_constraint_feasible_recovery(cpo_rule):
    _, update, _ = cpo_rule
    _, _, m = update(jnp.float32(1e-4))
    assert int(m["cpo_case"]) == FEASIBLE_RECOVERY
    assert float(m["kl"]) <= 0.01
    if int(m["backtrack"]) >= 0:
        assert float(m["delta_surr_cost"]) <= 0.0


# --------------------------------------------------------------------- configs and offsets


def test_constraint_offset_rules(env):
    ssa = cpo.constraint_from_config(
        cpo.default_config(cost_limit=25.0, cpo_offset="ssa", cpo_margin=0.0), env
    )
    omni = cpo.constraint_from_config(
        cpo.default_config(cost_limit=25.0, cpo_offset="omnisafe", cpo_margin=0.0), env
    )
    # J_c 35 against the limit 25 over 20-step episodes: c = 10 / 20 (SSA), 10 (OmniSafe).
    assert env.num_steps == 20
    state = ssa.update(ssa.init(), jnp.float32(35.0))
    np.testing.assert_allclose(ssa.offset(state), 0.5, rtol=1e-6)
    np.testing.assert_allclose(omni.offset(state), 10.0, rtol=1e-6)
    np.testing.assert_allclose(ssa.offset(ssa.init()), -1.25, rtol=1e-6)  # J_c 0: -25 / 20
    # The policy rule reads c, and c is logged as cpo_c.
    np.testing.assert_allclose(omni.policy_input(state), 10.0, rtol=1e-6)
    assert list(omni.metrics(state)) == ["cpo_c"]
    np.testing.assert_allclose(omni.metrics(state)["cpo_c"], 10.0, rtol=1e-6)
    # A margin of 0.2 aims at 20 instead of 25: J_c 35 gives c = 15 (OmniSafe), 15 / 20 (SSA).
    for name, rule, expected in (("omnisafe", omni, 15.0), ("ssa", ssa, 0.75)):
        margin = cpo.constraint_from_config(
            cpo.default_config(cost_limit=25.0, cpo_offset=name, cpo_margin=0.2), env
        )
        np.testing.assert_allclose(margin.offset(state), expected, rtol=1e-6)
        assert margin.cost_limit == rule.cost_limit == 25.0
    with pytest.raises(ValueError, match="num_steps"):
        cpo.constraint_from_config(cpo.default_config(cpo_offset="ssa"), object())
    with pytest.raises(ValueError, match="episode_length"):
        cpo.ConstraintOffset(25.0, 0.0)


@pytest.mark.parametrize(
    ("module", "key", "value", "match"),
    [
        (cpo, "cpo_offset", "exact", "cpo_offset"),
        (cpo, "cpo_margin", 1.0, "cpo_margin"),
        (cpo, "cpo_margin", -0.1, "cpo_margin"),
        (trpo, "target_kl", 0.0, "target_kl"),
        (trpo, "cg_iters", 0, "cg_iters"),
        (trpo_lag, "backtrack_coeff", 1.0, "backtrack_coeff"),
        (trpo, "cg_damping", -0.1, "cg_damping"),
        (trpo, "pi_lr", 0.1, "unknown"),
    ],
)
def test_bad_config_is_an_error(module, key, value, match):
    with pytest.raises(ValueError, match=match):
        module.default_config(**{key: value})


def test_defaults_match_the_reference_and_the_ppo_family():
    cfg = cpo.default_config()
    assert (cfg.target_kl, cfg.cg_iters, cfg.cg_damping) == (0.01, 10, 0.1)
    assert (cfg.backtrack_coeff, cfg.backtrack_iters) == (0.8, 10)
    # OmniSafe's offset with a margin below the limit (docs/results/README.md); "ssa" and a margin
    # of 0 (the reference code's constraint) stay options.
    assert (cfg.vf_lr, cfg.cost_adv_scale, cfg.cpo_offset) == (1e-3, False, "omnisafe")
    assert 0.0 < cfg.cpo_margin < 1.0
    lag = trpo_lag.default_config()
    assert (lag.lagrangian, lag.lambda_init, lag.lambda_lr) == ("softplus", 1.0, 0.05)
    # Keys shared with the PPO family keep its values, so the families compare on equal terms.
    ppo_values = read_yaml("ppo.yaml")
    trpo_cfg = trpo.default_config()
    for field in dataclasses.fields(trpo_cfg):
        if field.name in ppo_values and field.name != "target_kl":
            expected = ppo_values[field.name]
            expected = tuple(expected) if isinstance(expected, list) else expected
            assert getattr(trpo_cfg, field.name) == expected, field.name
