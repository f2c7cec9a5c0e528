"""The report's figures: learning curves with bootstrap bands, and Safety Gym's normalized
return-versus-cost scatter (see agents/report.py for the records and rows they draw)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.report import (
    BOOTSTRAP_SEED,
    CURVE_POINTS,
    METRICS,
    MemberRecord,
    _column_means,
    _seeded,
    group_records,
    label,
)


def _figure(**kw) -> Any:
    """A matplotlib Figure outside pyplot: no global backend switch, nothing to close (a
    notebook that imports this keeps its own backend)."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def curve(
    members: Sequence[MemberRecord], metric: str, reps: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, mean, lo, hi) across seeds of one metric: each seed's last value at or before each
    step (no value past its last update); lo / hi: 95% bootstrap band where every seed has a
    value (NaN elsewhere, and everywhere with one seed)."""
    grid = np.unique(np.concatenate([r.steps for r in members]))
    if grid.size > CURVE_POINTS:
        grid = grid[np.linspace(0, grid.size - 1, CURVE_POINTS).round().astype(int)]
    vals = np.full((len(members), grid.size), np.nan)
    for i, r in enumerate(members):
        y = getattr(r, metric)
        filled = np.where(np.isfinite(y), np.arange(y.size), -1)
        filled = np.maximum.accumulate(filled)  # index of the last finite value so far
        at = np.searchsorted(r.steps, grid, side="right") - 1
        ok = (at >= 0) & (grid <= r.steps[-1])
        src = filled[np.clip(at, 0, None)]
        ok &= src >= 0
        vals[i, ok] = y[src[ok]]
    count = np.isfinite(vals).sum(axis=0)
    mean = np.where(count > 0, np.nansum(vals, axis=0) / np.maximum(count, 1), np.nan)
    lo, hi = np.full(grid.size, np.nan), np.full(grid.size, np.nan)
    full = count == len(members)
    if len(members) > 1 and full.any():
        from rliable import library

        with _seeded(BOOTSTRAP_SEED):
            _, ci = library.get_interval_estimates({"x": vals[:, full]}, _column_means, reps=reps)
        lo[full], hi[full] = ci["x"][0], ci["x"][1]
    return grid, mean, lo, hi


def plot_curves(records: Sequence[MemberRecord], out: str | os.PathLike) -> dict[str, Path]:
    """curves_<ENV>.png per environment: J_r, J_c (cost limits dashed) and rho_c against env
    steps, one line per algorithm and setting (mean over seeds) with its 95% band."""
    groups = group_records(records)
    paths = {}
    for env in sorted({k[0] for k in groups}):
        keys = [k for k in groups if k[0] == env]
        labels = [label({"algo": k[2], "setting": k[3], "env_overrides": k[1]}) for k in keys]
        labels = [f"{t} (limit {k[4]:g})" if labels.count(t) > 1 else t
                  for t, k in zip(labels, keys, strict=True)]  # fmt: skip
        fig = _figure(figsize=(16, 4.5))
        axes = fig.subplots(1, 3)
        for i, (k, text) in enumerate(zip(keys, labels, strict=True)):
            color = f"C{i % 10}"
            for ax, m in zip(axes, METRICS, strict=True):
                x, mean, lo, hi = curve(groups[k], m)
                n = len(groups[k])
                ax.plot(x, mean, color=color, lw=1.5, label=f"{text} (n={n})")
                if np.isfinite(lo).any():
                    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
        for i, d in enumerate(sorted({k[4] for k in keys})):
            axes[1].axhline(d, ls="--", color="k" if i == 0 else "gray", lw=1,
                            label=f"cost limit {d:g}")  # fmt: skip
        for ax, m in zip(axes, ("return J_r", "cost J_c", "cost rate rho_c"), strict=True):
            ax.set_xlabel("env steps")
            ax.set_ylabel(m)
            ax.grid(alpha=0.3)
        axes[1].legend(loc="best", fontsize=7)
        fig.suptitle(f"{env}: mean over seeds, 95% bootstrap band")
        fig.tight_layout()
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", env)
        paths[env] = Path(out) / f"curves_{name}.png"
        fig.savefig(paths[env], dpi=100)
    return paths


def plot_scatter(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path | None:
    """Normalized cost (x) against normalized return (y), one point per group with interval
    error bars; groups without a reference row are left out; None (no file) if none has one."""
    points = [r for r in rows if r["norm_J_r"] is not None and r["norm_J_c"] is not None]
    if not points:
        return None
    envs = sorted({r["env"] for r in points})
    algos = sorted({r["algo"] for r in points})
    markers = "osD^v<>phX*"
    fig = _figure(figsize=(7, 5.5))
    ax = fig.subplots()
    for r in points:

        def err(m: str, r: dict = r) -> Any:
            if r[f"norm_{m}_lo"] is None:
                return None
            v = r[f"norm_{m}"]
            return [[v - r[f"norm_{m}_lo"]], [r[f"norm_{m}_hi"] - v]]

        ax.errorbar(r["norm_J_c"], r["norm_J_r"], xerr=err("J_c"), yerr=err("J_r"),
                    color=f"C{algos.index(r['algo']) % 10}", capsize=3, ls="none",
                    marker=markers[envs.index(r["env"]) % len(markers)],
                    label=f"{r['env']} {label(r)}")  # fmt: skip
    ax.axvline(0, color="gray", lw=0.5)
    ax.axhline(1, color="gray", lw=0.5, ls=":")
    ax.set_xlabel("normalized cost  max(0, J_c - d) / (Cost_PPO - d)")
    ax.set_ylabel("normalized return  J_r / Ret_PPO")
    ax.set_title("Against unconstrained PPO (Safety Gym): up and left is better")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
