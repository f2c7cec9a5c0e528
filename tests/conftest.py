"""Shared, compiled environments: MJX compiles cost 15-60 s each on CPU, so every test module
uses these session-cached jitted functions instead of building its own."""

from __future__ import annotations

import functools

import jax
import pytest

import safejax


@functools.cache
def compiled(name: str, **overrides):
    """(env, jit(reset), jit(step)) for a registered name, built once per session."""
    env = safejax.make(name, **overrides)
    return env, jax.jit(env.reset), jax.jit(env.step)


@pytest.fixture(scope="session")
def envs():
    return compiled
