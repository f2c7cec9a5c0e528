"""Comparison report over training run directories: tables, intervals, normalized metrics, plots.

A *run directory* holds `config.yaml` and `metrics.csv` (as `python -m benchmarks.run` writes
them), optionally `summary.json` and `eval.json`. Each run trains one or more *members* (seeds,
possibly several settings side by side). Members are grouped by (env, env overrides, algo,
setting, cost limit) across all run directories; seeds of a group are pooled.

Per member, the final training values are J_r and J_c averaged over the last `window` fraction
of its updates (at least one, empty values ignored) and the last row's rho_c (already a
whole-training average). Per group: the mean over seeds with a 95% stratified-bootstrap interval
(rliable, fixed random seed, so the same inputs give the same files), the IQM, Safety Gym's
normalized metrics (`agents.reference.normalized`), how many seeds meet the cost limit, the
evaluation means from `eval.json` and flags for runs stopped before their planned updates.

    records = collect(["runs/"])
    rows = aggregate(records, window=0.1)
    paths = write_report(["runs/"], out="report/")
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

METRICS = ("J_r", "J_c", "rho_c")
DEFAULT_LIMIT = 25.0  # Safety Gym's cost limit, for configs that name none
BOOTSTRAP_SEED = 0
CURVE_POINTS = 400  # curves are drawn at no more than this many env-step values
RUN_FILES = "a run directory holds config.yaml and metrics.csv, written by benchmarks.run"

COLUMNS = [
    "env", "env_overrides", "algo", "setting", "cost_limit", "seeds", "seed_list", "window",
    "updates", "env_steps", "complete", "incomplete_runs", "run_dirs",
    *(f"{m}{s}" for m in METRICS for s in ("", "_lo", "_hi", "_iqm")),
    *(f"norm_{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")),
    "meets_limit", "eval_seeds", "eval_episodes",
    *(f"eval_{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")),
]  # fmt: skip


class ReportError(ValueError):
    """Input the report cannot use: a missing directory, no run directory, a seed twice."""


@dataclasses.dataclass(frozen=True, eq=False)
class MemberRecord:
    """One member of one run: identity, per-update curves (NaN where empty) and eval means."""

    run_dir: Path
    env: str
    env_overrides: str  # "key=value,..." sorted; "" when none
    algo: str
    member: int
    seed: int
    setting: str
    cost_limit: float
    updates: int  # last update number reached
    updates_planned: int | None
    complete: bool | None  # None: unknown
    steps: np.ndarray  # env_steps per update
    J_r: np.ndarray
    J_c: np.ndarray
    rho_c: np.ndarray
    eval: dict[str, float | None] | None = None  # J_r, J_c, rho_c means and episodes

    @property
    def key(self) -> tuple[str, str, str, str, float]:
        return (self.env, self.env_overrides, self.algo, self.setting, self.cost_limit)


# ---------------------------------------------------------------------------------- reading


def find_run_dirs(dirs: Sequence[str | os.PathLike]) -> list[Path]:
    """Every folder at or below each of `dirs` holding config.yaml and metrics.csv, sorted per
    argument, each once; ReportError for a missing directory or one holding no run."""
    found: list[Path] = []
    seen: set[Path] = set()
    for d in dirs:
        top = Path(d)
        if not top.exists():
            raise ReportError(f"{top}: no such directory")
        if not top.is_dir():
            raise ReportError(f"{top}: not a directory")
        here = []
        for root, subdirs, files in os.walk(top):
            subdirs.sort()
            if "config.yaml" in files and "metrics.csv" in files:
                here.append(Path(root))
        if not here:
            raise ReportError(f"{top}: no run directory found ({RUN_FILES})")
        for p in here:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                found.append(p)
    return found


def _float(text: Any) -> float:
    return float(text) if text not in (None, "") else math.nan


def _kv(settings: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(settings.items()))


def _parse_setting(text: str) -> dict[str, Any]:
    """{"cost_limit": 10} from "cost_limit=10" (pairs split by commas or spaces)."""
    pairs = (p.split("=", 1) for p in re.split(r"[,\s]+", text) if "=" in p)
    return {k: yaml.safe_load(v) for k, v in pairs}


def _load(path: Path, loader: Any) -> Any:
    try:
        return loader(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise ReportError(f"{path}: cannot read: {e}") from e


def _eval_means(entry: dict[str, Any], episodes: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {"episodes": episodes}
    for m in METRICS:
        v = entry.get(m)
        out[m] = float(v["mean"]) if isinstance(v, dict) and v.get("mean") is not None else None
    return out


def config_label(algo: str, config: dict[str, Any]) -> str:
    """The algorithm config fields of a run that differ from the algorithm's current defaults
    (configs/ALGO.yaml), as "key=value,..." ("" when none or the algorithm is unknown). The
    budget (total_steps), the cost limit (a column of its own), grid settings (in the member's
    setting) and fields the current defaults lack are left out. A field the run's config lacks
    but the algorithm added later (`FORMER_VALUES`) counts with the value the code had then."""
    from agents import ALGORITHMS, get_algorithm
    from agents.common.config import read_yaml

    if algo not in ALGORITHMS:
        return ""
    module = get_algorithm(algo)
    defaults = read_yaml(module.DEFAULT_CONFIG)
    config = {**getattr(module, "FORMER_VALUES", {}), **config}
    diff = {}
    for k, v in config.items():
        if k in ("total_steps", "cost_limit") or k not in defaults:
            continue
        d = defaults[k]
        same = list(v) == list(d) if isinstance(v, list | tuple) and isinstance(d, list) else v == d
        if not same:
            diff[k] = v
    return _kv(diff)


def read_run(run_dir: str | os.PathLike) -> list[MemberRecord]:
    """The members of one run directory (old runs: one member per seed, setting ""). A member's
    setting is its config's departures from the algorithm's defaults (`config_label`) followed
    by its grid setting, so runs that differ in any setting are never pooled."""
    run_dir = Path(run_dir)
    run = _load(run_dir / "config.yaml", yaml.safe_load)
    if not isinstance(run, dict) or "env" not in run or "algo" not in run:
        raise ReportError(f"{run_dir / 'config.yaml'}: needs env and algo")
    cfg = run.get("config") or {}
    base_limit = float(cfg.get("cost_limit", DEFAULT_LIMIT))
    with open(run_dir / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames or [], list(reader)
    if "member" in header:
        ids = [int(r["member"]) for r in rows]
    else:
        seeds = sorted({int(r["seed"]) for r in rows})
        ids = [seeds.index(int(r["seed"])) for r in rows]
    meta = {int(m["member"]): m for m in run.get("members") or []}

    planned = None
    if all(k in cfg for k in ("total_steps", "num_envs", "rollout_len")):
        batch = int(cfg["num_envs"]) * int(cfg["rollout_len"])
        planned = max(1, -(-int(cfg["total_steps"]) // batch))
    summary = run_dir / "summary.json"
    complete = _load(summary, json.loads).get("complete") if summary.exists() else None

    evals: dict[Any, dict[str, Any]] = {}
    if (run_dir / "eval.json").exists():
        ev = _load(run_dir / "eval.json", json.loads)
        for e in ev.get("members", []):
            key = e["member"] if "member" in e else (e.get("seed"), e.get("setting", ""))
            evals[key] = _eval_means(e, ev.get("episodes"))

    records = []
    for mid in sorted(set(ids)):
        mrows = sorted((r for r, i in zip(rows, ids, strict=True) if i == mid),
                       key=lambda r: int(r["update"]))  # fmt: skip
        first = mrows[0]
        if meta:
            if mid not in meta:
                raise ReportError(f"{run_dir}: metrics.csv has member {mid}, config.yaml lacks it")
            seed, setting = int(meta[mid]["seed"]), str(meta[mid].get("setting") or "")
            settings = meta[mid].get("settings") or {}
        else:
            seed, setting = int(first["seed"]), first.get("setting") or ""
            settings = _parse_setting(setting)
        setting = ",".join(x for x in (config_label(str(run["algo"]), cfg), setting) if x)
        updates = int(mrows[-1]["update"])
        done = complete if complete is not None else (None if planned is None else
                                                      updates >= planned)  # fmt: skip
        records.append(
            MemberRecord(
                run_dir=run_dir,
                env=str(run["env"]),
                env_overrides=_kv(run.get("env_overrides") or {}),
                algo=str(run["algo"]),
                member=mid,
                seed=seed,
                setting=setting,
                cost_limit=float(settings.get("cost_limit", base_limit)),
                updates=updates,
                updates_planned=planned,
                complete=done,
                steps=np.array([int(r["env_steps"]) for r in mrows], dtype=np.int64),
                J_r=np.array([_float(r["J_r"]) for r in mrows]),
                J_c=np.array([_float(r["J_c"]) for r in mrows]),
                rho_c=np.array([_float(r.get("rho_c")) for r in mrows]),
                eval=evals.get(mid, evals.get((seed, setting))),
            )
        )
    return records


def collect(dirs: Sequence[str | os.PathLike]) -> list[MemberRecord]:
    """Member records of every run directory at or below `dirs`; ReportError when the same
    seed of a group appears twice (naming both directories) or no run has any rows."""
    records: list[MemberRecord] = []
    seen: dict[tuple, Path] = {}
    for run_dir in find_run_dirs(dirs):
        try:
            members = read_run(run_dir)
        except ReportError:
            raise
        except (AttributeError, KeyError, ValueError, TypeError, IndexError) as e:
            raise ReportError(f"{run_dir}: cannot read the run: {type(e).__name__} {e}") from e
        for r in members:
            key = (*r.key, r.seed)
            if key in seen:
                raise ReportError(
                    f"seed {r.seed} of {r.env} {r.algo} {r.setting or '(no setting)'} appears "
                    f"twice: in {seen[key]} and in {r.run_dir}"
                )
            seen[key] = r.run_dir
            records.append(r)
    if not records:
        raise ReportError(
            f"no metrics rows in the run directories under {', '.join(map(str, dirs))}"
        )
    return records


# ---------------------------------------------------------------------------------- statistics


def final_values(record: MemberRecord, window: float = 0.1) -> dict[str, float | None]:
    """J_r and J_c averaged over the last `window` fraction of updates (at least one; empty
    values ignored), rho_c of the last update; None where nothing is there."""
    if not 0 < window <= 1:
        raise ReportError(f"window must be in (0, 1], got {window}")
    n = len(record.steps)
    k = max(1, math.ceil(window * n - 1e-9))
    out: dict[str, float | None] = {}
    for m in ("J_r", "J_c"):
        tail = getattr(record, m)[n - k :]
        tail = tail[np.isfinite(tail)]
        out[m] = float(tail.mean()) if tail.size else None
    last = float(record.rho_c[-1]) if n else math.nan
    out["rho_c"] = last if math.isfinite(last) else None
    return out


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    # rliable's bootstrap draws from numpy's global generator (its random_state is not used for
    # the resampling), so it is seeded here and restored afterwards.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _column_means(s: np.ndarray) -> np.ndarray:
    """rliable's aggregate_mean of each column of a (seeds, columns) array, in one call: on a
    (seeds, 1, columns) view it averages over seeds, then over the single task."""
    from rliable import metrics

    return metrics.aggregate_mean(s[:, None, :])


def intervals(
    table: dict[str, Sequence[float | None]], reps: int = 10_000
) -> dict[str, dict[str, float | None]]:
    """Per column of values across seeds (None: absent): mean, IQM and the 95% stratified-
    bootstrap interval of the mean (rliable; lo / hi None with fewer than two values). Columns
    with the same number of values are resampled together, seeds within each column."""
    from rliable import library, metrics

    cols = {k: np.asarray([v for v in vals if v is not None], float) for k, vals in table.items()}
    out: dict[str, dict[str, float | None]] = {}
    for k, x in cols.items():
        mean = float(x.mean()) if x.size else None
        iqm = float(metrics.aggregate_iqm(x[:, None])) if x.size else None
        out[k] = {"mean": mean, "lo": None, "hi": None, "iqm": iqm}
    by_size: dict[int, list[str]] = {}
    for k, x in cols.items():
        if x.size > 1:
            by_size.setdefault(x.size, []).append(k)
    for names in by_size.values():
        scores = {"x": np.stack([cols[k] for k in names], axis=1)}  # (seeds, columns)
        with _seeded(BOOTSTRAP_SEED):
            _, ci = library.get_interval_estimates(scores, _column_means, reps=reps)
        for j, k in enumerate(names):
            out[k].update(lo=float(ci["x"][0, j]), hi=float(ci["x"][1, j]))
    return out


def group_records(records: Sequence[MemberRecord]) -> dict[tuple, list[MemberRecord]]:
    """Records by (env, env_overrides, algo, setting, cost_limit), sorted; seeds in order."""

    def order(key: tuple) -> tuple:
        natural = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key[3])]
        return (key[0], key[2], key[1], key[4], natural)

    groups: dict[tuple, list[MemberRecord]] = {}
    for r in records:
        groups.setdefault(r.key, []).append(r)
    return {k: sorted(groups[k], key=lambda r: r.seed) for k in sorted(groups, key=order)}


def _normalized(env: str, overrides: str, limit: float, stats: dict[str, dict]) -> dict:
    """norm_<metric>[_lo|_hi]; the map is monotone, so interval ends map to interval ends."""
    from agents.reference import normalized

    out: dict[str, float | None] = {}
    for suffix, part in (("", "mean"), ("_lo", "lo"), ("_hi", "hi")):
        vals = {m: stats[m][part] for m in METRICS}
        norm = None
        if not overrides and vals["rho_c"] is not None:  # the reference is the unmodified env
            norm = normalized(env, vals["J_r"], vals["J_c"], vals["rho_c"], limit)
        for m in METRICS:
            out[f"norm_{m}{suffix}"] = None if norm is None else norm[m]
    return out


def aggregate(
    records: Sequence[MemberRecord], window: float = 0.1, reps: int = 10_000
) -> list[dict[str, Any]]:
    """One row per group with the keys of COLUMNS (None where a value is absent)."""
    rows = []
    for (env, overrides, algo, setting, limit), members in group_records(records).items():
        finals = [final_values(r, window) for r in members]
        stats = intervals({m: [f[m] for f in finals] for m in METRICS}, reps)
        runs = sorted({str(r.run_dir) for r in members})
        incomplete = sorted({str(r.run_dir) for r in members if r.complete is False})
        row: dict[str, Any] = {
            "env": env,
            "env_overrides": overrides,
            "algo": algo,
            "setting": setting,
            "cost_limit": limit,
            "seeds": len(members),
            "seed_list": " ".join(str(r.seed) for r in members),
            "window": window,
            "updates": min(r.updates for r in members),
            "env_steps": min(int(r.steps[-1]) for r in members),
            "complete": not incomplete,
            "incomplete_runs": ";".join(incomplete),
            "run_dirs": ";".join(runs),
            "meets_limit": sum(f["J_c"] is not None and f["J_c"] <= limit for f in finals),
        }
        for m in METRICS:
            for part in ("mean", "lo", "hi", "iqm"):
                row[m + ("" if part == "mean" else f"_{part}")] = stats[m][part]
        row.update(_normalized(env, overrides, limit, stats))
        evals = [r.eval for r in members if r.eval is not None]
        row["eval_seeds"] = len(evals)
        row["eval_episodes"] = evals[0].get("episodes") if evals else None
        ev = intervals({m: [e[m] for e in evals] for m in METRICS}, reps)
        for m in METRICS:
            row.update(
                {f"eval_{m}{p}": ev[m][q] for p, q in (("", "mean"), ("_lo", "lo"), ("_hi", "hi"))}
            )
        rows.append({c: row[c] for c in COLUMNS})
    return rows


# ---------------------------------------------------------------------------------- tables


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format(v, ".10g")
    return str(v)


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """results.csv: COLUMNS, one row per group; empty cells where a value is absent."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows([_cell(r[c]) for c in COLUMNS] for r in rows)
    return path


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _ci(row: dict[str, Any], name: str) -> str:
    if row[name] is None:
        return ""
    if row[f"{name}_lo"] is None:
        return f"{_num(row[name])} (n=1)"
    return f"{_num(row[name])} [{_num(row[name + '_lo'])}, {_num(row[name + '_hi'])}]"


