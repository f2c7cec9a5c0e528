"""The comparison report (agents.report, python -m benchmarks.report) on small synthetic run
directories with known numbers, and on the real runs in docs/results/."""

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from agents import report, report_figures
from agents.common.config import read_yaml
from benchmarks import report as cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"
UPDATES = 10  # updates per member
# The runs use the algorithms' default batch layout: a run whose config departs from the defaults
# is reported under a setting naming the departure (test_config_departures_are_settings).
_DEFAULTS = read_yaml("ppo.yaml")
NUM_ENVS, ROLLOUT_LEN = _DEFAULTS["num_envs"], _DEFAULTS["rollout_len"]
BATCH = NUM_ENVS * ROLLOUT_LEN


def series(r0, c0, rho_last, seed, updates=UPDATES):
    """(J_r, J_c, rho_c) per update u = 1..updates: J_r = r0 + u + seed, J_c = c0 - u + 2 seed,
    empty in update 1 (no episode ended yet); rho_c ends at rho_last."""
    rows = []
    for u in range(1, updates + 1):
        if u == 1:
            rows.append(("", "", 0.05))
        else:
            rows.append((r0 + u + seed, c0 - u + 2 * seed, rho_last + 0.001 * (updates - u)))
    return rows


def write_run(path, env, algo, members, *, old=False, cost_limit=25.0, grid=None, complete=None,
              eval_means=None, planned=UPDATES, config=None):  # fmt: skip
    """A run directory. `members`: (seed, setting, settings, rows) per member, rows from
    `series`. old=True: no member / setting columns, no members or grid in config.yaml.
    eval_means: per member (J_r, J_c, rho_c) evaluation means for eval.json."""
    path = Path(path)
    path.mkdir(parents=True)
    run = {"env": env, "algo": algo, "seed": members[0][0], "seeds": len(members)}
    if not old:
        run = {"env": env, "env_overrides": {}, **run, "grid": grid or {}}
        run["members"] = [
            {"member": i, "seed": s, "setting": setting, "settings": settings}
            for i, (s, setting, settings, _) in enumerate(members)
        ]
    run["chunk"] = 1
    run["config"] = {"total_steps": planned * BATCH, "num_envs": NUM_ENVS,
                     "rollout_len": ROLLOUT_LEN, "cost_limit": cost_limit, "lambda_lr": 0.05,
                     **(config or {})}  # fmt: skip
    (path / "config.yaml").write_text(yaml.safe_dump(run, sort_keys=False))
    head = ["update", "env_steps", "J_r", "J_c", "episodes", "episodes_total", "rho_c"]
    head = (["seed"] if old else ["member", "seed", "setting"]) + head + ["lambda", "sps"]
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        for u in range(1, len(members[0][3]) + 1):  # update-major, as the trainer writes
            for i, (s, setting, _, rows) in enumerate(members):
                j_r, j_c, rho = rows[u - 1]
                ids = [s] if old else [i, s, setting]
                w.writerow(ids + [u, u * BATCH, j_r, j_c, 2, 2 * u, rho, 0.5, 1000])
    if complete is not None:
        (path / "summary.json").write_text(json.dumps({"complete": complete}))
    if eval_means is not None:
        entries = []
        for i, ((s, setting, _, _), means) in enumerate(zip(members, eval_means, strict=True)):
            entry = {"member": i, "seed": s, "setting": setting}
            for name, v in zip(("J_r", "J_c", "rho_c"), means, strict=True):
                entry[name] = {"mean": v, "ci95": [v - 1, v + 1], "std": 1.0}
            entries.append(entry)
        ev = {"env": env, "episodes": 100, "deterministic": True, "members": entries}
        (path / "eval.json").write_text(json.dumps(ev))
    return path


def plain(seed, rows):
    return (seed, "", {}, rows)


