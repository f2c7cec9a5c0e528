"""Pseudo-lidar against hand-computed bins (spec section 8.2)."""

import jax.numpy as jnp
import numpy as np
import pytest

from safejax.sensors.lidar import pseudo_lidar

EYE = jnp.eye(3)
ORIGIN = jnp.array([0.0, 0.0, 0.1])


def rot_z(theta):
    c, s = np.cos(theta), np.sin(theta)
    return jnp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_object_at_bin_centre_spills_half_into_neighbours():
    w = 2 * np.pi / 16
    theta = 2.5 * w  # centre of bin 2
    d = 1.5
    obj = jnp.array([[d * np.cos(theta), d * np.sin(theta)]])
    out = np.asarray(pseudo_lidar(ORIGIN, EYE, obj, 16, 3.0))
    s = (3.0 - d) / 3.0
    expected = np.zeros(16)
    expected[2] = s
    expected[3] = 0.5 * s
    expected[1] = 0.5 * s
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_aliasing_fraction_and_wraparound():
    w = 2 * np.pi / 16
    theta = 15.25 * w  # bin 15, alpha 0.25: next bin wraps to 0
    d = 0.6
    obj = jnp.array([[d * np.cos(theta), d * np.sin(theta)]])
    out = np.asarray(pseudo_lidar(ORIGIN, EYE, obj, 16, 3.0))
    s = (3.0 - d) / 3.0
    assert out[15] == pytest.approx(s, abs=1e-5)
    assert out[0] == pytest.approx(0.25 * s, abs=1e-5)
    assert out[14] == pytest.approx(0.75 * s, abs=1e-5)
    assert np.count_nonzero(out) == 3


def test_nearest_object_wins_and_far_objects_read_zero():
    w = 2 * np.pi / 16
    theta = 4.5 * w
    near = [1.0 * np.cos(theta), 1.0 * np.sin(theta)]
    far = [2.0 * np.cos(theta), 2.0 * np.sin(theta)]
    beyond = [-3.5, 0.0]  # beyond max_dist: contributes nothing
    out = np.asarray(pseudo_lidar(ORIGIN, EYE, jnp.array([far, near, beyond]), 16, 3.0))
    assert out[4] == pytest.approx(2.0 / 3.0, abs=1e-6)
    assert out[8] == 0.0 and out[7] == 0.0 and out[9] == 0.0


def test_bins_are_in_the_robot_frame():
    # Robot yawed by +90 deg: an object on world +y is straight ahead (ego angle 0 -> bin 0).
    out = np.asarray(pseudo_lidar(ORIGIN, rot_z(np.pi / 2), jnp.array([[0.0, 1.0]]), 16, 3.0))
    assert int(np.argmax(out)) == 0
    # An object behind-left of a robot at (1, 1) yawed by 0: world (0, 1) -> ego angle 180 deg.
    out = np.asarray(
        pseudo_lidar(jnp.array([1.0, 1.0, 0.1]), EYE, jnp.array([[0.0, 1.0]]), 16, 3.0)
    )
    assert out[8] == pytest.approx(2.0 / 3.0, abs=1e-6)  # 180 deg = start of bin 8 (alpha 0)
    assert out[7] == pytest.approx(2.0 / 3.0, abs=1e-6)  # (1 - alpha) spill into bin 7


def test_mask_and_empty_group():
    obj = jnp.array([[1.0, 0.0]])
    assert float(pseudo_lidar(ORIGIN, EYE, obj, 16, 3.0, mask=jnp.array([False])).sum()) == 0.0
    assert pseudo_lidar(ORIGIN, EYE, jnp.zeros((0, 2)), 16, 3.0).shape == (16,)
