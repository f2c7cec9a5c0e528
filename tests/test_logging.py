"""Live logs and episode breakdowns: TensorBoard event files beside metrics.csv (the same values),
the opt-outs, the W&B error without the package, and the per-constraint `ep_*` columns, on the
physics-free FakeEnv (registered names stand for it; `make_env` injects it)."""

import csv
import math
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import agents
from agents import checkpoint, livelog, runfiles, runner
from agents.sweep import sweep
from benchmarks import run as bench_run
from benchmarks import sweep as bench_sweep
from safejax.vector import EpisodeStats, VecEnv
from tests.fakes import TINY, FakeEnv, tiny_args

UPDATE_STEPS = TINY["num_envs"] * TINY["rollout_len"]
STEPS = UPDATE_STEPS * 4  # 4 updates per member, chunks of 2
CHUNK = 2
# One object, so the runs of this module share one compiled program.
_FAKE = FakeEnv(num_steps=6, name="PointGoal1")


def fake(name):
    return _FAKE


def _rows(out):
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _run(out, **kw):
    return agents.run(
        _FAKE, "ppo_lag", STEPS, 2, overrides=TINY, out_dir=out, chunk=CHUNK, eval_episodes=0,
        log=None, **kw,
    )  # fmt: skip


# metrics.csv columns that are no scalars: who a row belongs to, and the x-axis (docs/AGENTS.md).
NOT_SCALARS = {"member", "seed", "setting", "update", "env_steps"}


def _expected_scalars(rows):
    """{tag: [(env_steps, value)]} that metrics.csv's rows call for."""
    out = {}
    for r in rows:
        for col, value in r.items():
            if col not in NOT_SCALARS and value != "":
                out.setdefault(f"member{r['member']}/{col}", []).append(
                    (int(r["env_steps"]), float(value))
                )
    return out


def _assert_same_scalars(got, rows):
    want = _expected_scalars(rows)
    assert sorted(got) == sorted(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        for (_, a), (_, b) in zip(got[tag], points, strict=True):
            # metrics.csv holds 6 significant digits, the event file float32.
            assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-30), (tag, a, b)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Two seeds, four updates, default logging (TensorBoard on)."""
    result = _run(tmp_path_factory.mktemp("runs") / "full")
    assert result.status == 0
    return result.out


# ------------------------------------------------------------------------------ TensorBoard


def test_event_file_holds_every_column_of_metrics_csv(full_run):
    files = livelog.event_files(full_run)
    assert len(files) == 1 and files[0].stat().st_size > 0
    rows = _rows(full_run)
    got = livelog.read_scalars(full_run)
    _assert_same_scalars(got, rows)
    # One scalar per column and member, the x-axis env steps.
    assert {"member0/J_r", "member1/J_c", "member0/ep_cost_hazards", "member1/ep_length",
            "member0/loss_pi", "member1/sps"} <= set(got)  # fmt: skip
    assert [s for s, _ in got["member1/rho_c"]] == [UPDATE_STEPS * u for u in (1, 2, 3, 4)]


@pytest.mark.parametrize("run", ["full_run", "resumed_run"])
def test_event_files_read_by_tensorboard_match(run, request):
    """TensorBoard itself (where installed) reads the same scalars, the purge included."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    out = request.getfixturevalue(run)
    out = out[0] if run == "resumed_run" else out
    acc = accumulator.EventAccumulator(str(out), size_guidance={"scalars": 0})
    acc.Reload()
    got = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    _assert_same_scalars(got, _rows(out))
    assert got == livelog.read_scalars(out)


def test_no_tensorboard_writes_no_event_file(tmp_path, full_run):
    result = _run(tmp_path / "quiet", tensorboard=False)
    assert result.status == 0
    assert _rows(result.out) and livelog.event_files(result.out) == []
    # The opt-out changes nothing else.
    key = lambda rows: [{k: v for k, v in r.items() if k not in ("sps", "time_s")} for r in rows]  # noqa: E731
    assert key(_rows(result.out)) == key(_rows(full_run))


def test_no_tensorboard_flag_of_benchmarks_run(tmp_path, full_run):
    out = tmp_path / "cli"
    argv = ["--env", "PointGoal1", "--algo", "ppo_lag", "--seeds", "2", "--steps", str(STEPS),
            "--chunk", str(CHUNK), "--eval-episodes", "0", "--out", str(out)]  # fmt: skip
    assert bench_run.main(argv + tiny_args() + ["--no-tensorboard"], make_env=fake) == 0
    assert len(_rows(out)) == 8 and livelog.event_files(out) == []


