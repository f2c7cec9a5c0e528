"""Hazard cost inside and outside the radius (spec section 5.1), worked by hand."""

import jax.numpy as jnp
import pytest

from safejax.elements.hazards import hazard_cost


def test_hazard_cost_is_distance_shaped_inside_and_zero_outside():
    hazards = jnp.array([[0.0, 0.0], [1.0, 0.0]])
    size, w = jnp.float32(0.2), jnp.float32(1.0)
    assert float(hazard_cost(jnp.array([0.05, 0.0]), hazards, size, w)) == pytest.approx(0.15)
    assert float(hazard_cost(jnp.array([0.0, 0.21]), hazards, size, w)) == 0.0
    assert float(hazard_cost(jnp.array([0.5, 0.0]), hazards, size, w)) == 0.0
    # Overlapping hazards add up before binarisation.
    close = jnp.array([[0.0, 0.0], [0.1, 0.0]])
    assert float(hazard_cost(jnp.array([0.05, 0.0]), close, size, w)) == pytest.approx(0.3)
