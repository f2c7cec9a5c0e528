"""Cholesky factorisation and solve in plain JAX operations, for the small systems of MJX.

MJX factors three symmetric positive definite nv x nv matrices per physics step with
`jax.scipy.linalg.cho_factor` / `cho_solve`: the mass matrix (`smooth.factor_m`), the mass matrix
plus implicit damping (`forward.euler`) and the Newton solver's Hessian (`solver._update_gradient`,
once per iteration). `pure_cholesky()` swaps in the functions of this module while MJX code is
traced (`safejax.physics.mjx`'s `step`, `substep` and `forward` do so). Two reasons:

1. **No LAPACK.** Under `vmap` the LAPACK versions become one batched `potrf` call each, and
   jaxlib 0.10.2's CPU kernel splits a large batch into chunks on XLA's intra-op thread pool and
   blocks until they finish. When as many such calls run at once as the pool has threads (2 on a
   2-core machine), every pool thread waits and none runs the chunks: the process hangs at 0% CPU
   (DoggoGoal1 at 256 and 1024 worlds, PointGoal2 at 2048). jaxlib 0.11 removes that code path,
   but 0.10.2 is the newest release available to this project.
2. **Arrow structure.** In a safejax scene every physics object (vase, push box) is its own
   kinematic tree that collides with the robot only. Its mass-matrix block is independent of the
   others, and contacts couple it to the robot's dofs alone, so all three matrices are "arrow"
   shaped: a dense robot block (the hub), small dense diagonal blocks (2 x 2 per vase, 3 x 3 for
   the box) and robot-object couplings, zero elsewhere. Eliminating the object blocks first
   leaves no fill-in: the factor costs a few tiny Cholesky factors plus one of the robot's size
   (nv 23 -> 3 for PointGoal2, 39 -> 19 for DoggoGoal2). `ArrowStructure` names the partition;
   `safejax.physics.arrow.arrow_structure` derives it from the model and checks that no contact
   can couple two objects.

The dense factor is right-looking and unrolled over columns (static shapes, each step one fused
outer-product update); the triangular solves are loops over rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from safejax.types import Array

_lock = threading.RLock()
# Triangular systems up to this size are solved column by column in unrolled Python loops (n
# vector updates), larger ones with a `fori_loop` over rows.
_UNROLL = 4


def cholesky_lower(a: Array) -> Array:
    """Lower-triangular L with a = L L^T, for a symmetric positive definite (n, n) matrix.

    Right-looking: take the first column of the trailing block, scale it by the square root of
    its diagonal entry, subtract its outer product from the rest. A matrix that is not positive
    definite gives NaN, as a failed LAPACK factorisation does in JAX.
    """
    n = a.shape[-1]
    cols = []
    rest = a
    for j in range(n):
        col = rest[:, 0] / jnp.sqrt(rest[0, 0])
        cols.append(jnp.concatenate([jnp.zeros(j, a.dtype), col]) if j else col)
        if j < n - 1:
            rest = rest[1:, 1:] - jnp.outer(col[1:], col[1:])
    return jnp.stack(cols, axis=1)


def _against(v: Array, like: Array) -> Array:
    """A vector of L's entries shaped to broadcast against `like`'s trailing axes (a vector or a
    matrix right-hand side)."""
    return v.reshape(v.shape + (1,) * (like.ndim - 1))


def solve_lower(low: Array, b: Array) -> Array:
    """y with L y = b (forward substitution, column by column); b is (n,) or (n, k)."""
    n = low.shape[-1]
    if n > _UNROLL:
        return _solve_lower_loop(low, b)
    ys = []
    rest = b
    for j in range(n):
        y = rest[0] / low[j, j]
        ys.append(y)
        if j < n - 1:
            rest = rest[1:] - _against(low[j + 1 :, j], rest) * y
    return jnp.stack(ys)


def solve_lower_t(low: Array, y: Array) -> Array:
    """x with L^T x = y (backward substitution, column by column); y is (n,) or (n, k)."""
    n = low.shape[-1]
    if n > _UNROLL:
        return _solve_lower_t_loop(low, y)
    xs = [None] * n
    rest = y
    for i in reversed(range(n)):
        xs[i] = rest[i] / low[i, i]
        if i:
            rest = rest[:i] - _against(low[i, :i], rest) * xs[i]
    return jnp.stack(xs)


def _solve_lower_loop(low: Array, b: Array) -> Array:
    """`solve_lower` as a fori_loop over rows, for systems too large to unroll."""
    diag = jnp.diagonal(low)

    def row(i, y):  # entries of y from i on are still zero
        return y.at[i].set((b[i] - low[i, :] @ y) / diag[i])

    return jax.lax.fori_loop(0, low.shape[-1], row, jnp.zeros_like(b))


def _solve_lower_t_loop(low: Array, y: Array) -> Array:
    """`solve_lower_t` as a fori_loop over rows, for systems too large to unroll."""
    n = low.shape[-1]
    diag = jnp.diagonal(low)

    def row(k, x):  # from the last row up; entries up to i are still zero
        i = n - 1 - k
        return x.at[i].set((y[i] - low[:, i] @ x) / diag[i])

    return jax.lax.fori_loop(0, n, row, jnp.zeros_like(y))


def cholesky_solve_lower(low: Array, b: Array) -> Array:
    """x with (L L^T) x = b; b is (n,) or (n, k)."""
    return solve_lower_t(low, solve_lower(low, b))


@dataclasses.dataclass(frozen=True, eq=False)
class ArrowStructure:
    """A partition of the nv dofs under which the scene's matrices are arrow shaped.

    Attributes:
      nv: matrix size.
      hub: (nh,) dof ids of the block every other block may couple to (the robot).
      blocks: groups of equal-size independent blocks, each an int array (K, s) of dof ids:
        entries between two different blocks are zero.
    """

    nv: int
    hub: np.ndarray
    blocks: tuple[np.ndarray, ...]

    def __post_init__(self):
        ids = np.concatenate([self.hub] + [b.reshape(-1) for b in self.blocks])
        if sorted(ids.tolist()) != list(range(self.nv)):
            raise ValueError(f"arrow structure must partition the {self.nv} dofs, got {ids}")


def _runs(ids) -> list[tuple[int, int]]:
    """Static ids as maximal runs of consecutive integers [start, stop)."""
    out: list[list[int]] = []
    for i in (int(x) for x in ids):
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return [(a, b) for a, b in out]


def _take(x: Array, ids, axis: int = 0) -> Array:
    """x[ids] along `axis` for static ids, as slices of their consecutive runs (no gather)."""
    parts = [jax.lax.slice_in_dim(x, a, b, axis=axis) for a, b in _runs(ids)]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis)


def _run_segments(ids, x: Array) -> list[tuple[int, Array]]:
    """(first dof id, rows of x) for each consecutive run of `ids`, x holding ids' rows in order."""
    out, pos = [], 0
    for start, stop in _runs(ids):
        out.append((start, x[pos : pos + stop - start]))
        pos += stop - start
    return out