def test_sweep_flags_reach_every_cell(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(runner, "release_compiled", lambda: None)  # keep this module's program

    def execute(plan, env=None, **kw):
        seen.append((plan.out, kw))
        return runner.RunResult(plan.out, 0, None, None, None)

    monkeypatch.setattr(runner, "execute", execute)
    argv = ["--envs", "PointGoal1,CarGoal1", "--algos", "ppo_lag", "--seeds", "1",
            "--out", str(tmp_path / "s")]  # fmt: skip
    assert bench_sweep.main(argv + ["--no-tensorboard"], make_env=fake) == 0
    assert [kw["tensorboard"] for _, kw in seen] == [False, False]
    assert all(kw["wandb"] is False and kw["wandb_project"] is None for _, kw in seen)
    seen.clear()
    assert bench_sweep.main(argv, make_env=fake) == 0  # a rerun may change the logging
    assert [kw["tensorboard"] for _, kw in seen] == [True, True]


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """The full run's settings, stopped after its first chunk, then resumed; and what the
    interrupted run had logged."""
    out = tmp_path_factory.mktemp("runs") / "cut"
    # Ctrl-C during the first chunk: that chunk is written and checkpointed, then the run stops.
    result = _run(out, on_chunk=lambda done: signal.raise_signal(signal.SIGINT))
    assert result.status == 130
    before = (livelog.event_files(out), livelog.read_scalars(out), _rows(out))
    # A hard kill between writing update 3's rows and its checkpoint left them in an event file
    # (here with a wrong value); the resumed run computes update 3 again.
    stale = {"member": 0, "update": 3, "env_steps": 3 * UPDATE_STEPS, "J_r": 999.0}
    logs = livelog.RunLogs(out, first_update=2)
    logs.write([stale])
    logs.close()
    assert runner.resume(out, env=_FAKE, log=None).status == 0
    return out, before


def test_resumed_run_continues_the_scalars(resumed_run, full_run):
    out, (files_before, scalars_before, rows_before) = resumed_run
    assert len(files_before) == 1 and len(rows_before) == 4
    _assert_same_scalars(scalars_before, rows_before)
    files = livelog.event_files(out)
    assert len(files) == 3
    rows = _rows(out)
    assert [(r["member"], r["update"]) for r in rows] == [
        (str(m), str(u)) for u in (1, 2, 3, 4) for m in (0, 1)
    ]
    got = livelog.read_scalars(out)
    _assert_same_scalars(got, rows)  # the stale update-3 values are purged
    assert 999.0 not in [v for _, v in got["member0/J_r"]]
    # The same curves as the uninterrupted run (but for the wall-clock scalars).
    whole = livelog.read_scalars(full_run)
    for tag in got:
        if not tag.endswith(("/sps", "/time_s")):
            assert got[tag] == whole[tag], tag
    # Resuming a finished run trains nothing and leaves no empty event file behind.
    assert runner.resume(out, env=_FAKE, log=None).status == 0
    assert livelog.event_files(out) == files


def test_read_scalars_ignores_a_partly_written_record(tmp_path, full_run):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(full_run, out)
    (path,) = livelog.event_files(out)
    data = path.read_bytes()
    whole = livelog.read_scalars(out)
    path.write_bytes(data[:-7])  # the last record cut short
    cut = livelog.read_scalars(out)
    assert sum(map(len, cut.values())) == sum(map(len, whole.values())) - 1


# ------------------------------------------------------------------------------ W&B


@pytest.fixture
def no_wandb(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError


def test_wandb_without_the_package_is_a_clear_error(no_wandb, tmp_path, full_run):
    with pytest.raises(runner.UsageError, match="pip install wandb"):
        _run(tmp_path / "w", wandb=True)
    assert not (tmp_path / "w").exists()  # refused before anything was written
    with pytest.raises(runner.UsageError, match="pip install wandb"):
        runner.resume(full_run, env=_FAKE, log=None, wandb=True)
    with pytest.raises(runner.UsageError, match="pip install wandb"):
        sweep(["PointGoal1"], ["ppo_lag"], 1, tmp_path / "s", make_env=fake, log=None, wandb=True)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("module", [bench_run, bench_sweep])
def test_wandb_flag_without_the_package(no_wandb, module, tmp_path, capsys):
    if module is bench_run:
        argv = ["--env", "PointGoal1", "--algo", "ppo_lag", "--out", str(tmp_path / "r")]
    else:
        argv = ["--envs", "PointGoal1", "--algos", "ppo_lag", "--out", str(tmp_path / "r")]
    assert module.main(argv + ["--wandb", "--wandb-project", "p"], make_env=fake) == 2
    assert "pip install wandb" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--wandb-project", "p"], "--wandb-project needs --wandb"),
        (["--wandb", "--wandb-project", "a/b"], "W&B project name 'a/b'"),
    ],
)
def test_bad_wandb_flags(extra, message, tmp_path, capsys):
    argv = ["--env", "PointGoal1", "--algo", "ppo_lag", "--out", str(tmp_path / "r")]
    assert bench_run.main(argv + extra, make_env=fake) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(runner.UsageError, match="without wandb=True"):
        agents.run(_FAKE, "ppo_lag", out_dir=tmp_path / "x", wandb_project="p", log=None)


