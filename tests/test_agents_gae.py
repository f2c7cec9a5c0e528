"""GAE: a hand-worked 3-step example with a truncation and a termination, and a naive check."""

import jax
import jax.numpy as jnp
import numpy as np

from agents.common.gae import gae


def _example():
    # One world, three steps, gamma 0.9, lam 0.5:
    #   step 0: ordinary, reaches s1 (V = 1.0)
    #   step 1: time limit (truncated): bootstrap from V(final obs) = 4.0, then auto-reset to s2
    #   step 2: terminal: V(final obs) = 9.0 must be ignored
    rewards = jnp.array([[1.0], [2.0], [3.0]])
    values = jnp.array([[0.5], [1.0], [1.5]])
    next_values = jnp.array([[1.0], [4.0], [9.0]])
    terminated = jnp.array([[False], [False], [True]])
    done = jnp.array([[False], [True], [True]])
    return rewards, values, next_values, terminated, done


def test_gae_hand_worked_truncation_and_termination():
    r, v, nv, term, done = _example()
    adv = np.asarray(gae(r, v, nv, term, done, 0.9, 0.5))[:, 0]
    # delta2 = 3 - 1.5 = 1.5 (no bootstrap: terminal)
    # delta1 = 2 + 0.9 * 4.0 - 1.0 = 4.6 (bootstrap from the final obs: truncation); chain cut
    # delta0 = 1 + 0.9 * 1.0 - 0.5 = 1.4;  A0 = 1.4 + 0.9 * 0.5 * 4.6 = 3.47
    np.testing.assert_allclose(adv, [3.47, 4.6, 1.5], rtol=1e-6)


def test_lam_one_gives_bootstrapped_returns_to_go():
    r, v, nv, term, done = _example()
    ret = np.asarray(gae(r, v, nv, term, done, 0.9, 1.0) + v)[:, 0]
    # G2 = 3 (terminal); G1 = 2 + 0.9 * 4.0 = 5.6 (truncated); G0 = 1 + 0.9 * G1 = 6.04
    np.testing.assert_allclose(ret, [6.04, 5.6, 3.0], rtol=1e-6)


def test_gae_matches_naive_loop():
    key = jax.random.PRNGKey(3)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    t, n, gamma, lam = 12, 5, 0.97, 0.9
    r = jax.random.normal(k1, (t, n))
    v = jax.random.normal(k2, (t, n))
    nv = jax.random.normal(k3, (t, n))
    flags = jax.random.randint(k4, (t, n), 0, 6)
    term, done = flags == 0, flags <= 1
    adv = np.asarray(gae(r, v, nv, term, done, gamma, lam))
    r, v, nv, term, done = map(np.asarray, (r, v, nv, term, done))
    want = np.zeros((t, n))
    for j in range(n):
        running = 0.0
        for i in reversed(range(t)):
            boot = 0.0 if term[i, j] else nv[i, j]
            delta = r[i, j] + gamma * boot - v[i, j]
            running = delta + gamma * lam * (0.0 if done[i, j] else running)
            want[i, j] = running
    np.testing.assert_allclose(adv, want, rtol=1e-5, atol=1e-5)