def write_runs(root):
    """Two envs x two algos; the grid group shares one run directory; PointGoal1 ppo's seeds
    are split over two run directories; PointGoal0 ppo is an old-format run; PointGoal0 ppo_lag
    has one seed and stopped early."""
    root = Path(root)
    # PointGoal1 ppo, seeds 0 1 | 2: J_r 10 + u + s, J_c 33 - u + 2 s, rho_c ends 0.03 + 0.01 s
    write_run(root / "pg1_ppo_a", "PointGoal1", "ppo",
              [plain(s, series(10, 33, 0.03 + 0.01 * s, s)) for s in (0, 1)],
              complete=True, eval_means=[(22.0, 5.0, 0.01), (23.0, 7.0, 0.02)])  # fmt: skip
    write_run(root / "pg1_ppo_b", "PointGoal1", "ppo",
              [plain(2, series(10, 33, 0.05, 2))], complete=True)  # fmt: skip
    # PointGoal1 ppo_lag, seeds 0 1 x cost_limit 10 25 in one run: J_c 20 - u / 30 - u (+ 2 s)
    members = [
        (s, f"cost_limit={d:g}", {"cost_limit": d}, series(5, c0, 0.02 + 0.005 * s, s))
        for d, c0 in ((10.0, 20), (25.0, 30))
        for s in (0, 1)
    ]
    write_run(root / "grid" / "pg1_lag", "PointGoal1", "ppo_lag", members,
              grid={"cost_limit": [10.0, 25.0]}, complete=True)  # fmt: skip
    # PointGoal0 (no reference row) ppo, old format, seeds 3 4; no summary.json
    write_run(root / "pg0_ppo", "PointGoal0", "ppo",
              [plain(s, series(1, 40, 0.01 * s, s)) for s in (3, 4)], old=True)  # fmt: skip
    # PointGoal0 ppo_lag, one seed, 6 of 10 updates
    write_run(root / "pg0_lag", "PointGoal0", "ppo_lag",
              [plain(7, series(2, 12, 0.01, 7, updates=6))], complete=False)  # fmt: skip
    return root


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def md_tables(text):
    """{env: [row dict by header]} from results.md."""
    tables, env, head = {}, None, None
    for line in text.splitlines():
        if line.startswith("## "):
            env, head = line[3:], None
            tables[env] = []
        elif line.startswith("|") and env and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if head is None:
                head = cells
            else:
                tables[env].append(dict(zip(head, cells, strict=True)))
    return tables


def by_group(rows):
    return {(r["env"], r["algo"], r["setting"]): r for r in rows}


# results.csv's header, in order (docs/AGENTS.md, the comparison).
RESULTS_COLUMNS = [
    "env", "env_overrides", "algo", "setting", "cost_limit", "seeds", "seed_list", "window",
    "updates", "env_steps", "complete", "incomplete_runs", "run_dirs",
    "J_r", "J_r_lo", "J_r_hi", "J_r_iqm", "J_c", "J_c_lo", "J_c_hi", "J_c_iqm",
    "rho_c", "rho_c_lo", "rho_c_hi", "rho_c_iqm",
    "norm_J_r", "norm_J_r_lo", "norm_J_r_hi", "norm_J_c", "norm_J_c_lo", "norm_J_c_hi",
    "norm_rho_c", "norm_rho_c_lo", "norm_rho_c_hi",
    "meets_limit", "eval_seeds", "eval_episodes",
    "eval_J_r", "eval_J_r_lo", "eval_J_r_hi", "eval_J_c", "eval_J_c_lo", "eval_J_c_hi",
    "eval_rho_c", "eval_rho_c_lo", "eval_rho_c_hi",
]  # fmt: skip