def _sub(a: Array, rows, cols) -> Array:
    return _take(_take(a, rows, 0), cols, 1)


def arrow_factor(a: Array, st: ArrowStructure) -> Array:
    """Cholesky factor of an arrow-shaped SPD matrix in the order (blocks, hub).

    For each block c_k = a[block, block]: its factor Lc_k, and W_k^T = Lc_k^-1 a[block, hub];
    then the factor of the hub's Schur complement a[hub, hub] - sum_k W_k W_k^T. These are
    packed flat, in that order, into an (nv, nv) array (zero padded) that only `arrow_solve`
    reads. Every piece of `a` is taken with static slices: no gathers or scatters.
    """
    hub = st.hub
    schur = _sub(a, hub, hub)
    pieces = []
    for idx in st.blocks:  # (K, s)
        c = jnp.stack([_sub(a, i, i) for i in idx])  # (K, s, s)
        bt = jnp.stack([_sub(a, i, hub) for i in idx])  # (K, s, nh)
        lc = jax.vmap(cholesky_lower)(c)
        wt = jax.vmap(solve_lower)(lc, bt)  # W_k^T
        schur = schur - jnp.einsum("ksh,ksg->hg", wt, wt)
        pieces += [lc.reshape(-1), wt.reshape(-1)]
    pieces.append(cholesky_lower(schur).reshape(-1))
    used = sum(p.size for p in pieces)
    pieces.append(jnp.zeros(st.nv * st.nv - used, a.dtype))
    return jnp.concatenate(pieces).reshape(st.nv, st.nv)