def _steps(n: int) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def label(row: dict[str, Any]) -> str:
    """algo, setting and env overrides of a group in a few words."""
    parts = [row["algo"], row["setting"]]
    if row["env_overrides"]:
        parts.append(f"[env {row['env_overrides']}]")
    return " ".join(p for p in parts if p)


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """results.md: one table per environment and the list of incomplete runs."""
    window = rows[0]["window"] if rows else 0.1
    lines = [
        "# Results",
        "",
        f"Final training values per seed: J_r and J_c averaged over the last {window * 100:g}% "
        "of its updates, rho_c of the last update (a whole-training average). Per group: mean over "
        "seeds and its 95% stratified-bootstrap interval across seeds (n=1: no interval). "
        "Normalized against Safety Gym's unconstrained PPO: J_r / Ret, max(0, J_c - d) / "
        "(Cost - d), rho_c / CostRate, with d the cost limit (blank: no reference row). "
        "Meets limit: seeds whose final J_c <= d.",
    ]
    for env in sorted({r["env"] for r in rows}):
        group = [r for r in rows if r["env"] == env]
        has_eval = any(r["eval_seeds"] for r in group)
        head = ["algorithm", "setting", "limit", "seeds", "J_r [95% CI]", "J_c [95% CI]",
                "rho_c [95% CI]", "normalized J_r / J_c / rho_c", "meets limit"]  # fmt: skip
        head += ["eval J_r [95% CI]", "eval J_c [95% CI]"] if has_eval else []
        head += ["steps"]
        lines += ["", f"## {env}", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for r in group:
            norm = "" if r["norm_rho_c"] is None else " / ".join(
                "-" if r[f"norm_{m}"] is None else f"{r[f'norm_{m}']:.3f}" for m in METRICS
            )  # fmt: skip
            setting = r["setting"] or "-"
            if r["env_overrides"]:
                setting += f" [env {r['env_overrides']}]"
            cells = [r["algo"] + ("" if r["complete"] else " *"), setting, f"{r['cost_limit']:g}",
                     str(r["seeds"]), _ci(r, "J_r"), _ci(r, "J_c"), _ci(r, "rho_c"), norm,
                     f"{r['meets_limit']}/{r['seeds']}"]  # fmt: skip
            if has_eval:
                part = "" if r["eval_seeds"] in (0, r["seeds"]) else f" ({r['eval_seeds']} seeds)"
                cells += [
                    _ci(r, f"eval_{m}") + (part if r["eval_seeds"] else "") for m in METRICS[:2]
                ]
            cells.append(_steps(r["env_steps"]))
            lines.append("| " + " | ".join(cells) + " |")
    incomplete = sorted({d for r in rows for d in r["incomplete_runs"].split(";") if d})
    listed = ", ".join(f"`{d}`" for d in incomplete) if incomplete else "none"
    lines += ["", f"\\* Incomplete runs (training stopped before its planned updates): {listed}."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- all


def write_report(
    dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    window: float = 0.1,
    reps: int = 10_000,
) -> dict[str, Path]:
    """Reads the runs under `dirs` and writes results.csv, results.md, curves_<ENV>.png and
    scatter_normalized.png into `out` (default: the first of `dirs`); returns the written paths
    by name ("csv", "md", "curves_<ENV>", "scatter")."""
    if not dirs:
        raise ReportError("no directory given")
    if not 0 < window <= 1:
        raise ReportError(f"window must be in (0, 1], got {window}")
    records = collect(dirs)
    rows = aggregate(records, window, reps)
    out = Path(out if out is not None else dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": write_csv(rows, out / "results.csv")}
    paths["md"] = out / "results.md"
    paths["md"].write_text(markdown(rows))
    from agents.report_figures import plot_curves, plot_scatter

    for env, p in plot_curves(records, out).items():
        paths[f"curves_{env}"] = p
    scatter = plot_scatter(rows, out / "scatter_normalized.png")
    if scatter is not None:
        paths["scatter"] = scatter
    return paths
