"""safejax.physics.linalg: the plain-JAX Cholesky that replaces LAPACK inside traced MJX code."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest

import safejax
from safejax.physics import linalg


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


def _arrow_matrix(rng, hub, blocks, batch=()):
    """An SPD matrix with dense diagonal blocks, hub-block couplings and zeros elsewhere."""
    n = len(hub) + sum(len(b) for b in blocks)
    a = np.zeros(batch + (n, n))
    for blk in [hub, *blocks]:
        g = rng.normal(size=batch + (len(blk), len(blk)))
        a[..., np.ix_(blk, blk)[0], np.ix_(blk, blk)[1]] = g @ np.swapaxes(g, -1, -2)
    for blk in blocks:
        c = 0.5 * rng.normal(size=batch + (len(hub), len(blk)))
        a[..., np.ix_(hub, blk)[0], np.ix_(hub, blk)[1]] = c
        a[..., np.ix_(blk, hub)[0], np.ix_(blk, hub)[1]] = np.swapaxes(c, -1, -2)
    return a + n * np.eye(n)


def test_arrow_factor_solves_like_numpy():
    rng = np.random.default_rng(3)
    # Hub of 5 dofs (not the first ids), three 2-dof blocks, one 3-dof block, one 1-dof block.
    hub, blocks2, block3, block1 = [0, 1, 2, 9, 10], [[3, 4], [5, 6], [7, 8]], [11, 12, 13], [14]
    st = linalg.ArrowStructure(
        nv=15,
        hub=np.array(hub),
        blocks=(np.array([block1]), np.array(blocks2), np.array([block3])),
    )
    a = _arrow_matrix(rng, hub, blocks2 + [block3, block1], batch=(4,))
    packed = jax.vmap(lambda m: linalg.arrow_factor(m, st))(jnp.asarray(a, jnp.float32))
    for b in (rng.normal(size=(4, 15)), rng.normal(size=(4, 15, 3))):
        x = jax.vmap(lambda f, rhs: linalg.arrow_solve(f, rhs, st))(packed, jnp.asarray(b))
        expect = np.linalg.solve(a, b[..., None])[..., 0] if b.ndim == 2 else np.linalg.solve(a, b)
        np.testing.assert_allclose(np.asarray(x), expect, rtol=1e-3, atol=1e-5)


def test_arrow_structure_must_partition_the_dofs():
    with pytest.raises(ValueError, match="partition"):
        linalg.ArrowStructure(nv=4, hub=np.array([0, 1]), blocks=(np.array([[1, 2]]),))


def test_arrow_structure_of_scenes():
    """Vases, the push box, the Car's wheels and caster and the Doggo's legs are blocks around
    the robot's root; two trees that can touch each other are never both blocks."""
    from safejax.physics import arrow

    env = safejax.make("PointGoal2")
    assert env.arrow.hub.tolist() == [0, 1, 2]
    assert [b.shape for b in env.arrow.blocks] == [(10, 3)]  # each vase: x, y, yaw
    goal0 = safejax.make("PointGoal0")
    assert arrow.arrow_structure(goal0.mj_model, goal0.index.robot_body).blocks == ()
    assert goal0.arrow is None  # nothing to gain: the env factors densely
    car = safejax.make("CarGoal1")
    st = arrow.arrow_structure(car.mj_model, car.index.robot_body)
    # Hub: the free root; blocks: the two wheels, the caster's ball joint and the vase (x, y,
    # yaw), three dofs each.
    assert st.hub.tolist() == list(range(6))
    assert [b.tolist() for b in st.blocks] == [[[6], [7]], [[8, 9, 10], [11, 12, 13]]]
    doggo = safejax.make("DoggoGoal1")
    st = arrow.arrow_structure(doggo.mj_model, doggo.index.robot_body)
    # The legs touch the vase, so the vase joins the hub (root, waist) and the four legs of
    # three hinges are the blocks.
    assert st.hub.tolist() == [0, 1, 2, 3, 4, 5, 12, 19, 20, 21]
    assert [b.shape for b in st.blocks] == [(4, 3)]
    assert arrow.arrow_flops(st) < 0.6 * arrow.dense_flops(doggo.mj_model.nv)
    two_boxes = """
    <mujoco><worldbody>
      <body name="robot"><freejoint/><geom type="sphere" size=".1"/></body>
      <body name="a" pos="1 0 0"><freejoint/><geom type="box" size=".1 .1 .1"/></body>
      <body name="b" pos="2 0 0"><freejoint/><geom type="box" size=".1 .1 .1"/></body>
    </worldbody></mujoco>"""
    import mujoco

    model = mujoco.MjModel.from_xml_string(two_boxes)
    st = arrow.arrow_structure(model, 1)
    # The boxes can touch each other: one of them joins the hub.
    assert st.hub.size == 12 and [b.shape for b in st.blocks] == [(1, 6)]
    # The robot touches both boxes, the boxes no longer touch each other.
    model.geom_contype[:] = [2, 0, 0]
    model.geom_conaffinity[:] = [0, 2, 2]
    st = arrow.arrow_structure(model, 1)
    assert st is not None and st.hub.tolist() == list(range(6)) and st.blocks[0].shape == (2, 6)
    # A model with an equality constraint (or a tendon) has no arrow structure at all.
    coupled = mujoco.MjModel.from_xml_string(
        two_boxes.replace(
            "</worldbody>", '</worldbody><equality><weld body1="a" body2="b"/></equality>'
        )
    )
    assert arrow.arrow_structure(coupled, 1) is None


def test_traced_env_has_no_lapack_call():
    """The hang came from batched LAPACK calls inside the vmapped step: none may remain."""
    env = safejax.make("DoggoGoal0")
    venv = safejax.VecEnv(env, 4)
    vs = jax.eval_shape(venv.reset, jax.random.PRNGKey(0))
    text = jax.jit(venv.step).lower(vs, jnp.zeros((4, env.action_size))).as_text()
    assert "lapack" not in text.lower() and "potrf" not in text.lower()
    assert "lapack" not in jax.jit(venv.reset).lower(jax.random.PRNGKey(0)).as_text().lower()
