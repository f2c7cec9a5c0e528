"""`python -m benchmarks.run` end to end on a tiny budget (fake env injected), its errors,
Ctrl-C handling and --resume."""

import csv
import json
import signal

import pytest

from benchmarks import run as bench
from benchmarks.reference import normalized, reference_for
from tests.fakes import TINY, FakeEnv, tiny_args

TINY_RUN = tiny_args() + ["--chunk", "2", "--eval-episodes", "4"]
UPDATE_STEPS = TINY["num_envs"] * TINY["rollout_len"]
STEPS = ["--steps", str(UPDATE_STEPS * 5)]  # 5 updates: chunks of 2, 2, 1


_FAKE = FakeEnv(num_steps=6)


def _env(name):
    # One env object, so runs in this module share compiled learners.
    return _FAKE


def _main(argv, **kw):
    return bench.main(argv, make_env=_env, **kw)


def _rows(out):
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _key(rows):
    # Everything but wall-clock columns.
    return [{k: v for k, v in r.items() if k not in ("sps", "time_s")} for r in rows]


def _run_dir(tmp_path_factory, name, seeds):
    out = tmp_path_factory.mktemp("runs") / name
    argv = ["--env", "PointGoal1", "--algo", "ppo_lag", "--seeds", seeds, "--out", str(out)]
    assert _main(argv + STEPS + TINY_RUN) == 0
    return out


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Two seeds side by side (vmap)."""
    return _run_dir(tmp_path_factory, "full", "2")


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """One seed (no vmap)."""
    return _run_dir(tmp_path_factory, "single", "1")


def test_writes_all_files(full_run):
    files = ("config.yaml", "metrics.csv", "summary.json", "curves.png", "checkpoint.msgpack",
             "eval.json")  # fmt: skip
    for name in files:
        assert (full_run / name).stat().st_size > 0, name
    rows = _rows(full_run)
    assert [(r["seed"], r["update"]) for r in rows] == [
        (str(s), str(u)) for u in range(1, 6) for s in (0, 1)
    ]
    for col in ("J_r", "J_c", "episodes", "rho_c", "lambda", "loss_pi", "loss_vr", "kl", "sps"):
        assert col in rows[0]
    assert rows[-1]["env_steps"] == str(4 * 8 * 5)
    s = json.loads((full_run / "summary.json").read_text())
    assert s["complete"] and s["updates"] == 5 and s["seeds"] == [0, 1]
    for k in ("J_r", "J_c", "rho_c", "env_steps_per_s"):
        assert isinstance(s[k], float), k
    assert s["J_c"] == pytest.approx(sum(float(r["J_c"]) for r in rows[-2:]) / 2, rel=1e-5)
    # Normalized against unconstrained PPO's PointGoal1 row (ENVIRONMENTS.md 1.6).
    n = s["normalized"]
    assert n["J_r"] == pytest.approx(s["J_r"] / 25.179)
    assert n["J_c"] == pytest.approx(max(0.0, s["J_c"] - 25.0) / (53.109 - 25.0))
    assert n["rho_c"] == pytest.approx(s["rho_c"] / 0.063)


def test_interrupt_keeps_rows_and_resume_continues(single_run, tmp_path):
    out = tmp_path / "cut"
    argv = ["--env", "PointGoal1", "--algo", "ppo_lag", "--out", str(out)]
    # Ctrl-C during the first chunk: the chunk finishes, is written and checkpointed, then stop.
    stop = lambda done: signal.raise_signal(signal.SIGINT)  # noqa: E731
    status = _main(argv + STEPS + TINY_RUN, on_chunk=stop)
    assert status == 130
    rows = _rows(out)
    assert [r["update"] for r in rows] == ["1", "2"]
    assert json.loads((out / "summary.json").read_text())["complete"] is False
    # A row written after the checkpoint (a kill between the two) is dropped on resume.
    with open(out / "metrics.csv", "a") as f:
        f.write(",".join(["0", "0", "", "3"] + ["0"] * (len(rows[0]) - 4)) + "\n")
    assert _main(["--resume", str(out)]) == 0
    # Same rows as the uninterrupted run: nothing repeated, nothing lost, same numbers.
    assert _key(_rows(out)) == _key(_rows(single_run))
    assert json.loads((out / "summary.json").read_text())["complete"] is True


def test_vmapped_seed_matches_the_one_seed_run(full_run, single_run):
    # --seeds 2 --seed 0 runs PRNGKey(0) and PRNGKey(1); its seed 0 is the one-seed run.
    vmapped = [r for r in _key(_rows(full_run)) if r["seed"] == "0"]
    single = _key(_rows(single_run))
    assert [r["update"] for r in vmapped] == [r["update"] for r in single]
    for a, b in zip(vmapped, single, strict=True):
        for col in ("J_r", "J_c", "rho_c", "lambda", "loss_vr", "loss_vc", "kl"):
            assert float(a[col]) == pytest.approx(float(b[col]), rel=1e-3, abs=1e-5), col


def test_resume_can_extend_the_budget(full_run, tmp_path):
    import shutil

    out = tmp_path / "more"
    shutil.copytree(full_run, out)
    assert _main(["--resume", str(out), "--steps", str(UPDATE_STEPS * 6)]) == 0
    rows = _rows(out)
    assert rows[-1]["update"] == "6" and len(rows) == 12


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env", "PointGoal1", "--algo", "sac"], "unknown algorithm 'sac'; valid: "),
        (["--env", "PointGoal1", "--algo", "ppo", "--set", "lr=1"], "unknown --set key(s) lr"),
        (["--env", "PointGoal1", "--algo", "ppo", "--set", "gamma=x"], "gamma must be float"),
        (["--env", "PointGoal1", "--algo", "ppo", "--set", "gamma"], "--set expects KEY=VALUE"),
        (["--algo", "ppo"], "--env and --algo are required"),
    ],
)
def test_bad_input_is_a_clear_error(argv, message, capsys, tmp_path):
    assert _main(argv + ["--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unknown_env_lists_registered_names(capsys, tmp_path):
    import safejax

    status = bench.main(["--env", "PointGoal9", "--algo", "ppo", "--out", str(tmp_path / "x")])
    assert status == 2
    err = capsys.readouterr().err
    assert "PointGoal9" in err
    assert all(name in err for name in safejax.registered_names())


def test_existing_run_dir_is_not_overwritten(full_run, capsys):
    argv = ["--env", "PointGoal1", "--algo", "ppo_lag", "--out", str(full_run)]
    assert _main(argv) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_reference_table_lookup():
    # Safety Gym's unconstrained-PPO row (ENVIRONMENTS.md 1.6), by name and by alias.
    for name in ("PointGoal1", "Safexp-PointGoal1-v0", "SafetyPointGoal1-v0"):
        assert reference_for(name) == (25.179, 53.109, 0.063), name
    assert reference_for("PointGoal0") is None
    assert normalized("PointGoal0", 1.0, 1.0, 0.1) is None
    assert normalized("CarGoal1", 25.49, 10.0, 0.054)["J_c"] == 0.0
