"""Contracts of the trust-region machinery: CG, Fisher-vector products, line search."""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.common.networks import gaussian_kl
from agents.common.trust_region import (
    backtracking_line_search,
    conjugate_gradient,
    fisher_vector_product,
    flatten_params,
    mean_gaussian_kl,
    trust_region_step_size,
)


def _random_spd(key: jax.Array, n: int, min_eig: float = 0.5, max_eig: float = 5.0) -> jax.Array:
    """Random symmetric positive definite matrix with eigenvalues in [min_eig, max_eig]."""
    k1, k2 = jax.random.split(key)
    q, _ = jnp.linalg.qr(jax.random.normal(k1, (n, n)))
    eigs = jax.random.uniform(k2, (n,), minval=min_eig, maxval=max_eig)
    return (q * eigs) @ q.T


@pytest.mark.parametrize("n", [5, 20])
def test_cg_solves_random_spd_system(n: int) -> None:
    key_a, key_b = jax.random.split(jax.random.key(n))
    a = _random_spd(key_a, n)
    b = jax.random.normal(key_b, (n,))
    x = jax.jit(lambda rhs: conjugate_gradient(lambda v: a @ v, rhs, iters=2 * n))(b)
    expected = jnp.linalg.solve(a, b)
    np.testing.assert_allclose(x, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a @ x, b, atol=1e-4)


def test_cg_fixed_iterations_approach_solution() -> None:
    """Ten iterations on a well-conditioned 50-dim system: residual far below the start."""
    key_a, key_b = jax.random.split(jax.random.key(1))
    a = _random_spd(key_a, 50, min_eig=1.0, max_eig=2.0)
    b = jax.random.normal(key_b, (50,))
    x = conjugate_gradient(lambda v: a @ v, b, iters=10)
    assert float(jnp.linalg.norm(a @ x - b)) < 1e-3 * float(jnp.linalg.norm(b))


def test_cg_scales_with_a_tiny_rhs() -> None:
    """A gradient of size 1e-8 still gets its direction (TRPO rescales the step afterwards)."""
    key_a, key_b = jax.random.split(jax.random.key(7))
    a = _random_spd(key_a, 8)
    b = jax.random.normal(key_b, (8,))
    x = conjugate_gradient(lambda v: a @ v, b, iters=16)
    x_tiny = conjugate_gradient(lambda v: a @ v, 1e-8 * b, iters=16)
    np.testing.assert_allclose(x_tiny, 1e-8 * x, rtol=1e-4)


def test_cg_zero_rhs_is_zero_not_nan() -> None:
    a = _random_spd(jax.random.key(2), 4)
    x = conjugate_gradient(lambda v: a @ v, jnp.zeros(4), iters=10)
    np.testing.assert_array_equal(x, jnp.zeros(4))


def test_cg_traces_once() -> None:
    a = _random_spd(jax.random.key(3), 6)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def solve(rhs: jax.Array) -> jax.Array:
        return conjugate_gradient(lambda v: a @ v, rhs, iters=10)

    for seed in range(3):
        solve(jax.random.normal(jax.random.key(seed), (6,))).block_until_ready()


class _TinyActor(nn.Module):
    """A 3 -> 4 -> 2 tanh MLP mean with a state-independent log-std."""

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = nn.tanh(nn.Dense(4)(obs))
        mean = nn.Dense(2)(h)
        log_std = self.param("log_std", lambda _key, shape: jnp.full(shape, -0.5), (2,))
        return mean, log_std


def _tiny_policy():
    actor = _TinyActor()
    obs = jax.random.normal(jax.random.key(10), (8, 3))
    params = actor.init(jax.random.key(11), obs)
    flat0, unravel = flatten_params(params)
    mean_old, log_std_old = actor.apply(params, obs)

    def kl_fn(flat: jax.Array) -> jax.Array:
        mean, log_std = actor.apply(unravel(flat), obs)
        return mean_gaussian_kl(mean, log_std, mean_old, log_std_old)

    return actor, obs, flat0, unravel, kl_fn


def test_fvp_matches_hessian_of_kl_and_explicit_fisher() -> None:
    actor, obs, flat0, unravel, kl_fn = _tiny_policy()
    damping = 0.1
    n = flat0.shape[0]
    hvp = jax.jit(fisher_vector_product(kl_fn, flat0, damping))

    # Explicit Hessian of the mean KL at the current parameters.
    hessian = jax.jit(jax.hessian(kl_fn))(flat0)

    # Independent explicit Fisher: mean over states of J^T diag(1/sigma^2) J for the mean and
    # 2 I for each log-std (the Gaussian Fisher in (mean, log_std) coordinates).
    def outputs(flat: jax.Array) -> tuple[jax.Array, jax.Array]:
        return actor.apply(unravel(flat), obs)

    j_mean, j_log_std = jax.jit(jax.jacobian(outputs))(flat0)  # (8, 2, n), (2, n)
    _, log_std = outputs(flat0)
    inv_var = jnp.exp(-2.0 * log_std)
    fisher = jnp.einsum("bap,a,baq->pq", j_mean, inv_var, j_mean) / obs.shape[0]
    fisher = fisher + 2.0 * j_log_std.T @ j_log_std
    np.testing.assert_allclose(hessian, fisher, atol=1e-5)

    explicit = fisher + damping * jnp.eye(n)
    for seed in range(3):
        v = jax.random.normal(jax.random.key(100 + seed), (n,))
        np.testing.assert_allclose(hvp(v), explicit @ v, rtol=1e-4, atol=1e-5)


