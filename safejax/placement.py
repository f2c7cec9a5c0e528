"""Jittable layout sampling with keepouts (spec section 7).

Safety Gym rejection-samples each object up to 100 times against the objects already placed,
restarting the whole layout on failure. Here each object draws `num_candidates` points at once
(fixed shape), masks those that violate a keepout and takes the first valid one; a layout that
fails is retried with a new key inside a bounded `while_loop`, and a final failure is a flag, never
an exception.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from safejax.types import Array


def sample_point(
    key: Array,
    extents: Array,
    keepout: Array,
    others_xy: Array,
    others_keepout: Array,
    others_mask: Array,
    num_candidates: int,
) -> tuple[Array, Array]:
    """Draws one point in `extents` shrunk by `keepout`, clear of the masked `others`.

    A candidate is valid iff its distance to every masked other is >= keepout + other's keepout.
    Returns (xy, found): the first valid candidate, or the first candidate with found=False.
    """
    lo = extents[:2] + keepout
    hi = extents[2:] - keepout
    cand = jax.random.uniform(key, (num_candidates, 2), minval=lo, maxval=hi)
    dist = jnp.linalg.norm(cand[:, None, :] - others_xy[None, :, :], axis=-1)
    clear = (dist >= keepout + others_keepout[None, :]) | ~others_mask[None, :]
    valid = jnp.all(clear, axis=1) & jnp.all(lo <= hi)
    idx = jnp.argmax(valid)
    return cand[idx], jnp.any(valid)


def sample_layout(
    key: Array,
    extents: Array,
    keepouts: Array,
    num_candidates: int = 100,
    max_tries: int = 100,
) -> tuple[Array, Array]:
    """Places len(keepouts) objects in order, each clear of those before it.

    Returns (xy (n, 2), ok). Up to `max_tries` whole-layout attempts; `ok` is False if all failed
    (the last attempt's positions are returned, finite).
    """
    n = keepouts.shape[0]

    def attempt(key):
        def place(i, carry):
            xy, placed, ok, key = carry
            key, sub = jax.random.split(key)
            p, found = sample_point(
                sub, extents, keepouts[i], xy, keepouts, placed, num_candidates
            )
            return xy.at[i].set(p), placed.at[i].set(True), ok & found, key

        init = (jnp.zeros((n, 2)), jnp.zeros((n,), bool), jnp.array(True), key)
        xy, _, ok, _ = jax.lax.fori_loop(0, n, place, init)
        return xy, ok

    def cond(carry):
        _, ok, tries, _ = carry
        return (~ok) & (tries < max_tries)

    def body(carry):
        _, _, tries, key = carry
        key, sub = jax.random.split(key)
        xy, ok = attempt(sub)
        return xy, ok, tries + 1, key

    key, sub = jax.random.split(key)
    xy, ok = attempt(sub)
    xy, ok, _, _ = jax.lax.while_loop(cond, body, (xy, ok, jnp.array(1), key))
    return xy, ok


def resample_point(
    key: Array,
    need: Array,
    extents: Array,
    keepout: Array,
    others_xy: Array,
    others_keepout: Array,
    num_candidates: int = 64,
    max_rounds: int = 100,
) -> tuple[Array, Array]:
    """Goal re-sampling: draws rounds of candidates until one is clear of all others.

    Only iterates while `need` is True, so under vmap it costs nothing on steps where no world
    reached its goal. Returns (xy, found); found is True when `need` is False.
    """
    mask = jnp.ones(others_keepout.shape, bool)

    def cond(carry):
        _, found, rounds, _ = carry
        return need & ~found & (rounds < max_rounds)

    def body(carry):
        _, _, rounds, key = carry
        key, sub = jax.random.split(key)
        xy, found = sample_point(sub, extents, keepout, others_xy, others_keepout, mask,
                                 num_candidates)
        return xy, found, rounds + 1, key

    init = (jnp.zeros((2,)), ~need, jnp.array(0), key)
    xy, found, _, _ = jax.lax.while_loop(cond, body, init)
    return xy, found