# ------------------------------------------------------------------------------ episode columns


def test_episode_columns_in_metrics_csv(full_run):
    rows = _rows(full_run)
    new = ["ep_cost_hazards", "ep_goals_met", "ep_length"]
    assert [c for c in rows[0] if c.startswith("ep_")] == new
    assert any(r["episodes"] != "0" for r in rows)
    for r in rows:
        if r["episodes"] == "0":  # nothing to average this update
            assert all(r[c] == "" for c in new)
            continue
        cost, goals, length = (float(r[c]) for c in new)
        assert all(math.isfinite(x) for x in (cost, goals, length))
        assert 1 <= length <= _FAKE.num_steps and 0 <= goals <= length
        # FakeEnv's step cost is its hazard cost: the same mean over the same episodes.
        assert cost == pytest.approx(float(r["J_c"]), rel=1e-6, abs=1e-6)


def _train(env, updates, **overrides):
    """(train state, metrics) of `updates` ppo_lag updates on `env` from PRNGKey(1), one device."""
    module = agents.get_algorithm("ppo_lag")
    cfg = module.default_config(**{**TINY, **overrides})
    learner = module.make_train(cfg, env)
    learner.venv = VecEnv(env, cfg.num_envs, devices=None)
    ts, metrics = jax.jit(lambda k: learner.run(learner.init(k), updates))(jax.random.PRNGKey(1))
    return jax.device_get(ts), jax.device_get(metrics)


class _Constrained(FakeEnv):
    """FakeEnv standing still (no termination), with a second constraint violated on every step
    and a goal met on every second step; the step cost is 1 if any constraint is violated."""

    def __init__(self):
        super().__init__(num_steps=4, speed=0.0, name="Constrained")

    def _metrics(self, hazard, step):
        one = jnp.ones((), jnp.float32)
        return {
            "cost_hazards": hazard,
            "cost_pillars": one,
            "goal_met": (step % 2 == 0).astype(jnp.float32) * (step > 0),
            "physics_error": 0 * one,
        }

    def reset(self, key):
        s = super().reset(key)
        return s.replace(metrics=self._metrics(s.cost, s.step))

    def step(self, state, action):
        s = super().step(state, action)
        return s.replace(cost=jnp.ones((), jnp.float32), metrics=self._metrics(s.cost, s.step))


def test_episode_columns_hand_computed():
    """Two worlds, episodes of 4 steps, rollouts of 8: two episodes per world and update."""
    _, m = _train(_Constrained(), 2, num_envs=2, stagger_starts=False)
    # Fixed keys: the env's cost_* keys and goal_met, never its flags (physics_error).
    assert sorted(k for k in m if k.startswith("ep_")) == [
        "ep_cost_hazards", "ep_cost_pillars", "ep_goals_met", "ep_length"
    ]  # fmt: skip
    np.testing.assert_array_equal(m["episodes"], [4, 4])
    np.testing.assert_array_equal(m["ep_length"], [4.0, 4.0])
    np.testing.assert_array_equal(m["ep_cost_pillars"], [4.0, 4.0])  # violated every step
    np.testing.assert_array_equal(m["ep_goals_met"], [2.0, 2.0])  # steps 2 and 4
    np.testing.assert_array_equal(m["J_c"], [4.0, 4.0])
    # Each constraint's cost is at most J_c, and J_c at most their sum (a step costs 1 when
    # any constraint is violated).
    costs = np.stack([m["ep_cost_hazards"], m["ep_cost_pillars"]])
    assert np.all(costs >= 0) and np.all(costs.max(0) <= m["J_c"])
    assert np.all(m["J_c"] <= costs.sum(0))


class _NoMetrics(FakeEnv):
    """FakeEnv without `State.metrics`: the same dynamics, nothing to break down."""

    def reset(self, key):
        return super().reset(key).replace(metrics={})

    def step(self, state, action):
        return super().step(state, action).replace(metrics={})


