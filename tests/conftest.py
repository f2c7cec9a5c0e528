"""Shared, compiled environments and the suite's compile budget.

MJX compiles cost 15-60 s each on CPU, so every test module uses these session-cached jitted
functions instead of building its own. Every compiled XLA:CPU program also holds a few thousand
memory mappings until it is freed, and a process may hold at most `vm.max_map_count` (65,530 by
default on Linux): kept for the whole session, the suite's programs passed that limit and the
next compile crashed. So the compiled programs are freed at the end of every test module, and a
persistent compilation cache (a temporary directory for the session, or
`SAFEJAX_TEST_COMPILATION_CACHE`) lets a later module load an environment's programs again in a
few seconds instead of compiling them.

The suite runs in pytest-xdist workers (`-n 2 --dist loadfile` in pyproject.toml): each worker
process is a session of its own, with its own cache directory, and takes whole modules, so a
module's shared environments still compile once.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile

import jax
import pytest

import safejax

_OWN_CACHE: list[str] = []


def pytest_configure(config):
    cache = os.environ.get("SAFEJAX_TEST_COMPILATION_CACHE")
    if not cache:
        cache = tempfile.mkdtemp(prefix="safejax-test-xla-")
        _OWN_CACHE.append(cache)
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def pytest_unconfigure(config):
    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After a module's last test (and its fixtures' teardown): free every compiled program."""
    if nextitem is None or nextitem.module is not item.module:
        from agents import runner

        runner.release_compiled()


@functools.cache
def compiled(name: str, **overrides):
    """(env, jit(reset), jit(step)) for a registered name, built once per session."""
    env = safejax.make(name, **overrides)
    return env, jax.jit(env.reset), jax.jit(env.step)


@pytest.fixture(scope="session")
def envs():
    return compiled
