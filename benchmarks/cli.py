"""Argument parsing shared by the command-line programs: one override syntax everywhere.

`--set KEY=VALUE` overrides an algorithm config field (configs/ALGO.yaml), `--env-set KEY=VALUE`
an environment setting (the keywords of `safejax.make`), `--grid KEY=V1,V2,...` lists values of a
setting to run side by side. Values are YAML (`hidden_sizes=[256,256]`, `normalize_obs=false`,
`max_grad_norm=null`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml


class UsageError(ValueError):
    """Bad command-line input."""


def add_override_args(p: argparse.ArgumentParser, grid: bool = False) -> None:
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="algorithm config override (configs/ALGO.yaml keys)",
    )  # fmt: skip
    p.add_argument(
        "--env-set", action="append", default=[], metavar="KEY=VALUE",
        help="environment setting (safejax.make keywords, e.g. hazards_num=12)",
    )  # fmt: skip
    if grid:
        p.add_argument(
            "--grid", action="append", default=[], metavar="KEY=V1,V2,...",
            help="values of a setting to train side by side (e.g. cost_limit=10,25,50)",
        )  # fmt: skip


def add_logging_args(p: argparse.ArgumentParser) -> None:
    """The live-log flags: TensorBoard event files (on unless --no-tensorboard) and W&B."""
    p.add_argument(
        "--no-tensorboard", dest="tensorboard", action="store_false",
        help="write no TensorBoard event files into the run directory",
    )  # fmt: skip
    p.add_argument(
        "--wandb", action="store_true",
        help="also log to Weights & Biases (needs: pip install wandb)",
    )  # fmt: skip
    p.add_argument(
        "--wandb-project", metavar="NAME",
        help="W&B project (default safejax; only with --wandb)",
    )  # fmt: skip


def logging_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """`tensorboard`, `wandb`, `wandb_project` keywords of agents.run / agents.sweep."""
    if args.wandb_project is not None and not args.wandb:
        raise UsageError("--wandb-project needs --wandb")
    return {
        "tensorboard": args.tensorboard,
        "wandb": args.wandb,
        "wandb_project": args.wandb_project,
    }


def parse_pairs(items: list[str], flag: str) -> dict[str, Any]:
    """["key=value", ...] -> {key: YAML-parsed value}; a malformed item raises UsageError."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key.strip() in out:
            raise UsageError(f"{flag} {key.strip()} given twice")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise UsageError(f"{flag} {item!r}: not a YAML value ({e})") from e
    return out


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """["cost_limit=10,25,50", ...] -> {"cost_limit": [10, 25, 50]}."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise UsageError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        if key.strip() in out:
            raise UsageError(f"--grid {key.strip()} given twice")
        out[key.strip()] = [yaml.safe_load(v) for v in raw.split(",") if v.strip()]
    return out


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
