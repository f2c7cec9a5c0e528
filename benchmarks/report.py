"""Compare training runs: tables, 95% intervals across seeds, normalized metrics and figures.

    python -m benchmarks.report DIR [DIR ...] [--out OUTDIR] [--window FRACTION]

Every folder at or below each DIR that holds config.yaml and metrics.csv is one run. Members
(seeds, settings) are grouped by environment, algorithm and setting across all runs. Writes
results.csv, results.md, curves_<ENV>.png and scatter_normalized.png into OUTDIR (default: the
first DIR). The work is done by `agents.report.write_report`.
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description="Comparison report over training run directories.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="folders searched for run directories")
    p.add_argument("--out", metavar="OUTDIR", help="output folder (default: the first DIR)")
    p.add_argument(
        "--window",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="final J_r / J_c: mean over this last fraction of each seed's updates (default 0.1)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 for bad input)."""
    from agents.report import ReportError, write_report

    args = _parser().parse_args(argv)
    try:
        paths = write_report(args.dirs, args.out, window=args.window)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