GROUPS = {  # (env, algo, setting): seeds
    ("PointGoal1", "ppo", ""): 3,
    ("PointGoal1", "ppo_lag", "cost_limit=10"): 2,
    ("PointGoal1", "ppo_lag", "cost_limit=25"): 2,
    ("PointGoal0", "ppo", ""): 2,
    ("PointGoal0", "ppo_lag", ""): 1,
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = write_runs(tmp_path_factory.mktemp("runs"))
    out = root / "report"
    paths = report.write_report([root], out, window=0.3)
    return root, out, paths


@pytest.fixture(scope="module")
def rows(written):
    return by_group(read_csv(written[1] / "results.csv"))


def f(x):
    return float(x)


def test_every_group_in_csv_and_md_with_its_seeds(written, rows):
    _, out, paths = written
    assert set(rows) == set(GROUPS)
    assert list(read_csv(out / "results.csv")[0]) == RESULTS_COLUMNS
    for key, n in GROUPS.items():
        assert int(rows[key]["seeds"]) == n
    assert rows[("PointGoal1", "ppo", "")]["seed_list"] == "0 1 2"
    assert set(rows[("PointGoal1", "ppo", "")]["run_dirs"].split(";")) == {
        str(written[0] / "pg1_ppo_a"),
        str(written[0] / "pg1_ppo_b"),
    }
    tables = md_tables((out / "results.md").read_text())
    assert set(tables) == {"PointGoal0", "PointGoal1"}
    seen = {}
    for env, table in tables.items():
        for r in table:
            seen[(env, r["algorithm"].rstrip(" *"), r["setting"].replace("-", ""))] = r
    assert set(seen) == set(GROUPS)
    for key, n in GROUPS.items():
        assert seen[key]["seeds"] == str(n)
    assert paths["csv"] == out / "results.csv" and paths["md"] == out / "results.md"


def test_window_means_by_hand(rows):
    # window 0.3 of 10 updates = updates 8, 9, 10; PointGoal1 ppo seed s:
    # J_r = 10 + u + s -> 19 + s; J_c = 33 - u + 2 s -> 24 + 2 s; rho_c (last) = 0.03 + 0.01 s
    g = rows[("PointGoal1", "ppo", "")]
    j_r = [(10 + 8 + s + 10 + 9 + s + 10 + 10 + s) / 3 for s in (0, 1, 2)]
    assert j_r == [19, 20, 21]
    assert f(g["J_r"]) == pytest.approx(20.0)
    assert f(g["J_c"]) == pytest.approx((24 + 26 + 28) / 3)
    assert f(g["rho_c"]) == pytest.approx((0.03 + 0.04 + 0.05) / 3)
    assert f(g["J_r_iqm"]) == pytest.approx(20.0)  # three seeds: nothing trimmed
    # grid, cost_limit=10: J_c = 20 - u + 2 s -> 11, 13; J_r = 5 + u + s -> 14, 15
    g = rows[("PointGoal1", "ppo_lag", "cost_limit=10")]
    assert (f(g["J_r"]), f(g["J_c"]), f(g["cost_limit"])) == pytest.approx((14.5, 12.0, 10.0))
    g = rows[("PointGoal1", "ppo_lag", "cost_limit=25")]
    assert (f(g["J_c"]), f(g["cost_limit"])) == pytest.approx((22.0, 25.0))
    # one seed, 6 updates: window 0.3 -> 2 updates (5, 6): J_r 2 + u + 7 -> 14.5
    g = rows[("PointGoal0", "ppo_lag", "")]
    assert f(g["J_r"]) == pytest.approx(14.5) and f(g["J_c"]) == pytest.approx(12 - 5.5 + 14)
    assert int(g["updates"]) == 6 and int(g["env_steps"]) == 6 * BATCH
    assert int(rows[("PointGoal1", "ppo", "")]["env_steps"]) == UPDATES * BATCH


def test_default_window_and_empty_values(tmp_path):
    recs = report.collect([write_runs(tmp_path)])
    rec = next(r for r in recs if r.env == "PointGoal1" and r.algo == "ppo" and r.seed == 1)
    # default 0.1 of 10 updates: the last one; J_r = 10 + 10 + 1
    assert report.final_values(rec)["J_r"] == pytest.approx(21.0)
    # the whole run: update 1 is empty and ignored -> mean of 10 + u + 1 for u = 2..10
    assert report.final_values(rec, 1.0)["J_r"] == pytest.approx(
        sum(11 + u for u in range(2, 11)) / 9
    )
    with pytest.raises(report.ReportError, match="window"):
        report.final_values(rec, 0.0)


def test_intervals_contain_the_mean_and_one_seed_has_none(written, rows):
    for key, n in GROUPS.items():
        g = rows[key]
        for m in ("J_r", "J_c", "rho_c"):
            if n == 1:
                assert g[f"{m}_lo"] == "" and g[f"{m}_hi"] == ""
            else:
                assert f(g[f"{m}_lo"]) < f(g[m]) < f(g[f"{m}_hi"])
    # three seeds 19 20 21: a bootstrap mean lies within their range
    g = rows[("PointGoal1", "ppo", "")]
    assert 19 <= f(g["J_r_lo"]) and f(g["J_r_hi"]) <= 21
    md = md_tables((written[1] / "results.md").read_text())
    one = next(r for r in md["PointGoal0"] if r["algorithm"].startswith("ppo_lag"))
    assert one["J_r [95% CI]"] == "14.5 (n=1)" and "[" not in one["J_c [95% CI]"]
    two = next(r for r in md["PointGoal1"] if r["algorithm"] == "ppo")
    assert two["J_r [95% CI]"].startswith("20 [")


def test_normalized_by_hand(rows):
    # PointGoal1 reference (Ret, Cost, CostRate) = (25.179, 53.109, 0.063), cost limit 25
    g = rows[("PointGoal1", "ppo", "")]
    assert f(g["norm_J_r"]) == pytest.approx(20.0 / 25.179)
    assert f(g["norm_J_c"]) == pytest.approx((26.0 - 25.0) / (53.109 - 25.0))
    assert f(g["norm_rho_c"]) == pytest.approx(0.04 / 0.063)
    assert f(g["norm_J_r_lo"]) == pytest.approx(f(g["J_r_lo"]) / 25.179)
    # cost_limit=10 grid member: J_c 12 -> (12 - 10) / (53.109 - 10)
    g = rows[("PointGoal1", "ppo_lag", "cost_limit=10")]
    assert f(g["norm_J_c"]) == pytest.approx(2.0 / 43.109)
    # cost_limit=25: J_c 22 under the limit -> 0
    assert f(rows[("PointGoal1", "ppo_lag", "cost_limit=25")]["norm_J_c"]) == 0.0
    # level 0: no reference row, blank
    for key in (("PointGoal0", "ppo", ""), ("PointGoal0", "ppo_lag", "")):
        assert rows[key]["norm_J_r"] == rows[key]["norm_J_c"] == rows[key]["norm_rho_c"] == ""


def test_meets_limit_counts(written, rows):
    # PointGoal1 ppo J_c 24 26 28 vs 25 -> 1; grid limit 10: 11 13 -> 0; limit 25: 21 23 -> 2
    expect = {
        ("PointGoal1", "ppo", ""): "1/3",
        ("PointGoal1", "ppo_lag", "cost_limit=10"): "0/2",
        ("PointGoal1", "ppo_lag", "cost_limit=25"): "2/2",
    }
    for key, text in expect.items():
        assert f"{rows[key]['meets_limit']}/{rows[key]['seeds']}" == text
    md = md_tables((written[1] / "results.md").read_text())["PointGoal1"]
    assert sorted(r["meets limit"] for r in md) == sorted(expect.values())


def test_eval_columns(written, rows):
    g = rows[("PointGoal1", "ppo", "")]
    assert int(g["eval_seeds"]) == 2 and int(g["eval_episodes"]) == 100
    assert f(g["eval_J_r"]) == pytest.approx(22.5) and f(g["eval_J_c"]) == pytest.approx(6.0)
    assert f(g["eval_rho_c"]) == pytest.approx(0.015)
    assert f(g["eval_J_r_lo"]) < 22.5 < f(g["eval_J_r_hi"])
    assert rows[("PointGoal1", "ppo_lag", "cost_limit=10")]["eval_J_r"] == ""
    md = md_tables((written[1] / "results.md").read_text())
    assert md["PointGoal1"][0]["eval J_r [95% CI]"] == "22.5 [22, 23] (2 seeds)"
    assert "eval J_r [95% CI]" not in md["PointGoal0"][0]


def test_old_format_and_incomplete(written, rows):
    recs = report.read_run(written[0] / "pg0_ppo")
    assert [(r.member, r.seed, r.setting, r.cost_limit) for r in recs] == [
        (0, 3, "", 25.0),
        (1, 4, "", 25.0),
    ]
    assert all(r.complete for r in recs)  # 10 of 10 planned updates, no summary.json
    assert rows[("PointGoal0", "ppo", "")]["complete"] == "true"
    g = rows[("PointGoal0", "ppo_lag", "")]
    assert g["complete"] == "false" and g["incomplete_runs"] == str(written[0] / "pg0_lag")
    text = (written[1] / "results.md").read_text()
    assert (
        f"Incomplete runs (training stopped before its planned updates): `{written[0] / 'pg0_lag'}`"
        in text
    )
    md = md_tables(text)["PointGoal0"]
    assert {r["algorithm"] for r in md} == {"ppo", "ppo_lag *"}


def test_figures_written(written):
    _, out, paths = written
    for name in ("curves_PointGoal0", "curves_PointGoal1", "scatter"):
        p = paths[name]
        assert p.exists() and p.stat().st_size > 1000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["scatter"] == out / "scatter_normalized.png"
    assert paths["curves_PointGoal1"] == out / "curves_PointGoal1.png"


def test_curve_band(tmp_path):
    recs = report.collect([write_runs(tmp_path)])
    ppo = [r for r in recs if r.env == "PointGoal1" and r.algo == "ppo"]
    x, mean, lo, hi = report_figures.curve(ppo, "J_r", reps=200)
    assert list(x) == [u * BATCH for u in range(1, UPDATES + 1)]
    assert math.isnan(mean[0]) and mean[-1] == pytest.approx(21.0)  # 10 + 10 + mean seed 1
    assert math.isnan(lo[0]) and lo[-1] < mean[-1] < hi[-1]
    x, mean, lo, hi = report_figures.curve([ppo[0]], "J_r")
    assert mean[-1] == pytest.approx(20.0) and all(math.isnan(v) for v in lo)


def test_same_inputs_same_csv(tmp_path):
    root = write_runs(tmp_path / "runs")
    a = report.write_report([root], tmp_path / "a", reps=2000)
    b = report.write_report([root], tmp_path / "b", reps=2000)
    assert a["csv"].read_bytes() == b["csv"].read_bytes()
    assert a["md"].read_bytes() == b["md"].read_bytes()


def test_default_out_is_first_dir_and_cli_prints(tmp_path, capsys):
    root = write_runs(tmp_path / "runs")
    assert cli.main([str(root / "grid"), str(root / "pg0_ppo"), "--window", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert str(root / "grid" / "results.csv") in printed
    got = by_group(read_csv(root / "grid" / "results.csv"))
    assert set(got) == {k for k in GROUPS if k[1] == "ppo_lag" and k[0] == "PointGoal1"} | {
        ("PointGoal0", "ppo", "")
    }
    assert f(got[("PointGoal0", "ppo", "")]["window"]) == 0.5


def test_bad_input(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert cli.main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "no such directory" in err
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "config.yaml").write_text("env: PointGoal1\n")  # no metrics.csv
    assert cli.main([str(empty)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "config.yaml and metrics.csv" in err
    with pytest.raises(report.ReportError, match="no such directory"):
        report.collect([missing])
    root = write_runs(tmp_path / "runs")
    assert cli.main([str(root), "--window", "0"]) == 2
    assert "window" in capsys.readouterr().err


def test_same_seed_twice_names_both_directories(tmp_path):
    root = write_runs(tmp_path)
    write_run(tmp_path / "again", "PointGoal1", "ppo", [plain(1, series(0, 0, 0.1, 1))])
    with pytest.raises(report.ReportError) as e:
        report.collect([root])
    assert str(root / "pg1_ppo_a") in str(e.value) and str(tmp_path / "again") in str(e.value)


def test_real_results(tmp_path):
    # old-format single-seed runs of four algorithms on PointGoal1
    folders = [DOCS / f"pg1_{a}_10m" for a in ("ppo", "ppo_lag", "trpo_lag", "cpo_omnisafe")]
    paths = report.write_report(folders, tmp_path / "out")
    got = read_csv(paths["csv"])
    assert sorted(r["algo"] for r in got) == ["cpo", "ppo", "ppo_lag", "trpo_lag"]
    for r in got:
        assert r["env"] == "PointGoal1" and r["seeds"] == "1" and r["J_r_lo"] == ""
        assert r["complete"] == "true" and int(r["env_steps"]) == 10_016_000
        assert r["norm_J_r"] != ""
    assert paths["scatter"].exists() and paths["curves_PointGoal1"].exists()
    # docs/results/README.md: ppo_lag's final update 18.77 / 22.47; rho_c is the last value
    lag = next(r for r in got if r["algo"] == "ppo_lag")
    assert f(lag["rho_c"]) == pytest.approx(0.0237422)


def test_config_departures_are_settings(tmp_path):
    # Two runs of the same seed that differ in the batch layout are two groups, not a duplicate.
    rows = series(5.0, 30.0, 0.02, 0)
    write_run(tmp_path / "a", "PointGoal1", "ppo_lag", [plain(0, rows)])
    write_run(tmp_path / "b", "PointGoal1", "ppo_lag", [plain(0, rows)],
              config={"num_envs": 8, "rollout_len": 4000})  # fmt: skip
    got = {r["setting"] for r in report.aggregate(report.collect([tmp_path]), reps=100)}
    assert got == {"", "num_envs=8,rollout_len=4000"}
