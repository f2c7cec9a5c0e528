"""Layout sampling: keepouts and extents hold over many layouts; failure is a flag."""

import jax
import jax.numpy as jnp
import numpy as np

from safejax import placement


def _check_layouts(extents, keepouts, n_layouts=400):
    keys = jax.random.split(jax.random.PRNGKey(3), n_layouts)
    sample = jax.jit(jax.vmap(lambda k: placement.sample_layout(k, extents, keepouts)))
    xy, ok = sample(keys)
    xy, ok, keep = np.asarray(xy), np.asarray(ok), np.asarray(keepouts)
    assert ok.all()
    d = np.linalg.norm(xy[:, :, None, :] - xy[:, None, :, :], axis=-1)
    need = keep[:, None] + keep[None, :]
    off_diag = ~np.eye(len(keep), dtype=bool)
    assert (d[:, off_diag] >= need[off_diag] - 1e-6).all()
    lo = np.asarray(extents[:2])[None, None, :] + keep[None, :, None]
    hi = np.asarray(extents[2:])[None, None, :] - keep[None, :, None]
    assert (xy >= lo - 1e-6).all() and (xy <= hi + 1e-6).all()
    # Layouts are fresh: no two of them equal.
    assert len({tuple(np.round(x[0], 5)) for x in xy}) == n_layouts


def test_goal2_keepouts_hold():
    # PointGoal2: robot, goal, 10 hazards, 10 vases in [-2, 2]^2.
    keepouts = jnp.array([0.4, 0.305] + [0.18] * 10 + [0.15] * 10)
    _check_layouts(jnp.array([-2.0, -2.0, 2.0, 2.0]), keepouts)


def test_goal1_keepouts_hold():
    keepouts = jnp.array([0.4, 0.305] + [0.18] * 8 + [0.15])
    _check_layouts(jnp.array([-1.5, -1.5, 1.5, 1.5]), keepouts)


def test_impossible_layout_is_a_flag_not_an_exception():
    keepouts = jnp.array([0.4] * 30)  # 30 robots in a 2x2 square cannot fit
    xy, ok = jax.jit(lambda k: placement.sample_layout(k, jnp.array([-1.0, -1, 1, 1]), keepouts,
                                                       max_tries=5))(jax.random.PRNGKey(0))
    assert not bool(ok)
    assert np.isfinite(np.asarray(xy)).all()


def test_resample_point_respects_others_and_need():
    others = jnp.array([[0.0, 0.0], [0.5, 0.5]])
    keep = jnp.array([0.4, 0.18])
    ext = jnp.array([-1.5, -1.5, 1.5, 1.5])
    f = jax.jit(jax.vmap(lambda k: placement.resample_point(k, jnp.array(True), ext, 0.305,
                                                           others, keep)))
    xy, found = f(jax.random.split(jax.random.PRNGKey(1), 200))
    assert np.asarray(found).all()
    d = np.linalg.norm(np.asarray(xy)[:, None, :] - np.asarray(others)[None], axis=-1)
    assert (d >= np.asarray(keep)[None] + 0.305 - 1e-6).all()
    _, found = placement.resample_point(jax.random.PRNGKey(0), jnp.array(False), ext, 0.305,
                                        others, keep)
    assert bool(found)
