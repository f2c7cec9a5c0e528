"""safejax.linalg: the plain-JAX Cholesky that replaces LAPACK inside traced MJX code."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest

import safejax
from safejax import linalg


def _spd(rng, n, batch=()):
    a = rng.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


@pytest.mark.parametrize("n", [1, 3, 19, 49])
def test_factor_and_solve_match_numpy(n):
    rng = np.random.default_rng(n)
    a = _spd(rng, n, (5,))
    low = np.asarray(jax.jit(jax.vmap(linalg.cholesky_lower))(jnp.asarray(a, jnp.float32)))
    np.testing.assert_allclose(low, np.linalg.cholesky(a), rtol=1e-4, atol=1e-5)  # float32
    assert np.all(np.triu(low, 1) == 0)
    for b in (rng.normal(size=(5, n)), rng.normal(size=(5, n, 4))):
        for lower in (True, False):
            factor = functools.partial(linalg.cho_factor, lower=lower)
            fac, _ = jax.vmap(factor)(jnp.asarray(a))
            x = jax.vmap(lambda f, rhs, lo=lower: linalg.cho_solve((f, lo), rhs))(
                fac, jnp.asarray(b)
            )
            vec = b.ndim == 2
            expect = np.linalg.solve(a, b[..., None])[..., 0] if vec else np.linalg.solve(a, b)
            np.testing.assert_allclose(np.asarray(x), expect, rtol=1e-3, atol=1e-5)


def test_float32_agrees_with_lapack():
    a = jnp.asarray(_spd(np.random.default_rng(0), 12), jnp.float32)
    b = jnp.arange(12.0, dtype=jnp.float32)
    ours = linalg.cho_solve(linalg.cho_factor(a), b)
    ref = jsl.cho_solve(jsl.cho_factor(a), b)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=2e-5, atol=1e-6)


def test_not_positive_definite_is_nan_not_garbage():
    low = linalg.cholesky_lower(jnp.array([[1.0, 2.0], [2.0, 1.0]]))
    assert np.isnan(np.asarray(low)[1, 1])


def test_context_swaps_and_restores():
    before = jsl.cho_factor, jsl.cho_solve
    with linalg.pure_cholesky():
        assert jsl.cho_factor is linalg.cho_factor and jsl.cho_solve is linalg.cho_solve
        with linalg.pure_cholesky():  # re-entrant
            pass
        assert jsl.cho_factor is linalg.cho_factor
    assert (jsl.cho_factor, jsl.cho_solve) == before


def test_traced_env_has_no_lapack_call():
    """The hang came from batched LAPACK calls inside the vmapped step: none may remain."""
    env = safejax.make("DoggoGoal0")
    venv = safejax.VecEnv(env, 4)
    vs = jax.eval_shape(venv.reset, jax.random.PRNGKey(0))
    text = jax.jit(venv.step).lower(vs, jnp.zeros((4, env.action_size))).as_text()
    assert "lapack" not in text.lower() and "potrf" not in text.lower()
    assert "lapack" not in jax.jit(venv.reset).lower(jax.random.PRNGKey(0)).as_text().lower()
