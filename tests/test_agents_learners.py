"""Every registered learner on a tiny physics-free env: they run, stay finite, are deterministic
for a fixed key and carry J_r / J_c and their constraint state when no episode ends; what each
kind of constraint strategy logs. (Seeds under vmap are checked through benchmarks.run in
test_benchmarks_run.py; the trust-region steps in test_agents_trust_region.py.)"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import algorithm_names, get_algorithm
from agents.common.lagrange import Lagrangian, Multiplier, PIDLagrangian, Unconstrained
from agents.common.networks import Actor, gaussian_log_prob
from agents.common.train import Batch, merge_metrics
from agents.cpo import ConstraintOffset
from agents.ppo import PPOPolicy, penalized_surrogate
from tests.fakes import FakeEnv

ALGOS = algorithm_names()
# A wide arena never terminates, so episodes end only at the 10-step time limit: with 5-step
# rollouts and synchronized clocks, updates 2 and 4 complete all 4 worlds' episodes and updates 1
# and 3 complete none. Each learner takes the entries that are fields of its config.
TINY = dict(
    num_envs=4,
    rollout_len=5,
    total_steps=4 * 5 * 4,
    hidden_sizes=[8, 8],
    pi_iters=3,
    vf_iters=3,
    vf_minibatches=2,
    stagger_starts=False,
)


def _env():
    return FakeEnv(num_steps=10, arena=100.0, spawn=1.0)


def _config(module):
    """`module`'s default config with the TINY entries it has fields for."""
    fields = {f.name for f in dataclasses.fields(module.Config)}
    return module.default_config(**{k: v for k, v in TINY.items() if k in fields})


@functools.cache
def _trained(algo: str):
    module = get_algorithm(algo)
    learner = module.make_train(_config(module), _env())
    train = jax.jit(learner.train)
    key = jax.random.PRNGKey(7)
    return learner, train, train(key), train(key)


