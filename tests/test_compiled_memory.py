"""Compiled programs are freed: the runner keeps one learner, `release_compiled` empties JAX's
caches (every XLA:CPU program holds memory mappings, of which a process may hold 65,530)."""

import jax
import jax.numpy as jnp

from agents import runner


def maps_in_use() -> int:
    """Memory mappings this process holds (Linux), 0 where /proc is not available."""
    try:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _program(n):
    return jax.jit(lambda x: jnp.tanh(jnp.cumsum(x, 0) @ x.T) * n)


def test_release_compiled_empties_jit_caches_and_the_runner_cache():
    fns = [_program(n) for n in range(12)]
    for f in fns:
        f(jnp.ones((8, 8))).block_until_ready()
    assert all(f._cache_size() == 1 for f in fns)
    held = maps_in_use()
    runner._COMPILED[("a run",)] = (None, None, None)
    runner.release_compiled()
    assert not runner._COMPILED
    assert all(f._cache_size() == 0 for f in fns)
    if held:  # Linux: the programs' mappings are returned
        assert maps_in_use() < held
    # still callable: they compile again
    assert float(fns[3](jnp.ones((8, 8)))[0, 0]) == float(3 * jnp.tanh(8.0))
