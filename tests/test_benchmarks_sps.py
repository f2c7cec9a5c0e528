"""benchmarks.sps: the Markdown table marks each target met or missed, and bad keys fail early."""

from __future__ import annotations

import jax
import pytest

from benchmarks import sps


def _row(env, rate):
    return {
        "env": env,
        "num_envs": 8,
        "compile_s": 1.0,
        "env_steps_per_s": rate,
        "env_steps_per_cpu_s": rate,
    }


def test_markdown_table_marks_targets():
    table = sps.markdown_table(
        [_row("PointGoal1", 10_000), _row("CarPush2", 2_999), _row("DoggoPush0", 5)]
    ).splitlines()
    assert len(table) == 5
    assert table[2].endswith("| 10,000 | yes |")
    assert table[3].endswith("| 3,000 | no |")
    assert table[4].endswith("|  |  |")  # no target for DoggoPush0


def test_bad_override_key_fails_before_compiling():
    with pytest.raises(Exception, match="not_a_key"):
        sps.main(["--env", "PointGoal1", "--set", "not_a_key=1"])


def test_staggered_clocks_spread_over_the_episode_and_resets_are_timed():
    """`--stagger`: world i of N starts its clock at floor(i L / N); a short measurement of 8
    worlds whose episodes last 4 steps then resets some world in every timed step."""
    settings = {"num_steps": 4, "physics": "mujoco"}  # compiles in seconds
    r = sps.measure("PointGoal0", 8, 3, 1, settings, shard=False, stagger=True)
    assert r["stagger"] and r["env_steps_per_s"] > 0
    import safejax

    venv = safejax.VecEnv(safejax.make("PointGoal0", **settings), 8, devices=None)
    vs = safejax.stagger_clocks(jax.jit(venv.reset)(jax.random.PRNGKey(0)), 4)
    step = jax.jit(venv.step)
    assert vs.state.step.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    ended = []
    for _ in range(4):
        vs = step(vs, jax.numpy.zeros((8, 2)))
        ended.append(int(vs.episode.done.sum()))
    assert ended == [2, 2, 2, 2]