def test_episode_columns_leave_learning_unchanged():
    """The per-metric sums are reported only: with and without them, the same training."""
    ts_a, m_a = _train(FakeEnv(num_steps=6), 3)
    ts_b, m_b = _train(_NoMetrics(num_steps=6), 3)
    assert set(m_a) - set(m_b) == {"ep_cost_hazards", "ep_goals_met"}
    # Bit for bit on CPU; the tolerance leaves room for other backends' reduction orders.
    same = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # noqa: E731
    for k in m_b:
        same(m_a[k], m_b[k])
    assert int(m_a["episodes"].sum()) > 0
    for part in ("actor", "critic", "constraint", "obs_stats"):
        jax.tree.map(same, getattr(ts_a, part), getattr(ts_b, part))


def test_episode_stats_sum_the_metrics_over_each_episode():
    env = FakeEnv(num_steps=3, speed=0.0)
    venv = VecEnv(env, 2, devices=None)
    vs = venv.reset(jax.random.PRNGKey(0))
    keys = ["cost_hazards", "goal_met"]
    assert sorted(vs.episode.metrics) == sorted(vs.episode.done_metrics) == keys
    step = jax.jit(venv.step)
    costs = []
    for t in range(6):
        vs = step(vs, jnp.zeros((2, 2)))
        costs.append(np.asarray(vs.state.metrics["cost_hazards"]))
        ep = vs.episode
        done = np.asarray(ep.done)
        assert done.tolist() == [t % 3 == 2] * 2
        if done.any():  # the episode's sum, once, then the running sum restarts
            np.testing.assert_array_equal(ep.done_metrics["cost_hazards"], np.sum(costs, 0))
            np.testing.assert_array_equal(ep.done_metrics["cost_hazards"], ep.done_cost)
            np.testing.assert_array_equal(ep.metrics["cost_hazards"], [0.0, 0.0])
            costs = []
        else:
            np.testing.assert_array_equal(ep.done_metrics["cost_hazards"], [0.0, 0.0])
            np.testing.assert_array_equal(ep.metrics["cost_hazards"], np.sum(costs, 0))


def test_episode_stats_without_the_envs_metric_keys_are_refused():
    venv = VecEnv(FakeEnv(), 2, devices=None)
    vs = venv.reset(jax.random.PRNGKey(0))
    vs = vs.replace(episode=EpisodeStats.zeros(2))  # no running sums for the env's metrics
    with pytest.raises(ValueError, match=r"sum the metrics \[\] but the env reports"):
        venv.step(vs, jnp.zeros((2, 2)))


# ------------------------------------------------------------------------------ older runs


def test_episode_columns_empty_without_episodes():
    metrics = {"update": np.array([[1], [2]]), "env_steps": np.array([[8], [16]]),
               "J_r": np.array([[0.0], [1.5]], np.float32), "J_c": np.zeros((2, 1), np.float32),
               "episodes": np.array([[0], [2]]), "episodes_total": np.array([[0], [2]]),
               "ep_length": np.array([[0.0], [5.0]], np.float32),
               "ep_cost_hazards": np.array([[0.0], [0.5]], np.float32)}  # fmt: skip
    members = [{"member": 0, "seed": 3, "setting": ""}]
    first, second = runfiles.rows_from_metrics(metrics, 2, members)
    assert first["ep_length"] == first["ep_cost_hazards"] == first["J_r"] == ""
    assert second["ep_length"] == 5.0 and second["ep_cost_hazards"] == 0.5
    assert livelog.scalars(first) == {"member0/episodes": 0.0, "member0/episodes_total": 0.0}


