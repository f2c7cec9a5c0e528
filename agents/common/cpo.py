"""The CPO step: the closed-form solution of the linearised trust-region problem.

CPO (Achiam et al. 2017) solves, for the step ``d`` added to the policy parameters::

    minimise  g^T d   subject to   b^T d + c <= 0,   1/2 d^T H d <= delta

with ``g`` the gradient of the reward surrogate *loss*, ``b`` the gradient of the cost surrogate,
``c`` the constraint offset and ``H`` the (damped) Fisher matrix. With ``v = H^-1 g`` and
``w = H^-1 b`` (conjugate gradient), ``q = g^T H^-1 g``, ``r = g^T H^-1 b``, ``s = b^T H^-1 b``,
``A = q - r^2 / s`` and ``B = 2 delta - c^2 / s`` the solution is ``d = -(v + nu w) / lambda``
with the dual variables chosen per case, numbered as in safety-starter-agents (`CPOAgent`):

* 4: ``b`` vanishes and the constraint holds: plain TRPO step.
* 3: ``c < 0, B < 0``: the whole trust region is feasible: TRPO step, ``nu = 0``.
* 2: ``c < 0, B >= 0``: the constraint boundary cuts the trust region: dual solution.
* 1: ``c >= 0, B >= 0``: infeasible now, recoverable within the region: dual solution.
* 0: ``c >= 0, B < 0``: infeasible recovery, ``d = -sqrt(2 delta / s) w`` (reward ignored).

Everything is branch-free (``jnp.where``) so it jits and vmaps, and every division is guarded so
degenerate inputs (``b = 0``, ``c = 0``, ``A`` rounding below 0) give finite outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from agents.common.trust_region import EPS, conjugate_gradient

Array = jax.Array

# Case numbers, as logged.
CASE_INFEASIBLE_RECOVERY = 0
CASE_FEASIBLE_RECOVERY = 1
CASE_BOUNDARY_CUTS = 2
CASE_ALL_FEASIBLE = 3
CASE_NO_COST_GRADIENT = 4

# Below this ||b||^2 with c < 0 the cost gradient is treated as zero (reference: 1e-8).
B_NORM_SQ_TOL = 1e-8
# Smallest positive value substituted for a vanishing denominator.
_TINY = 1e-30
# Bound on |r / c| so the dual interval ends stay finite when c is (nearly) 0.
_LAM_MAX = 1e20


class CPODual(NamedTuple):
    """Dual solution of the CPO subproblem: case, ``lam`` (KL multiplier), ``nu`` (cost)."""

    case: Array
    lam: Array
    nu: Array
    A: Array
    B: Array


class CPOStep(NamedTuple):
    """A CPO step: ``step`` is added to the parameters (``theta_new = theta_old + step``)."""

    step: Array
    case: Array
    lam: Array
    nu: Array
    q: Array
    r: Array
    s: Array
    A: Array
    B: Array


def _positive(x: Array) -> Array:
    """``x`` where it is a positive finite number, else a tiny positive stand-in."""
    return jnp.where(jnp.isfinite(x) & (x > _TINY), x, _TINY)


def cpo_dual(
    q: Array, r: Array, s: Array, c: Array, delta: Array | float, b_norm_sq: Array
) -> CPODual:
    """Case and dual variables ``(lam, nu)`` from the scalars of the CPO subproblem.

    Cases 1 and 2 maximise the concave dual on the two intervals of ``lam`` separated by
    ``lam = r / c``: on the one where ``lam c - r > 0`` the cost multiplier is active and the
    dual is ``-(A / lam + B lam) / 2 - r c / s`` (maximised at ``sqrt(A / B)``), on the other
    ``nu = 0`` and it is ``-(q / lam + 2 delta lam) / 2`` (maximised at ``sqrt(q / (2 delta))``).
    Each maximiser is projected onto its interval and the better one wins (ties go to the
    first, as in the reference). An empty interval contributes nothing, where the reference
    would evaluate the dual at its clipped end point; the two agree whenever ``A > 0``.
    """
    dtype = jnp.result_type(q, r, s, c, float)
    q, r, s, c = (jnp.asarray(x, dtype) for x in (q, r, s, c))
    delta = jnp.asarray(delta, dtype)
    q = jnp.maximum(q, 0.0)
    s_safe = _positive(s)
    A = jnp.maximum(q - r**2 / s_safe, 0.0)  # >= 0 by Cauchy-Schwarz; round-off can dip below
    B = 2.0 * delta - c**2 / s_safe

    no_cost_grad = (b_norm_sq <= B_NORM_SQ_TOL) & (c < 0)
    case = jnp.where(
        c < 0,
        jnp.where(B < 0, CASE_ALL_FEASIBLE, CASE_BOUNDARY_CUTS),
        jnp.where(B >= 0, CASE_FEASIBLE_RECOVERY, CASE_INFEASIBLE_RECOVERY),
    )
    case = jnp.where(no_cost_grad, CASE_NO_COST_GRADIENT, case)

    lam_trpo = jnp.sqrt(q / (2.0 * delta))

    # Cases 1 and 2. With c >= 0 the active-cost interval is [r/c, inf), else [0, r/c].
    c_nonzero = jnp.where(c < 0, jnp.minimum(c, -_TINY), jnp.maximum(c, _TINY))
    ratio = jnp.clip(r / c_nonzero, -_LAM_MAX, _LAM_MAX)
    lo_a, hi_a = jnp.where(c < 0, 0.0, ratio), jnp.where(c < 0, ratio, _LAM_MAX)
    lo_b, hi_b = jnp.where(c < 0, ratio, 0.0), jnp.where(c < 0, _LAM_MAX, ratio)

    def project(x: Array, lo: Array, hi: Array) -> Array:
        return jnp.maximum(lo, jnp.minimum(hi, x))

    lam_a = project(jnp.sqrt(A / _positive(B)), lo_a, hi_a)
    lam_b = project(lam_trpo, lo_b, hi_b)
    f_a = -0.5 * (A / (lam_a + EPS) + B * lam_a) - r * c / (s_safe + EPS)
    f_b = -0.5 * (q / (lam_b + EPS) + 2.0 * delta * lam_b)
    f_a = jnp.where((hi_a >= lo_a) & jnp.isfinite(f_a), f_a, -jnp.inf)
    f_b = jnp.where((hi_b >= lo_b) & jnp.isfinite(f_b), f_b, -jnp.inf)
    lam_dual = jnp.where(f_a >= f_b, lam_a, lam_b)
    nu_dual = jnp.maximum(0.0, lam_dual * c - r) / (s_safe + EPS)

    nu_recovery = jnp.sqrt(2.0 * delta / s_safe)

    lam = jnp.where(
        case >= CASE_ALL_FEASIBLE,
        lam_trpo,
        jnp.where(case == CASE_INFEASIBLE_RECOVERY, 0.0, lam_dual),
    )
    nu = jnp.where(
        case >= CASE_ALL_FEASIBLE,
        0.0,
        jnp.where(case == CASE_INFEASIBLE_RECOVERY, nu_recovery, nu_dual),
    )
    return CPODual(case=case.astype(jnp.int32), lam=lam, nu=nu, A=A, B=B)


def cpo_step(
    g: Array,
    b: Array,
    c: Array | float,
    delta: Array | float,
    hvp: Callable[[Array], Array],
    cg_iters: int = 10,
) -> CPOStep:
    """The CPO step for loss gradient ``g``, cost-surrogate gradient ``b`` and offset ``c``.

    ``hvp`` is the damped Fisher-vector product. Two CG solves give ``v ~ H^-1 g`` and
    ``w ~ H^-1 b``; as in the reference, ``q = v^T H v``, ``r = w^T H v`` and ``s = w^T H w``
    are measured through ``H`` so they are consistent with the approximate solves. Case 4 still
    runs the second solve (no Python branch on traced values); its result is multiplied by
    ``nu = 0``.
    """
    if g.shape != b.shape or g.ndim != 1:
        raise ValueError(f"g and b must be flat vectors of one shape, got {g.shape}, {b.shape}")
    if cg_iters < 1:
        raise ValueError(f"cg_iters must be >= 1, got {cg_iters}")
    v = conjugate_gradient(hvp, g, cg_iters)
    hv = hvp(v)
    q = jnp.vdot(v, hv)
    w = conjugate_gradient(hvp, b, cg_iters)
    hw = hvp(w)
    r = jnp.vdot(w, hv)
    s = jnp.vdot(w, hw)
    dual = cpo_dual(q, r, s, c, delta, jnp.vdot(b, b))
    x = jnp.where(
        dual.case == CASE_INFEASIBLE_RECOVERY,
        dual.nu * w,
        (v + dual.nu * w) / (dual.lam + EPS),
    )
    return CPOStep(
        step=-x, case=dual.case, lam=dual.lam, nu=dual.nu, q=q, r=r, s=s, A=dual.A, B=dual.B
    )


def cpo_accept(
    case: Array,
    kl: Array,
    loss_new: Array,
    loss_old: Array,
    cost_new: Array,
    cost_old: Array,
    c: Array,
    delta: Array | float,
) -> Array:
    """The reference line-search test for a CPO candidate.

    Passes when the KL is within ``delta``, the reward surrogate loss did not rise (checked only
    in cases 2-4: the recovery cases may trade reward for cost) and the cost surrogate rose by
    at most ``max(-c, 0)``, the slack the linearised constraint leaves.
    """
    kl_ok = kl <= delta
    reward_ok = (loss_new <= loss_old) | (case <= CASE_FEASIBLE_RECOVERY)
    cost_ok = cost_new - cost_old <= jnp.maximum(-c, 0.0)
    return kl_ok & reward_ok & cost_ok
