"""The suite regression fixture (`benchmarks.regression`, docs/REGRESSION.md): three environments
that together cover the three robots and the three tasks must reproduce the recorded rollouts bit
for bit, and `check` must report a single changed value.

Only these three compile here (with the tests' shared compiled environments); the other 24 are
checked with `python -m benchmarks.regression check`.
"""

from __future__ import annotations

import copy

import jax
import numpy as np
import pytest

import safejax
from benchmarks import regression
from safejax.env import cost_keys

# One environment per robot and per task, with hazards, vases, pillars, gremlins and buttons among
# them. Other test modules compile these same three through `envs` (test_env_tasks, test_suite,
# test_env_doggo), so in a full run their programs load from the session's compilation cache.
SUBSET = ("PointButton1", "CarPush2", "DoggoGoal1")
FIXTURE = regression.DEFAULT_FIXTURE

pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason=f"no fixture at {FIXTURE}")


@pytest.fixture(scope="module")
def recorded():
    return regression.load(FIXTURE)


@pytest.fixture(scope="module")
def computed(envs, recorded):
    """The subset's rollouts, with the fixture's steps and seeds, from the shared compiled envs."""
    meta, _ = recorded
    return {
        name: regression.rollout(
            name,
            meta["steps"],
            meta["reset_seed"],
            meta["action_seed"],
            compiled=envs(name),
            seek_steps=meta["seek_steps"],
        )
        for name in SUBSET
    }


def test_fixture_covers_the_suite(recorded):
    meta, results = recorded
    assert sorted(results) == sorted(safejax.registered_names())
    assert (meta["steps"], meta["seek_steps"]) == (regression.STEPS, regression.SEEK_STEPS)
    assert (meta["reset_seed"], meta["action_seed"]) == (
        regression.RESET_SEED,
        regression.ACTION_SEED,
    )
    robots = {n[: -len(t) - 1] for n in SUBSET for t in ("Goal", "Button", "Push") if t in n}
    tasks = {t for n in SUBSET for t in ("Goal", "Button", "Push") if t in n}
    assert robots == {"Point", "Car", "Doggo"} and tasks == {"Goal", "Button", "Push"}
    for name in SUBSET:
        fields = results[name]
        for f in ("obs", "reward", "cost", "terminated", "truncated", "metrics/cost_hazards"):
            assert fields[f].shape[0] == meta["steps"] + meta["seek_steps"], (name, f)
        assert fields["obs"].dtype == np.float32 and fields["terminated"].dtype == np.bool_


def test_fixture_meets_every_cost_and_goal(recorded):
    """The scripted phase makes the fixture exercise every constraint and the goal: each cost
    metric and `goal_met` is nonzero at some step of some environment."""
    _, results = recorded
    for key in (*cost_keys(), "goal_met"):
        hits = [n for n, fields in results.items() if np.any(fields[f"metrics/{key}"] > 0)]
        assert hits, f"no environment of the fixture has {key} > 0"


@pytest.mark.parametrize("name", SUBSET)
def test_subset_is_bit_identical(recorded, computed, name):
    meta, results = recorded
    if jax.default_backend() != "cpu":
        pytest.skip(f"the fixture was recorded on {meta['backend']}")
    diff = regression.compare(results[name], computed[name])
    assert diff is None, (
        f"{name} {diff} (recorded at {meta['commit']} on {meta['cpu']!r} with "
        f"{meta['versions']}; bit-exact results hold for one machine and package set)"
    )


def test_compare_reports_one_changed_value(recorded, computed):
    _, results = recorded
    name = SUBSET[0]
    expected, actual = results[name], computed[name]
    for field, index, at in (("obs", (6, 3), "step 7"), ("reset_obs", (2,), "reset")):
        perturbed = copy.deepcopy(expected)
        a = perturbed[field]
        a[index] = np.nextafter(a[index], np.float32(np.inf))  # one ulp
        diff = regression.compare(perturbed, actual)
        assert diff is not None and at in diff and f"{field} (max |diff|" in diff, diff
    perturbed = copy.deepcopy(expected)
    perturbed["metrics/goal_met"] = -perturbed["metrics/goal_met"]  # 0.0 -> -0.0: bits differ
    assert "metrics/goal_met" in regression.compare(perturbed, actual)
    perturbed = copy.deepcopy(expected)
    del perturbed["cost"]
    assert "new ['cost']" in regression.compare(perturbed, actual)


def test_check_exits_1_on_a_perturbed_fixture(tmp_path, recorded, computed, capsys):
    """`check` end to end (load, compare, report, exit status) on a copy of the fixture, with the
    rollouts already computed above."""
    meta, results = recorded
    subset = {name: results[name] for name in SUBSET}

    def compute(name, steps, reset_seed, action_seed, seek_steps):
        assert (steps, reset_seed, action_seed, seek_steps) == (
            meta["steps"],
            meta["reset_seed"],
            meta["action_seed"],
            meta["seek_steps"],
        )
        return computed[name]

    path = tmp_path / "copy.npz"
    regression.save(path, subset, meta)
    assert regression.check(path, list(SUBSET), compute=compute) == 0
    assert capsys.readouterr().out.count("identical") >= len(SUBSET)

    perturbed = copy.deepcopy(subset)
    perturbed[SUBSET[1]]["reward"][4] += np.float32(1e-3)
    regression.save(path, perturbed, meta)
    assert regression.check(path, list(SUBSET), compute=compute) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if f"] {SUBSET[1]}:" in x)
    assert "differs from step 5: reward (max |diff| 0.001)" in line, out
    assert f"{len(SUBSET) - 1}/{len(SUBSET)} identical" in out


def test_unknown_names_list_the_valid_ones(capsys):
    assert regression.main(["check", "--envs", "PointGoal1,PointGoal7"]) == 2
    err = capsys.readouterr().err
    assert "unknown environment(s): PointGoal7" in err and "DoggoPush2" in err


def test_update_replaces_only_the_named_environments(tmp_path, recorded):
    """`record --update` keeps the fixture's other environments and metadata, replaces the named
    ones and notes them in the metadata's `updates`."""
    meta, results = recorded
    kept, redone = SUBSET[0], SUBSET[1]
    path = tmp_path / "copy.npz"
    regression.save(path, {kept: results[kept], redone: results[redone]}, meta)
    changed = copy.deepcopy(results[redone])
    changed["reward"][0] += np.float32(1.0)

    def compute(name, steps, reset_seed, action_seed, seek_steps):
        assert (name, steps, reset_seed, action_seed) == (
            redone,
            meta["steps"],
            meta["reset_seed"],
            meta["action_seed"],
        )
        return changed

    regression.record(path, [redone], meta["steps"], compute=compute, update=True)
    new_meta, new_results = regression.load(path)
    assert sorted(new_results) == sorted([kept, redone])
    np.testing.assert_array_equal(new_results[redone]["reward"], changed["reward"])
    for field, array in results[kept].items():
        np.testing.assert_array_equal(new_results[kept][field], array)
    assert new_meta["commit"] == meta["commit"]
    assert new_meta["updates"][-1]["envs"] == [redone]
    with pytest.raises(regression.UsageError, match="steps"):
        regression.record(path, [redone], meta["steps"] + 1, compute=compute, update=True)
