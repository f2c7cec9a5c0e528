"""Trust-region machinery shared by TRPO, TRPO-Lagrangian and CPO.

Everything here is pure JAX and runs inside the caller's jit: flat-parameter helpers, the mean
Gaussian KL, Fisher-vector products of that KL (with damping), conjugate gradient with a fixed
iteration count and a backtracking line search with a pluggable acceptance test. Loops are
``lax`` loops, so an update never returns to the host.

Conventions follow safety-starter-agents (`safe_rl/pg/trust_region.py`, `agents.py`): CG runs
10 iterations, damping is 0.1, the step size is ``sqrt(2 delta / (x^T H x + 1e-8))`` and
backtracking tries ``0.8**j`` for ``j < 10``, keeping the old parameters when no candidate
passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from agents.common.networks import gaussian_kl

Array = jax.Array
PyTree = Any
LinearOperator = Callable[[Array], Array]

# Added to denominators the way the reference code adds its EPS.
EPS = 1e-8


def flatten_params(params: PyTree) -> tuple[Array, Callable[[Array], PyTree]]:
    """Flat vector of a parameter pytree and the function that rebuilds the pytree from it."""
    return ravel_pytree(params)


def mean_gaussian_kl(
    mean_new: Array, log_std_new: Array, mean_old: Array, log_std_old: Array
) -> Array:
    """Batch mean of KL(pi_new || pi_old), the direction safety-starter-agents' `d_kl` measures.

    Its Hessian at ``pi_new = pi_old`` is the Fisher matrix (either KL direction gives the same
    second-order term); the direction matters only for the KL value the line search tests.
    """
    return jnp.mean(gaussian_kl(mean_new, log_std_new, mean_old, log_std_old))


def fisher_vector_product(
    kl_fn: Callable[[Array], Array], flat_params: Array, damping: float = 0.1
) -> LinearOperator:
    """``v -> (H + damping I) v`` with ``H`` the Hessian of ``kl_fn`` at ``flat_params``.

    ``kl_fn(theta)`` must return the mean KL between the policy at ``theta`` and the fixed
    (old) policy whose parameters are ``flat_params``; at that point its Hessian is the Fisher
    information matrix. The product is a forward-over-reverse derivative of ``grad kl_fn``,
    linearised once (``jax.linearize``) so the CG iterations reuse the forward pass; ``H`` is
    never formed. Damping keeps the operator positive definite for CG.
    """
    if damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    _, grad_kl_lin = jax.linearize(jax.grad(kl_fn), flat_params)

    def hvp(v: Array) -> Array:
        return grad_kl_lin(v) + damping * v

    return hvp


def conjugate_gradient(
    matvec: LinearOperator, b: Array, iters: int = 10, residual_tol: float = 1e-10
) -> Array:
    """Approximate solution ``x`` of ``A x = b`` after ``iters`` CG iterations, starting at 0.

    The iteration count is fixed (a ``lax.fori_loop``), so the cost is ``iters`` products with
    ``A`` whatever the data. Once the squared residual falls to ``residual_tol * |b|^2`` the
    iterate is frozen: further iterations would only divide round-off by round-off. The test is
    relative, so the solution scales with ``b`` however small ``b`` is (trust-region steps are
    rescaled afterwards, so a tiny gradient must still give a direction). Every division is
    guarded: a zero right-hand side returns zeros rather than NaN.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    b = jnp.asarray(b)
    bb = jnp.vdot(b, b)
    tol = jnp.asarray(residual_tol, b.dtype) * bb

    def body(_: int, carry: tuple[Array, Array, Array, Array]):
        x, r, p, rr = carry
        active = rr > tol
        ap = matvec(p)
        pap = jnp.vdot(p, ap)
        alpha = jnp.where(active & (pap > 0), rr / jnp.where(pap > 0, pap, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = jnp.vdot(r, r)
        beta = jnp.where(active, rr_new / jnp.where(rr > 0, rr, 1.0), 0.0)
        p = jnp.where(active, r + beta * p, p)
        rr = jnp.where(active, rr_new, rr)
        return x, r, p, rr

    init = (jnp.zeros_like(b), b, b, bb)
    x, *_ = jax.lax.fori_loop(0, iters, body, init)
    return x


def trust_region_step_size(x: Array, hx: Array, delta: float | Array) -> Array:
    """Scale ``alpha = sqrt(2 delta / (x^T H x + EPS))`` that puts ``alpha x`` on the KL ball."""
    return jnp.sqrt(2.0 * delta / (jnp.maximum(jnp.vdot(x, hx), 0.0) + EPS))


class LineSearchResult(NamedTuple):
    """Outcome of a backtracking line search.

    ``params`` are the accepted parameters (the old ones when nothing passed), ``index`` is the
    accepted backtrack exponent ``j`` or -1, ``accepted`` says whether any candidate passed and
    ``stats`` are the evaluation of the returned parameters.
    """

    params: Array
    index: Array
    accepted: Array
    stats: PyTree


def _all_finite(tree: PyTree) -> Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def backtracking_line_search(
    evaluate: Callable[[Array], PyTree],
    accept: Callable[[PyTree], Array],
    flat_params: Array,
    full_step: Array,
    stats_old: PyTree,
    backtrack_coeff: float = 0.8,
    backtrack_iters: int = 10,
) -> LineSearchResult:
    """Try ``flat_params + backtrack_coeff**j * full_step`` for ``j = 0 .. backtrack_iters - 1``.

    ``evaluate(theta)`` returns a pytree of statistics of a candidate (KL, surrogate losses);
    ``accept(stats)`` says whether they pass. The first passing candidate wins. A candidate whose
    parameters or statistics are not finite never passes, so NaN cannot leak into the policy.
    When nothing passes the old parameters and ``stats_old`` come back with index -1.
    The loop is a ``lax.while_loop`` that stops at the first acceptance.
    """
    if backtrack_iters < 1:
        raise ValueError(f"backtrack_iters must be >= 1, got {backtrack_iters}")
    if not 0.0 < backtrack_coeff < 1.0:
        raise ValueError(f"backtrack_coeff must be in (0, 1), got {backtrack_coeff}")

    def candidate(j: Array) -> Array:
        return flat_params + jnp.asarray(backtrack_coeff, flat_params.dtype) ** j * full_step

    def cond(carry):
        j, done, *_ = carry
        return (~done) & (j < backtrack_iters)

    def body(carry):
        j, _, params, stats, index = carry
        theta = candidate(j)
        new_stats = evaluate(theta)
        ok = jnp.asarray(accept(new_stats), bool) & _all_finite(new_stats)
        ok = ok & jnp.all(jnp.isfinite(theta))
        params = jnp.where(ok, theta, params)
        stats = jax.tree_util.tree_map(lambda n, o: jnp.where(ok, n, o), new_stats, stats)
        index = jnp.where(ok, j, index)
        return j + 1, ok, params, stats, index

    init = (jnp.asarray(0), jnp.asarray(False), flat_params, stats_old, jnp.asarray(-1))
    _, accepted, params, stats, index = jax.lax.while_loop(cond, body, init)
    return LineSearchResult(params=params, index=index, accepted=accepted, stats=stats)