def arrow_solve(packed: Array, b: Array, st: ArrowStructure) -> Array:
    """x with a x = b, from `arrow_factor(a, st)`; b is (nv,) or (nv, k)."""
    hub, nh = st.hub, st.hub.size
    flat = packed.reshape(-1)
    vec = b.ndim == 1
    rhs = b[:, None] if vec else b
    rhs_hub = _take(rhs, hub)
    parts = []
    off = 0
    for idx in st.blocks:
        k, s = idx.shape
        lc = flat[off : off + k * s * s].reshape(k, s, s)
        off += k * s * s
        wt = flat[off : off + k * s * nh].reshape(k, s, nh)
        off += k * s * nh
        y = jax.vmap(solve_lower)(lc, jnp.stack([_take(rhs, i) for i in idx]))  # (K, s, m)
        rhs_hub = rhs_hub - jnp.einsum("ksh,ksm->hm", wt, y)
        parts.append((idx, lc, wt, y))
    low_hub = flat[off : off + nh * nh].reshape(nh, nh)
    x_hub = cholesky_solve_lower(low_hub, rhs_hub)
    # Reassemble x in dof order from the hub's and the blocks' consecutive runs.
    segments = _run_segments(hub, x_hub)
    for idx, lc, wt, y in parts:
        xb = jax.vmap(solve_lower_t)(lc, y - jnp.einsum("ksh,hm->ksm", wt, x_hub))
        for ids, xk in zip(idx, xb, strict=True):
            segments += _run_segments(ids, xk)
    x = jnp.concatenate([seg for _, seg in sorted(segments, key=lambda t: t[0])])
    return x[:, 0] if vec else x


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


def _arrow_pair(st: ArrowStructure):
    """cho_factor / cho_solve that use `st` for (nv, nv) matrices and the dense path otherwise."""

    def factor(a, lower=False, overwrite_a=False, check_finite=True):
        if a.shape[-2:] != (st.nv, st.nv):
            return cho_factor(a, lower)
        return arrow_factor(a, st), lower

    def solve(c_and_lower, b, overwrite_b=False, check_finite=True):
        c, _ = c_and_lower
        if c.shape[-2:] != (st.nv, st.nv):
            return cho_solve(c_and_lower, b)
        return arrow_solve(c, b, st)

    return factor, solve


@contextlib.contextmanager
def pure_cholesky(structure: ArrowStructure | None = None):
    """While active, `jax.scipy.linalg.cho_factor` / `cho_solve` are this module's functions:
    the arrow-structured pair for (nv, nv) matrices when `structure` is given, else the dense
    pair. A factor made inside one context must be solved inside one with the same structure
    (MJX keeps the mass-matrix factor in `Data.qLD`, and every MJX step recomputes it first).

    Meant to wrap the tracing of MJX code; re-entrant, and serialised across threads so that two
    threads tracing at once restore the originals correctly.
    """
    pair = (cho_factor, cho_solve) if structure is None else _arrow_pair(structure)
    with _lock:
        saved = jsl.cho_factor, jsl.cho_solve
        jsl.cho_factor, jsl.cho_solve = pair
        try:
            yield
        finally:
            jsl.cho_factor, jsl.cho_solve = saved
