"""The files of a run directory: metrics.csv rows, summary.json and curves.png.

A run trains one or more *members* side by side in one compiled program: seeds, and settings
that the learner can vary without recompiling (several cost limits, learning rates). Each member
is `{"member": i, "seed": s, "setting": "cost_limit=10", "settings": {"cost_limit": 10.0}}`
(setting "" and settings {} without a grid). metrics.csv has one row per update and member:
FIRST_COLUMNS (those the learner reports: `lambda`, the multiplier of a penalized objective, is
absent for CPO, which logs `cpo_*` columns instead), then the learner's other metrics in name
order (among them the `ep_*` episode means of agents/common/train.py), then HOST_COLUMNS. J_r
and J_c are empty before the first episode ends; the `ep_*` columns are empty in updates where
no episode ended (`episodes` 0).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

FIRST_COLUMNS = [
    "member", "seed", "setting", "update", "env_steps", "J_r", "J_c", "episodes",
    "episodes_total", "rho_c", "lambda",
]  # fmt: skip
HOST_COLUMNS = ["sps", "time_s"]
# A non-finite value in any of these stops the run with an error (the row is still written).
CHECKED = ("J_r", "J_c", "rho_c", "lambda", "cpo_c", "cpo_lambda", "cpo_nu", "loss_pi", "kl",
           "loss_vr", "loss_vc")  # fmt: skip
# summary.json's training values: the mean over this fraction of the last updates (at least one),
# so that one noisy update does not decide a run's result.
WINDOW = 0.1


def fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def rows_from_metrics(
    metrics: dict[str, np.ndarray], n: int, members: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per-update, per-member rows from chunk metrics shaped (K, members); the first `n` updates."""
    rows = []
    for k in range(n):
        for m, member in enumerate(members):
            row = {"member": m, "seed": member["seed"], "setting": member["setting"]}
            row.update({name: v[k, m].item() for name, v in metrics.items()})
            if row["episodes_total"] == 0:  # nothing to report yet
                row["J_r"] = row["J_c"] = ""
            if row.get("episodes") == 0:  # no episode of this update to average over
                row.update(dict.fromkeys(episode_columns(row), ""))
            rows.append(row)
    return rows


def episode_columns(row: dict[str, Any]) -> list[str]:
    """The `ep_*` columns of a row (episode means; empty when no episode ended)."""
    from agents.common.train import EPISODE_PREFIX

    return [c for c in row if c.startswith(EPISODE_PREFIX)]


def columns(row: dict[str, Any]) -> list[str]:
    """metrics.csv's column order for rows like `row`: the FIRST_COLUMNS it has, the rest of
    its metrics by name, then HOST_COLUMNS."""
    extra = sorted(set(row) - set(FIRST_COLUMNS) - set(HOST_COLUMNS))
    return [c for c in FIRST_COLUMNS if c in row] + extra + HOST_COLUMNS