def test_csv_of_an_older_run_gains_the_new_columns(tmp_path):
    path = tmp_path / "metrics.csv"
    old = [{"member": 0, "seed": 0, "setting": "", "update": 1, "env_steps": 32, "J_r": 1.5,
            "J_c": 2.0, "episodes": 1, "episodes_total": 1, "rho_c": 0.1, "lambda": 1.0,
            "kl": 0.01, "sps": 10, "time_s": 1.0}]  # fmt: skip
    runfiles.append_csv(path, old)
    new = [dict(old[0], update=2, env_steps=64, ep_cost_hazards=3.0, ep_length=6.0)]
    runfiles.append_csv(path, new)
    runfiles.append_csv(path, [dict(new[0], update=3, env_steps=96)])
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    rows = _rows(tmp_path)
    # The leading columns, the rest by name (the new ep_* among them), the host's last.
    assert header == [
        "member", "seed", "setting", "update", "env_steps", "J_r", "J_c", "episodes",
        "episodes_total", "rho_c", "lambda", "ep_cost_hazards", "ep_length", "kl", "sps", "time_s",
    ]  # fmt: skip
    assert [r["update"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["ep_cost_hazards"] == "" and rows[0]["kl"] == "0.01"
    assert rows[1]["ep_cost_hazards"] == "3" and rows[2]["ep_length"] == "6"


def test_resumed_csv_takes_the_current_names_of_renamed_columns(tmp_path):
    """An older CPO run logged its dual variables as `lambda` and `nu`; resuming renames them
    (`RENAMED_METRICS`) and drops the rows past the checkpoint."""
    path = tmp_path / "metrics.csv"
    old = [{"member": 0, "seed": 0, "setting": "", "update": u, "env_steps": 32 * u, "J_r": 1.5,
            "J_c": 2.0, "episodes": 1, "episodes_total": u, "rho_c": 0.1, "lambda": 0.5 * u,
            "cpo_c": -23.0, "nu": 2.0, "sps": 10, "time_s": 1.0} for u in (1, 2, 3)]  # fmt: skip
    runfiles.append_csv(path, old)
    runfiles.truncate_csv(path, 2, {"lambda": "cpo_lambda", "nu": "cpo_nu", "absent": "x"})
    resumed = {k: v for k, v in old[2].items() if k not in ("lambda", "nu")}
    runfiles.append_csv(path, [dict(resumed, cpo_lambda=7.0, cpo_nu=3.0)])
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        "member", "seed", "setting", "update", "env_steps", "J_r", "J_c", "episodes",
        "episodes_total", "rho_c", "cpo_c", "cpo_lambda", "cpo_nu", "sps", "time_s",
    ]  # fmt: skip
    rows = _rows(tmp_path)
    assert [(r["update"], r["cpo_lambda"], r["cpo_nu"]) for r in rows] == [
        ("1", "0.5", "2"), ("2", "1", "2"), ("3", "7", "3")
    ]  # fmt: skip


def test_checkpoint_without_the_episode_sums_resumes(tmp_path):
    state = {"a": np.arange(3.0), "env": {"episode": {"ret": np.zeros(2, np.float32)}}}
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, state, {"update": 1})
    sums = {"cost_hazards": np.ones(2, np.float32)}
    template = {**state, "env": {"episode": {**state["env"]["episode"], "metrics": sums}}}
    with pytest.raises(ValueError, match="missing in the file: env/episode/metrics/cost_hazards"):
        checkpoint.restore(path, template)
    restored, meta = checkpoint.restore(path, template, runner.NEWER_FIELDS)
    np.testing.assert_array_equal(restored["env"]["episode"]["metrics"]["cost_hazards"], [0, 0])
    np.testing.assert_array_equal(restored["a"], state["a"])
    assert meta == {"update": 1, "zero_filled": ["env/episode/metrics/cost_hazards"]}


def test_checkpoint_before_new_constraints_resumes(tmp_path):
    """A checkpoint saved before the sigwalls and velocity metrics and the empty element groups
    of `State.objects` existed loads: the new per-step cost metrics start at zero and the empty
    groups carry nothing; a missing non-empty field still fails."""
    metrics = {"cost_hazards": np.ones(4, np.float32)}
    objects = {"hazards": np.ones((4, 8, 2), np.float32)}
    state = {"env": {"state": {"metrics": metrics, "objects": objects}}}
    path = tmp_path / "c.msgpack"
    checkpoint.save(path, state, {"update": 3})
    new = {
        "metrics": {**state["env"]["state"]["metrics"], "cost_sigwalls": np.zeros(4, np.float32)},
        "objects": {**state["env"]["state"]["objects"], "pillars": np.zeros((4, 0, 2), np.float32)},
    }
    restored, meta = checkpoint.restore(path, {"env": {"state": new}}, runner.NEWER_FIELDS)
    got = restored["env"]["state"]
    np.testing.assert_array_equal(got["metrics"]["cost_sigwalls"], np.zeros(4))
    np.testing.assert_array_equal(got["objects"]["hazards"], np.ones((4, 8, 2)))
    assert got["objects"]["pillars"].shape == (4, 0, 2)
    assert meta["zero_filled"] == ["env/state/metrics/cost_sigwalls"]
    wider = {**new, "objects": {**new["objects"], "vases": np.zeros((4, 1, 2), np.float32)}}
    with pytest.raises(ValueError, match="missing in the file: env/state/objects/vases"):
        checkpoint.restore(path, {"env": {"state": wider}}, runner.NEWER_FIELDS)
