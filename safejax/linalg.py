"""Cholesky factorisation and solve in plain JAX operations, for the small dense systems of MJX.

Why this exists: MJX factors the mass matrix (`smooth.factor_m`) and the Newton solver's Hessian
(`solver._update_gradient`) with `jax.scipy.linalg.cho_factor` / `cho_solve`. Under `vmap` over
many worlds these become one batched LAPACK call each, and jaxlib 0.10.2's CPU kernel splits a
large batch into chunks on XLA's intra-op thread pool and blocks until they finish. When as many
such calls run at once as the pool has threads (2 on a 2-core machine), every pool thread is
waiting and none is left to run the chunks: the process hangs at 0% CPU. DoggoGoal1 hung this way
at 256 and 1024 worlds (not at 64). jaxlib 0.11 removes that code path, but 0.10.2 is the newest
release available to this project.

`pure_cholesky()` swaps `jax.scipy.linalg.cho_factor` / `cho_solve` for the functions below while
MJX code is being traced (safejax's `Env.reset` and `Env.step` use it). They are column-by-column
loops of batched vector operations. PointGoal1 at 2048 worlds ran at 11,233 env-steps/s with
them and 11,416 with LAPACK (median of 3 chunks each; the chunks of the two overlap).
"""

from __future__ import annotations

import contextlib
import threading

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from safejax.types import Array

_lock = threading.RLock()


def cholesky_lower(a: Array) -> Array:
    """Lower-triangular L with a = L L^T, for a symmetric positive definite (n, n) matrix.

    Left-looking: column j is a[:, j] minus the contribution of the columns before it, divided by
    the square root of its diagonal entry. A matrix that is not positive definite gives NaN,
    as a failed LAPACK factorisation does in JAX.
    """
    n = a.shape[-1]
    rows = jnp.arange(n)

    def column(j, low):
        v = a[:, j] - low @ low[j, :]  # low[j, :] is zero from column j on
        d = jnp.sqrt(v[j])
        return low.at[:, j].set(jnp.where(rows >= j, v / d, 0.0))

    return jax.lax.fori_loop(0, n, column, jnp.zeros_like(a))


def cholesky_solve_lower(low: Array, b: Array) -> Array:
    """x with (L L^T) x = b; b is (n,) or (n, k)."""
    n = low.shape[-1]
    diag = jnp.diagonal(low)

    def forward(i, y):  # L y = b; entries of y from i on are still zero
        return y.at[i].set((b[i] - low[i, :] @ y) / diag[i])

    def backward(k, x):  # L^T x = y, from the last row up; entries up to i are still zero
        i = n - 1 - k
        return x.at[i].set((y[i] - low[:, i] @ x) / diag[i])

    y = jax.lax.fori_loop(0, n, forward, jnp.zeros_like(b))
    return jax.lax.fori_loop(0, n, backward, jnp.zeros_like(b))


def cho_factor(a: Array, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """Drop-in for `jax.scipy.linalg.cho_factor`: (factor, lower). The unused triangle is zero."""
    del overwrite_a, check_finite
    low = cholesky_lower(a)
    return (low, True) if lower else (low.T, False)


def cho_solve(c_and_lower, b: Array, overwrite_b: bool = False, check_finite: bool = True):
    """Drop-in for `jax.scipy.linalg.cho_solve` given a (factor, lower) pair."""
    del overwrite_b, check_finite
    c, lower = c_and_lower
    return cholesky_solve_lower(c if lower else c.T, b)


@contextlib.contextmanager
def pure_cholesky():
    """While active, `jax.scipy.linalg.cho_factor` / `cho_solve` are the functions above.

    Meant to wrap the tracing of MJX code; re-entrant, and serialised across threads so that two
    threads tracing at once restore the originals correctly.
    """
    with _lock:
        saved = jsl.cho_factor, jsl.cho_solve
        jsl.cho_factor, jsl.cho_solve = cho_factor, cho_solve
        try:
            yield
        finally:
            jsl.cho_factor, jsl.cho_solve = saved