def test_gaussian_kl_known_values() -> None:
    zero = jnp.zeros(2)
    assert float(gaussian_kl(zero, zero, zero, zero)) == 0.0
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension.
    np.testing.assert_allclose(gaussian_kl(jnp.ones(2), zero, zero, zero), 1.0, rtol=1e-6)
    # KL(N(0, e^2) || N(0, 1)) = (e^2 - 1)/2 - 1 per dimension.
    expected = 0.5 * (np.e**2 - 1.0) - 1.0
    np.testing.assert_allclose(
        gaussian_kl(zero[:1], jnp.ones(1), zero[:1], zero[:1]), expected, rtol=1e-6
    )


def test_step_size_lands_on_kl_ball() -> None:
    a = _random_spd(jax.random.key(4), 6)
    x = jax.random.normal(jax.random.key(5), (6,))
    alpha = trust_region_step_size(x, a @ x, 0.01)
    np.testing.assert_allclose(0.5 * (alpha * x) @ a @ (alpha * x), 0.01, rtol=1e-5)


def _quadratic_problem():
    a = _random_spd(jax.random.key(6), 4)
    params = jnp.zeros(4)
    full_step = jnp.array([1.0, -2.0, 0.5, 0.0])

    def evaluate(theta: jax.Array) -> dict[str, jax.Array]:
        d = theta - params
        return {"kl": 0.5 * d @ a @ d, "loss": -jnp.sum(d)}

    return a, params, full_step, evaluate


def test_line_search_takes_first_passing_candidate() -> None:
    a, params, full_step, evaluate = _quadratic_problem()
    delta = 0.5 * float(full_step @ a @ full_step) * 0.8**6 * 1.2  # passes from j = 3 on
    result = jax.jit(
        lambda p, s: backtracking_line_search(
            evaluate, lambda st: st["kl"] <= delta, p, s, evaluate(p)
        )
    )(params, full_step)
    assert int(result.index) == 3
    assert bool(result.accepted)
    np.testing.assert_allclose(result.params, params + 0.8**3 * full_step, rtol=1e-6)
    np.testing.assert_allclose(result.stats["kl"], evaluate(result.params)["kl"], rtol=1e-6)
    assert float(result.stats["kl"]) <= delta


def test_line_search_none_accepted_keeps_old_parameters() -> None:
    _, params, full_step, evaluate = _quadratic_problem()
    stats_old = evaluate(params)
    result = backtracking_line_search(
        evaluate, lambda st: st["kl"] < -1.0, params, full_step, stats_old
    )
    assert int(result.index) == -1
    assert not bool(result.accepted)
    np.testing.assert_array_equal(result.params, params)
    np.testing.assert_array_equal(result.stats["kl"], stats_old["kl"])


def test_line_search_rejects_non_finite_candidates() -> None:
    _, params, full_step, evaluate = _quadratic_problem()

    def nan_for_long_steps(theta: jax.Array) -> dict[str, jax.Array]:
        stats = evaluate(theta)
        too_long = jnp.linalg.norm(theta - params) > 0.7 * jnp.linalg.norm(full_step)
        return {**stats, "loss": jnp.where(too_long, jnp.nan, stats["loss"])}

    result = backtracking_line_search(
        nan_for_long_steps, lambda st: jnp.asarray(True), params, full_step, evaluate(params)
    )
    # 0.8**2 = 0.64 is the first scale below 0.7.
    assert int(result.index) == 2
    assert bool(jnp.all(jnp.isfinite(result.params)))

    nan_step = full_step.at[0].set(jnp.nan)
    result = backtracking_line_search(
        evaluate, lambda st: jnp.asarray(True), params, nan_step, evaluate(params)
    )
    assert int(result.index) == -1
    np.testing.assert_array_equal(result.params, params)


def test_line_search_rejects_bad_settings() -> None:
    _, params, full_step, evaluate = _quadratic_problem()
    with pytest.raises(ValueError, match="backtrack_iters"):
        backtracking_line_search(
            evaluate, lambda st: True, params, full_step, evaluate(params), backtrack_iters=0
        )
    with pytest.raises(ValueError, match="backtrack_coeff"):
        backtracking_line_search(
            evaluate, lambda st: True, params, full_step, evaluate(params), backtrack_coeff=1.5
        )
