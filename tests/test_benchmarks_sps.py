"""benchmarks.sps: the Markdown table marks each target met or missed, and bad keys fail early."""

from __future__ import annotations

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
