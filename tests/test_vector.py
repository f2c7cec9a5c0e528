"""VecEnv's auto-reset on a physics-free env (tests.fakes), compiled in seconds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safejax.vector import VecEnv
from tests.fakes import FakeEnv


class FlaggedLayouts(FakeEnv):
    """FakeEnv whose reset fails its layout for about half the keys, and whose step passes the
    flag on from the state's metrics, as `safejax.Env.step` does. The state's task also keeps the
    flag, so a test can tell which layout a world is on."""

    def reset(self, key):
        s = super().reset(key)
        failed = (jax.random.uniform(jax.random.fold_in(key, 7)) < 0.5).astype(jnp.float32)
        return s.replace(
            task={**s.task, "failed": failed},
            metrics={**s.metrics, "layout_failed": failed},
        )

    def step(self, state, action):
        s = super().step(state, action)
        return s.replace(
            task={**s.task, "failed": state.task["failed"]},
            metrics={**s.metrics, "layout_failed": state.metrics["layout_failed"]},
        )


@pytest.mark.parametrize("reset_slots", [None, 16])
def test_layout_flag_after_auto_reset_is_the_new_layouts(reset_slots):
    # None: every world's reset computed and selected; 16: only the finished worlds reset.
    env = FlaggedLayouts(num_steps=3)
    venv = VecEnv(env, 16, reset_slots=reset_slots)
    step = jax.jit(venv.step)
    vs = jax.jit(venv.reset)(jax.random.PRNGKey(0))
    action = jnp.zeros((16, 2))
    changed = 0
    for _ in range(12):
        before = np.asarray(vs.state.task["failed"])
        vs = step(vs, action)
        done = np.asarray(vs.episode.done)
        layout = np.asarray(vs.state.task["failed"])
        flag = np.asarray(vs.state.metrics["layout_failed"])
        # Every world reports the flag of the layout it is on, also right after an auto-reset.
        np.testing.assert_array_equal(flag, layout)
        changed += int(np.sum(done & (layout != before)))
        # The finished episode's sum counts its own layout's flag on each of its steps.
        ended = np.asarray(vs.episode.done_metrics["layout_failed"])
        lengths = np.asarray(vs.episode.done_length)
        np.testing.assert_array_equal(ended[done], (before * lengths)[done])
    # Resets happened, and some of them moved a world between a failed and a good layout.
    assert changed > 0
