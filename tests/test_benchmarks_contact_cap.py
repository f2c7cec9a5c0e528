"""benchmarks.contact_cap: which cap it measures, its errors, and a small run's accounting."""

from __future__ import annotations

import re

import pytest

from benchmarks import contact_cap


def test_shipped_cap_comes_from_the_config_or_the_robot():
    assert contact_cap.shipped_cap("CarPush2") == 20  # configs/suite.yaml, robots.car.push
    assert contact_cap.shipped_cap("DoggoGoal1") == 8  # the Doggo's own default
    assert contact_cap.shipped_cap("PointGoal1") is None


def test_errors_name_the_problem():
    with pytest.raises(SystemExit, match="PointGoal1 has no contact cap; pass --cap"):
        contact_cap.main(["--env", "PointGoal1"])
    with pytest.raises(SystemExit, match="knows point and car, not 'doggo'"):
        contact_cap.main(["--env", "DoggoGoal1"])


def test_a_small_run_accounts_for_every_substep(capsys):
    # PointPush1 holds 8 contact slots; pushing the box, the robot's sphere and nose both touch
    # it, so a cap of 1 is exceeded and both rows of the comparison appear.
    contact_cap.main(["--env", "PointPush1", "--cap", "1", "--worlds", "4", "--steps", "40"])
    out = capsys.readouterr().out
    counts = re.search(r"per substep \(count: substeps\):\n  (.*)\n", out).group(1)
    total = sum(int(c.split(": ")[1]) for c in counts.split(", "))
    assert total == 4 * 40 * 10
    over = re.search(r"substeps over the cap: (\d+) of (\d+)", out)
    assert int(over.group(2)) == total
    assert int(over.group(1)) > 0
    assert "capped vs exact, within the cap" in out
    assert "capped vs exact, over the cap" in out
    assert "exact vs exact with qvel x (1 + 1e-6)" in out