def append_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Appends rows (header first if the file is new); closed, hence flushed, on return.

    A file whose header lacks some of the rows' columns (rows of a run resumed by a newer
    safejax that reports more metrics) is rewritten first with the new header, its old rows
    empty in the new columns, so every value stays under its own column name.
    """
    fieldnames = columns(rows[0])
    header = []
    if path.exists():
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    if header and set(fieldnames) <= set(header):
        fieldnames = header
    elif header:
        fieldnames = columns(dict.fromkeys(header + fieldnames))
        with open(path, newline="") as f:
            old = list(csv.DictReader(f))
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fieldnames, restval="")
            w.writeheader()
            w.writerows(old)
        os.replace(tmp, path)
    new_file = not header
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames, restval="")
        if new_file:
            w.writeheader()
        w.writerows({k: fmt(v) for k, v in r.items()} for r in rows)


def nonfinite(rows: list[dict[str, Any]]) -> list[str]:
    """'column (update u, member m)' for each non-finite checked value."""
    return [
        f"{c} (update {r['update']}, member {r['member']})"
        for r in rows
        for c in CHECKED
        if c in r and r[c] != "" and not math.isfinite(r[c])
    ]


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate_csv(path: Path, max_update: int, renamed: dict[str, str] | None = None) -> None:
    """Drops rows of updates after the checkpoint (written before a kill interrupted it).

    `renamed` maps a column's former name to its current one (an algorithm's `RENAMED_METRICS`):
    a file written before the rename gets the current names, in the current column order, so the
    resumed rows continue the same columns. A former name is kept where the current one is
    already taken.
    """
    if not path.exists():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    names = {
        old: new for old, new in (renamed or {}).items() if old in header and new not in header
    }
    keep = [r for r in rows if int(r["update"]) <= max_update]
    if len(keep) != len(rows) or names:
        if names:
            header = columns(dict.fromkeys(names.get(c, c) for c in header))
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows({names.get(c, c): v for c, v in r.items()} for r in keep)


def _member_key(r: dict[str, str]) -> str:
    return r.get("member", r["seed"])


def plot(rows: list[dict[str, str]], path: Path, title: str, cost_limit: float) -> None:
    """Return and cost vs env steps: per setting, one thin line per member and their mean."""
    import matplotlib
    from matplotlib.figure import Figure  # outside pyplot: the caller's backend is left alone

    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    settings = list(dict.fromkeys(r.get("setting", "") for r in rows))
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, col, label in ((axes[0], "J_r", "return J_r"), (axes[1], "J_c", "cost J_c")):
        for i, setting in enumerate(settings):
            sel = [r for r in rows if r.get("setting", "") == setting]
            members = list(dict.fromkeys(_member_key(r) for r in sel))
            color = "k" if len(settings) == 1 else colors[i % len(colors)]
            curves = {}
            for m in members:
                pts = [(int(r["env_steps"]), float(r[col])) for r in sel
                       if _member_key(r) == m and r[col]]  # fmt: skip
                curves[m] = pts
                if pts and len(members) > 1:
                    ax.plot(*zip(*pts, strict=True), lw=0.8, alpha=0.35, color=color)
            steps = sorted({x for pts in curves.values() for x, _ in pts})
            mean = [
                (x, float(np.mean([y for pts in curves.values() for xx, y in pts if xx == x])))
                for x in steps
            ]
            if mean:
                name = "mean over seeds" + (f" ({setting})" if setting else "")
                ax.plot(*zip(*mean, strict=True), lw=2, color=color, label=name)
        if col == "J_c":
            ax.axhline(cost_limit, ls="--", color="r", label=f"cost limit {cost_limit:g}")
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _round(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


def _mean(vals: list[float | None]) -> float | None:
    vals = [v for v in vals if v is not None]
    return _round(float(np.mean(vals))) if vals else None


def member_values(rows: list[dict[str, str]], window: float = WINDOW) -> dict[str, dict]:
    """Per member (keyed by the member column): the last update's J_r, J_c, rho_c ("final") and
    the windowed means of J_r and J_c over the last `window` fraction of its updates."""
    by_member: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_member.setdefault(_member_key(r), []).append(r)
    out = {}
    for m, rs in by_member.items():
        n = max(1, math.ceil(window * len(rs)))
        tail = rs[-n:]

        def num(r: dict[str, str], col: str) -> float | None:
            return float(r[col]) if r.get(col, "") != "" else None

        last = rs[-1]
        out[m] = {
            "seed": int(last["seed"]),
            "setting": last.get("setting", ""),
            "updates": int(last["update"]),
            "final": {c: _round(num(last, c)) for c in ("J_r", "J_c", "rho_c")},
            "window": {c: _mean([num(r, c) for r in tail]) for c in ("J_r", "J_c")},
            "window_updates": n,
        }
    return out


def summarize(
    run: dict[str, Any],
    rows: list[dict[str, str]],
    host: dict[str, Any],
    evaluation: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """summary.json: per setting, the windowed training means and the evaluation over seeds,
    with Safety Gym's normalized metrics; top-level J_r / J_c / rho_c are the first setting's."""
    from agents.reference import normalized

    cfg = run["config"]
    values = member_values(rows)
    members = run["members"]
    by_id = {str(m["member"]): m for m in members}
    evals = {e["member"]: e for e in evaluation or []}
    groups = []
    for setting in dict.fromkeys(m["setting"] for m in members):
        ids = [str(m["member"]) for m in members if m["setting"] == setting]
        got = [values[i] for i in ids if i in values]
        limit = float(by_id[ids[0]]["settings"].get("cost_limit", cfg.cost_limit))
        group = {
            "setting": setting,
            "settings": by_id[ids[0]]["settings"],
            "seeds": [by_id[i]["seed"] for i in ids],
            "cost_limit": limit,
            "J_r": _mean([v["window"]["J_r"] for v in got]),
            "J_c": _mean([v["window"]["J_c"] for v in got]),
            "rho_c": _mean([v["final"]["rho_c"] for v in got]),
            "final": {c: _mean([v["final"][c] for v in got]) for c in ("J_r", "J_c", "rho_c")},
            "per_seed": {
                "J_r": [v["window"]["J_r"] for v in got],
                "J_c": [v["window"]["J_c"] for v in got],
                "rho_c": [v["final"]["rho_c"] for v in got],
            },
            "normalized": None,
            "eval": None,
        }
        if group["rho_c"] is not None:
            group["normalized"] = normalized(
                run["env"], group["J_r"], group["J_c"], group["rho_c"], limit
            )
        ev = [evals[int(i)] for i in ids if int(i) in evals]
        if ev:
            group["eval"] = {c: _mean([e[c]["mean"] for e in ev]) for c in ("J_r", "J_c", "rho_c")}
            group["eval"]["episodes"] = int(sum(e["episodes"] for e in ev))
        groups.append(group)
    updates = min((v["updates"] for v in values.values()), default=0)
    train_s = host["train_s"]
    first = groups[0]
    return {
        "env": run["env"],
        "env_overrides": run.get("env_overrides", {}),
        "algo": run["algo"],
        "seeds": first["seeds"],
        "updates": updates,
        "updates_planned": cfg.num_updates,
        "env_steps": updates * cfg.batch_size,
        "complete": updates >= cfg.num_updates,
        "window": WINDOW,
        "J_r": first["J_r"],
        "J_c": first["J_c"],
        "rho_c": first["rho_c"],
        "final": first["final"],
        "per_seed": first["per_seed"],
        "cost_limit": first["cost_limit"],
        "normalized": first["normalized"],
        "eval": first["eval"],
        "groups": groups,
        "members": [{"member": int(k), **v} for k, v in values.items()],
        "env_steps_per_s": round(host["steps_run"] / train_s, 1) if train_s > 0 else None,
        "train_time_s": round(train_s, 2),
        "compile_s": round(host["compile_s"], 2),
    }
