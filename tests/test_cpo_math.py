"""The CPO step against an independent geometric solution on synthetic quadratic problems.

With ``H = L L^T`` and ``u = L^T d`` the CPO subproblem becomes: minimise ``a . u`` over the
ball ``|u| <= R`` (``R = sqrt(2 delta)``) cut by the half-space ``e . u + c <= 0``, where
``a = L^-1 g`` and ``e = L^-1 b``. Its solution is plain geometry: the ball's minimiser
``-R a / |a|`` when that is feasible, otherwise the best point of the disc where the plane
``e . u = -c`` meets the ball, and when the plane misses the ball on the feasible side nothing is
feasible and CPO's recovery step is ``-R e / |e|``. No duality is used, so this checks the
four-case dual solution independently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.common.cpo import cpo_accept, cpo_step
from agents.common.trust_region import backtracking_line_search

# The case numbers as logged (`cpo_case`): SSA's numbering, spec ALGORITHMS.md 1.9.
CASE_INFEASIBLE_RECOVERY = 0  # c >= 0, B < 0
CASE_FEASIBLE_RECOVERY = 1  # c >= 0, B >= 0
CASE_BOUNDARY_CUTS = 2  # c < 0, B >= 0
CASE_ALL_FEASIBLE = 3  # c < 0, B < 0
CASE_NO_COST_GRADIENT = 4  # |b|^2 <= 1e-8 and c < 0

DELTA = 0.01
N = 6


def _problem(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random SPD ``H`` (eigenvalues 0.5..4) and gradients ``g``, ``b`` in float64."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    h = (q * rng.uniform(0.5, 4.0, size=N)) @ q.T
    return h, rng.normal(size=N), rng.normal(size=N)


def _geometric_solution(h, g, b, c, delta) -> tuple[np.ndarray, str]:
    """Optimal step of ``min g.d s.t. b.d + c <= 0, d^T H d / 2 <= delta`` (or recovery)."""
    chol = np.linalg.cholesky(h)
    to_d = lambda u: np.linalg.solve(chol.T, u)  # noqa: E731
    a, e = np.linalg.solve(chol, g), np.linalg.solve(chol, b)
    radius = np.sqrt(2.0 * delta)
    u0 = -radius * a / np.linalg.norm(a)
    if np.dot(e, e) == 0.0 or e @ u0 + c <= 0.0:
        return to_d(u0), "ball"
    if c - radius * np.linalg.norm(e) > 0.0:
        return to_d(-radius * e / np.linalg.norm(e)), "infeasible"
    u_plane = -c * e / np.dot(e, e)
    rho = np.sqrt(radius**2 - np.dot(u_plane, u_plane))
    a_perp = a - (a @ e) / (e @ e) * e
    return to_d(u_plane - rho * a_perp / np.linalg.norm(a_perp)), "disc"


def _solve(h, g, b, c, delta=DELTA):
    h32 = jnp.asarray(h, jnp.float32)
    return jax.jit(
        lambda g_, b_, c_: cpo_step(g_, b_, c_, delta, lambda v: h32 @ v, cg_iters=2 * N)
    )(jnp.asarray(g, jnp.float32), jnp.asarray(b, jnp.float32), jnp.float32(c))


def _boundary_distance(h, b) -> float:
    """``sqrt(2 delta s)``: |c| below it means the constraint plane cuts the KL ball."""
    return float(np.sqrt(2.0 * DELTA * b @ np.linalg.solve(h, b)))


# (name, seed, how b is built from g and noise, c as a multiple of the boundary distance,
#  expected case, expected geometry)
CASES = [
    ("infeasible_recovery", 0, "random", 2.0, CASE_INFEASIBLE_RECOVERY, "infeasible"),
    ("feasible_recovery", 1, "random", 0.5, CASE_FEASIBLE_RECOVERY, "disc"),
    ("boundary_cuts_active", 2, "against", -0.5, CASE_BOUNDARY_CUTS, "disc"),
    ("boundary_cuts_inactive", 3, "along", -0.5, CASE_BOUNDARY_CUTS, "ball"),
    ("all_feasible", 4, "random", -2.0, CASE_ALL_FEASIBLE, "ball"),
    ("no_cost_gradient", 5, "zero", -1.0, CASE_NO_COST_GRADIENT, "ball"),
]


def _build(seed: int, b_kind: str, c_scale: float):
    h, g, noise = _problem(seed)
    b = {
        "random": noise,
        "against": -g + 0.3 * noise,
        "along": g + 0.3 * noise,
        "zero": np.zeros(N),
    }[b_kind]
    c = c_scale * (_boundary_distance(h, b) if b_kind != "zero" else 1.0)
    return h, g, b, c


@pytest.mark.parametrize(
    ("name", "seed", "b_kind", "c_scale", "case", "geometry"), CASES, ids=[c[0] for c in CASES]
)
def test_each_case_returns_the_analytic_step(name, seed, b_kind, c_scale, case, geometry):
    h, g, b, c = _build(seed, b_kind, c_scale)
    expected, kind = _geometric_solution(h, g, b, c, DELTA)
    assert kind == geometry, "test problem does not exercise the intended geometry"

    sol = _solve(h, g, b, c)
    assert int(sol.case) == case
    step = np.asarray(sol.step, np.float64)
    np.testing.assert_allclose(step, expected, rtol=2e-3, atol=2e-5 * np.linalg.norm(expected))
    # Every case spends the whole trust region.
    np.testing.assert_allclose(0.5 * step @ h @ step, DELTA, rtol=2e-3)
    if geometry == "disc":  # the linearised constraint is active
        np.testing.assert_allclose(b @ step + c, 0.0, atol=2e-3 * abs(c))
        assert float(sol.nu) > 0.0
    if case in (CASE_ALL_FEASIBLE, CASE_NO_COST_GRADIENT) or name == "boundary_cuts_inactive":
        assert float(sol.nu) == 0.0
        np.testing.assert_allclose(
            float(sol.lam), np.sqrt(g @ np.linalg.solve(h, g) / (2 * DELTA)), rtol=1e-3
        )
    if case == CASE_INFEASIBLE_RECOVERY:
        assert float(sol.lam) == 0.0
        np.testing.assert_allclose(
            float(sol.nu), np.sqrt(2 * DELTA / (b @ np.linalg.solve(h, b))), rtol=1e-3
        )


@pytest.mark.parametrize(
    ("name", "seed", "b_kind", "c_scale", "case", "geometry"), CASES, ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("kl_curvature", [1.0, 1.7])
def test_accepted_step_satisfies_kl_and_cost_bounds(
    name, seed, b_kind, c_scale, case, geometry, kl_curvature
):
    """Line search on the quadratic model; ``kl_curvature > 1`` forces backtracking."""
    h, g, b, c = _build(seed, b_kind, c_scale)
    h32, g32, b32 = (jnp.asarray(x, jnp.float32) for x in (h, g, b))
    sol = _solve(h, g, b, c)
    params = jnp.zeros(N)
    # The solver's step sits on the KL sphere; a relative tolerance absorbs float32 round-off.
    kl_limit = DELTA * (1.0 + 1e-4)

    def evaluate(theta):
        return {
            "kl": 0.5 * kl_curvature * theta @ h32 @ theta,
            "loss": g32 @ theta,
            "cost": b32 @ theta,
        }

    def accept(stats):
        return cpo_accept(
            sol.case, stats["kl"], stats["loss"], 0.0, stats["cost"], 0.0, jnp.float32(c), kl_limit
        )

    result = backtracking_line_search(evaluate, accept, params, sol.step, evaluate(params))
    assert bool(result.accepted)
    d = np.asarray(result.params, np.float64)
    expected_index = 0 if kl_curvature == 1.0 else 2  # 1.7 * 0.8**(2j) <= 1 from j = 2 on
    assert int(result.index) == expected_index
    assert 0.5 * kl_curvature * d @ h @ d <= kl_limit
    if c < 0:  # feasible now: the linearised constraint must hold after the step
        assert b @ d + c <= 1e-6
    else:  # infeasible now: the step must not increase the cost surrogate
        assert b @ d <= 0.0
    if kl_curvature == 1.0 and geometry == "disc":
        assert b @ d + c <= 2e-3 * abs(c)
    if case >= CASE_BOUNDARY_CUTS:
        assert g @ d <= 0.0


def test_rejects_steps_that_raise_the_reward_loss_outside_recovery():
    assert not bool(cpo_accept(jnp.int32(CASE_BOUNDARY_CUTS), 0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.01))
    assert bool(cpo_accept(jnp.int32(CASE_FEASIBLE_RECOVERY), 0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.01))
    # Cost may rise by the slack -c when feasible, not at all when infeasible.
    assert bool(cpo_accept(jnp.int32(CASE_ALL_FEASIBLE), 0.0, 0.0, 0.0, 0.4, 0.0, -0.5, 0.01))
    assert not bool(cpo_accept(jnp.int32(CASE_ALL_FEASIBLE), 0.0, 0.0, 0.0, 0.6, 0.0, -0.5, 0.01))
    assert not bool(
        cpo_accept(jnp.int32(CASE_INFEASIBLE_RECOVERY), 0.0, 0.0, 0.0, 1e-3, 0.0, 0.5, 0.01)
    )


@pytest.mark.parametrize(
    ("b_scale", "c"),
    [(0.0, 0.3), (0.0, 0.0), (1.0, 0.0), (1e-20, 0.3), (1.0, -1e-30)],
    ids=["zero_b_violated", "zero_b_zero_c", "zero_c", "tiny_b_violated", "tiny_negative_c"],
)
def test_degenerate_inputs_stay_finite(b_scale, c):
    h, g, b = _problem(7)
    sol = _solve(h, g, b_scale * b, c)
    for field in sol:
        assert bool(jnp.all(jnp.isfinite(field))), field
    step = np.asarray(sol.step, np.float64)
    assert 0.5 * step @ h @ step <= DELTA * (1 + 1e-3)
    if b_scale == 0.0 and c > 0:  # nothing known about the cost: no step
        np.testing.assert_array_equal(step, 0.0)


def test_matches_with_c_exactly_zero_and_vmaps():
    """``c = 0`` sits on the constraint plane: the geometric solution still applies."""
    h, g, b = _problem(8)
    expected, _ = _geometric_solution(h, g, b, 0.0, DELTA)
    sol = _solve(h, g, b, 0.0)
    np.testing.assert_allclose(np.asarray(sol.step), expected, rtol=2e-3, atol=1e-6)

    h32 = jnp.asarray(h, jnp.float32)
    cs = jnp.array([-1.0, -0.05, 0.05, 1.0], jnp.float32)
    batched = jax.vmap(
        lambda c: cpo_step(
            jnp.asarray(g, jnp.float32),
            jnp.asarray(b, jnp.float32),
            c,
            DELTA,
            lambda v: h32 @ v,
            cg_iters=2 * N,
        )
    )(cs)
    assert batched.step.shape == (4, N)
    for i, c in enumerate(np.asarray(cs)):
        single = _solve(h, g, b, float(c))
        assert int(batched.case[i]) == int(single.case)
        np.testing.assert_allclose(batched.step[i], single.step, rtol=1e-5, atol=1e-7)


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="flat vectors"):
        cpo_step(jnp.zeros(3), jnp.zeros(4), 0.0, DELTA, lambda v: v)
    with pytest.raises(ValueError, match="cg_iters"):
        cpo_step(jnp.zeros(3), jnp.zeros(3), 0.0, DELTA, lambda v: v, cg_iters=0)