@pytest.mark.parametrize("algo", ALGOS)
def test_runs_finite_and_deterministic(algo):
    _, _, (ts, metrics), (ts2, metrics2) = _trained(algo)
    for leaf in jax.tree.leaves((ts.actor, ts.critic, ts.constraint, metrics)):
        assert np.all(np.isfinite(np.asarray(leaf, dtype=np.float64)))
    for a, b in zip(jax.tree.leaves((ts, metrics)), jax.tree.leaves((ts2, metrics2)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert metrics["update"].tolist() == [1, 2, 3, 4]
    assert metrics["env_steps"].tolist() == [20, 40, 60, 80]
    assert int(ts.env_steps) == 80


@pytest.mark.parametrize("algo", ALGOS)
def test_episode_bookkeeping_and_carry(algo):
    _, _, (ts, m), _ = _trained(algo)
    assert m["episodes"].tolist() == [0, 4, 0, 4]
    assert m["episodes_total"].tolist() == [0, 4, 4, 8]
    # No episode ended in updates 1 and 3: J carries, and the constraint strategy's values (the
    # multiplier, CPO's offset) do not move.
    assert m["J_c"][0] == 0.0 and m["J_r"][0] == 0.0
    assert m["J_c"][2] == m["J_c"][1] and m["J_r"][2] == m["J_r"][1]
    strategy = _trained(algo)[0].constraint
    logged = strategy.metrics(strategy.init())
    assert logged
    for name in logged:
        assert m[name][2] == m[name][1], name
    # rho_c is the cost rate over all training so far.
    assert float(ts.cum_cost) / 80 == pytest.approx(float(m["rho_c"][-1]))
    assert np.all((m["rho_c"] >= 0) & (m["rho_c"] <= 1))


def _with_strategy(kind: type) -> list[str]:
    """The registered algorithms whose constraint strategy is a `kind`; at least one."""
    found = [a for a in ALGOS if isinstance(_trained(a)[0].constraint, kind)]
    assert found, f"no registered algorithm uses {kind.__name__}"
    return found


def test_lambda_is_logged_by_the_multiplier_strategies_only():
    # `lambda` means the multiplier of a penalized objective; other strategies name their own.
    for algo in ALGOS:
        metrics = _trained(algo)[2][1]
        has_multiplier = isinstance(_trained(algo)[0].constraint, Multiplier)
        assert ("lambda" in metrics) == has_multiplier, algo


def test_multiplier_semantics_per_strategy():
    # Costs here stay far below the limit of 25 (an episode lasts 10 steps, at most 10 cost).
    for algo in _with_strategy(Unconstrained):
        assert np.all(_trained(algo)[2][1]["lambda"] == 0.0), algo
    # The SSA multiplier starts at lambda_0 = 1 (kept through update 1, which ends no episode)
    # and falls.
    for algo in _with_strategy(Lagrangian):
        lam = _trained(algo)[2][1]["lambda"]
        assert lam[0] == pytest.approx(1.0) and lam[-1] < lam[0], algo
    # PID's integral term decays from 0.001 to 0.
    for algo in _with_strategy(PIDLagrangian):
        lam = _trained(algo)[2][1]["lambda"]
        assert lam[0] == pytest.approx(0.001) and lam[-1] == 0.0, algo


def test_constraint_offset_semantics():
    """CPO's offset (default: undivided, c = J_c - (1 - margin) * 25) is logged as cpo_c, of
    either sign, and its dual variables under cpo_ names; no multiplier."""
    for algo in _with_strategy(ConstraintOffset):
        learner, _, (_, m), _ = _trained(algo)
        cfg = learner.config
        assert cfg.cost_limit == 25.0 and 0.0 < cfg.cpo_margin < 1.0
        target = (1.0 - cfg.cpo_margin) * 25.0
        assert {"cpo_c", "cpo_case", "cpo_lambda", "cpo_nu"} <= set(m)
        assert not {"lambda", "nu"} & set(m)
        assert m["cpo_c"][0] == pytest.approx(-target)  # J_c is 0 before the first episode
        np.testing.assert_allclose(m["cpo_c"], np.asarray(m["J_c"]) - target, rtol=1e-5)
        # Older run directories' columns are renamed to metrics the learner logs.
        renamed = getattr(get_algorithm(algo), "RENAMED_METRICS", {})
        assert set(renamed.values()) <= set(m), algo


def test_a_metric_name_reported_twice_is_an_error():
    one = {"lambda": jnp.float32(1.0)}
    assert merge_metrics({"J_c": jnp.float32(2.0)}, one) == {"J_c": 2.0, "lambda": 1.0}
    with pytest.raises(ValueError, match="reported twice: lambda"):
        merge_metrics(one, {"kl": jnp.float32(0.0)}, {"lambda": jnp.float32(3.0)})


def test_different_keys_differ():
    _, train, (ts, _), _ = _trained("ppo")
    ts2, _ = train(jax.random.PRNGKey(8))
    assert not np.array_equal(np.asarray(ts.env.obs), np.asarray(ts2.env.obs))


def test_registry_lists_algorithms_and_rejects_unknown():
    assert algorithm_names() == ["cpo", "pid_lag", "ppo", "ppo_lag", "trpo", "trpo_lag"]
    with pytest.raises(ValueError, match="ppo, ppo_lag"):
        get_algorithm("sac")


# ----------------------------------------------------------------------------- policy rule


def test_penalized_surrogate_variants():
    ratio = jnp.array([1.5, 0.5])
    adv_r = jnp.array([1.0, 1.0])
    adv_c = jnp.array([1.0, -1.0])
    lam = jnp.float32(1.0)
    # clip_surr(A_r) = mean(min(1.5, 1.2), min(0.5, 0.8)) = (1.2 + 0.5) / 2 = 0.85
    # ssa cost term: mean(1.5, -0.5) = 0.5 -> (0.85 - 0.5) / 2
    assert float(penalized_surrogate(ratio, adv_r, adv_c, lam, 0.2, "ssa")) == pytest.approx(0.175)
    # pessimistic: mean(max(1.5, 1.2), max(-0.5, -0.8)) = 0.5 -> same here
    got = penalized_surrogate(ratio, adv_r, 2 * adv_c, lam, 0.2, "pessimistic")
    assert float(got) == pytest.approx((0.85 - 1.0) / 2)
    # combined advantage (A_r - A_c) / 2 = [0, 1]: mean(min(0, 0), min(0.5, 0.8)) = 0.25
    got = penalized_surrogate(ratio, adv_r, adv_c, lam, 0.2, "combined")
    assert float(got) == pytest.approx(0.25)
    # lambda = 0 is plain PPO whatever the cost advantage
    got = penalized_surrogate(ratio, adv_r, 100 * adv_c, jnp.float32(0.0), 0.2, "ssa")
    assert float(got) == pytest.approx(0.85)


# The KL that decides is measured before each pass's step (as SSA): it is 0 on the first pass,
# so even a tiny target allows two passes.
@pytest.mark.parametrize("target_kl, iters", [(1e-12, 2), (1e6, 6)])
def test_kl_early_stop(target_kl, iters):
    actor = Actor((8,), 2)
    key = jax.random.PRNGKey(0)
    params = actor.init(key, jnp.zeros((1, 3)))
    n = 64
    obs = jax.random.normal(key, (n, 3))
    mean, log_std = actor.apply(params, obs)
    action = mean + jax.random.normal(jax.random.PRNGKey(1), mean.shape)
    adv = jax.random.normal(jax.random.PRNGKey(2), (n,))
    batch = Batch(
        obs=obs,
        action=action,
        log_prob=gaussian_log_prob(mean, log_std, action),
        mean=mean,
        adv_r=adv,
        adv_c=jnp.zeros(n),
        ret_r=adv,
        ret_c=jnp.zeros(n),
    )
    rule = PPOPolicy(lr=1e-2, iters=6, clip_ratio=0.2, target_kl=target_kl, kl_margin=1.2)
    update = jax.jit(functools.partial(rule.update, actor.apply))
    _, _, m = update(params, rule.init(params), batch, jnp.float32(0.0), key)
    assert int(m["pi_iters"]) == iters
    assert float(m["kl"]) > 0.0
    assert np.isfinite(float(m["loss_pi"]))


@pytest.mark.parametrize("stagger", [False, True])
def test_staggered_starts_spread_episode_ends_over_updates(stagger):
    # A robot that never moves never leaves the arena: episodes end only at the 12-step limit.
    # 6 worlds, 4-step rollouts. Staggered, world i starts its clock at 2i, so first episodes
    # end at steps 12, 10, 8, 6, 4, 2 (only world 0's is full length and counted) and later
    # ones 12 steps after: counted episodes per update 0, 0, 1, 2, 2, 2. Synchronized, all six
    # end together at steps 12, 24: 0, 0, 6, 0, 0, 6.
    env = FakeEnv(num_steps=12, speed=0.0)
    cfg = dict(TINY, num_envs=6, rollout_len=4, total_steps=6 * 4 * 6, stagger_starts=stagger)
    learner = get_algorithm("ppo_lag").make_train(get_algorithm("ppo_lag").default_config(**cfg),
                                                  env)  # fmt: skip
    ts = learner.init(jax.random.PRNGKey(0))
    expected_clock = [0, 2, 4, 6, 8, 10] if stagger else [0] * 6
    assert np.asarray(ts.env.state.step).tolist() == expected_clock
    ts, m = jax.jit(learner.train)(jax.random.PRNGKey(0))
    episodes = m["episodes"].tolist()
    assert episodes == ([0, 0, 1, 2, 2, 2] if stagger else [0, 0, 6, 0, 0, 6])
    assert int(ts.episodes) == sum(episodes)
    assert not np.asarray(ts.shortened).any()
    # J_c is the mean over counted (full-length) episodes: a still robot's cost is the same in
    # every step, so each counted episode's cost is 12 times 0 or 1.
    # A counted episode's cost is 0 or 12; a shortened one inside a hazard would cost 12 - 2i.
    n = np.asarray(episodes)
    totals = np.asarray(m["J_c"])[n > 0] * n[n > 0] / 12.0
    np.testing.assert_allclose(totals, np.round(totals), atol=1e-5)


@pytest.mark.parametrize("algo", ALGOS)
def test_every_hyperparameter_is_bound_from_the_train_state(algo):
    # Each name in the algorithm's HYPERPARAMS must reach the field it declares: the value in
    # the train state, not the config's, is what the policy rule, the constraint strategy and
    # the critic optimizer use.
    module = get_algorithm(algo)
    learner = module.make_train(_config(module), _env())
    names = learner.hyper_names
    assert "vf_lr" in names and set(names) <= {f.name for f in dataclasses.fields(learner.config)}
    values = {n: 1000.0 + i for i, n in enumerate(names)}  # no config holds such values
    policy, constraint, vf_opt = learner.bind(learner.hparams(**values))
    components = {"policy": policy, "constraint": constraint}
    for name, (component, field) in learner.hyper.items():
        if component == "critic":
            continue
        assert float(getattr(components[component], field)) == values[name], name
    # The critic optimizer's learning rate: one Adam step moves a parameter by about lr.
    p = {"w": jnp.zeros(())}
    upd, _ = vf_opt.update({"w": jnp.ones(())}, vf_opt.init(p), p)
    assert float(upd["w"]) == pytest.approx(-values["vf_lr"], rel=1e-3)
    with pytest.raises(ValueError, match="cannot vary within one compiled run"):
        learner.hparams(hidden_sizes=3.0)
    # Settings that change what the learner trains must not be declared inert.
    assert not set(getattr(module, "TRAINING_INERT", ())) & set(names)


def test_members_initialise_one_after_another_with_single_member_values():
    """Under vmap, the networks' QR runs on one matrix per call (a batched LAPACK QR deadlocked
    XLA's 2-thread CPU pool), and each member gets exactly its single-member parameters."""
    module = get_algorithm("ppo_lag")
    learner = module.make_train(module.default_config(**TINY), _env())
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(3))
    hp = learner.stack_hparams([{}] * 3)
    lowered = jax.jit(jax.vmap(learner.init)).lower(keys, hp).as_text()
    qr_calls = [line for line in lowered.splitlines() if "geqrf" in line and "custom_call" in line]
    assert qr_calls, "the orthogonal initialiser no longer calls QR: update this test"
    assert all('num_batch_dims = "0"' in line for line in qr_calls)
    together = jax.jit(jax.vmap(learner.init))(keys, hp)
    for i in range(3):
        alone = jax.jit(learner.init)(keys[i])
        for a, b in zip(jax.tree.leaves(together.actor), jax.tree.leaves(alone.actor), strict=True):
            np.testing.assert_array_equal(np.asarray(a)[i], np.asarray(b))


def test_members_looped_equal_members_batched():
    """`over_seeds` loops over members on CPU (faster there) and vmaps elsewhere: same numbers."""
    from agents.common.train import over_seeds

    module = get_algorithm("ppo_lag")
    learner = module.make_train(module.default_config(**TINY), _env())
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    hp = learner.stack_hparams([{}, {}])
    ts = jax.jit(jax.vmap(learner.init))(keys, hp)
    looped = jax.jit(over_seeds(learner.update, 2, batched=False))(ts)
    batched = jax.jit(over_seeds(learner.update, 2, batched=True))(ts)
    for a, b in zip(jax.tree.leaves(looped), jax.tree.leaves(batched), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
