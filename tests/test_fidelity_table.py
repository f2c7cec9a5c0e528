"""The reduced fidelity table (`python -m benchmarks.fidelity --all --small`): every registered
behaviour comparison against plain MuJoCo on the spec's models passes its tolerances, on the
environments the suite compiles anyway."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import fidelity_table


@pytest.mark.parametrize("name", sorted(fidelity_table.CHECKS))
def test_check_within_tolerance(envs, name):
    rows = fidelity_table.run([name], small=True, envs=envs)
    assert rows, f"check {name} produced no rows"
    for row in rows:
        assert np.isfinite(row.reference) and np.isfinite(row.safejax), row
        # Within tolerance, or a documented deviation that has not grown past its bound.
        assert row.acceptable, (
            f"{row.check}: {row.statistic}: reference {row.reference:.4g}, safejax "
            f"{row.safejax:.4g}, allowed +-{row.allowed:.3g}"
            + (f" (known deviation, bound {row.known_bound:.0%})" if row.known else "")
        )


def test_row_tolerances():
    rel = fidelity_table.Row("c", "s", 2.0, 2.09, "rel", 0.05)
    assert rel.within and rel.allowed == pytest.approx(0.1)
    assert not fidelity_table.Row("c", "s", 2.0, 2.11, "rel", 0.05).within
    # Episode statistics widen to their 95% interval when it is wider than the tolerance.
    assert fidelity_table.Row("c", "s", 2.0, 2.3, "rel", 0.05, noise=0.35).within
    assert not fidelity_table.Row("c", "s", 0.0, 0.2, "abs", 0.1).within
    assert not fidelity_table.Row("c", "s", 1.0, float("nan"), "abs", 0.1).within
    flips = fidelity_table._fraction_row("d", "f", [0] * 95 + [1] * 5, [0] * 90 + [1] * 10, 0.05)
    assert flips.allowed == pytest.approx(1.96 * np.sqrt(0.075 * 0.925 * 0.02))
    assert flips.within
    text = fidelity_table.markdown([rel, flips])
    assert "| c | s | 2 | 2.09 |" in text and "2 of 2 rows within tolerance" in text
    # A documented deviation passes inside its bound only, and still reads "no".
    known = fidelity_table.Row("g", "k", 100.0, 64.0, "rel", 0.3, known="why", known_bound=0.4)
    assert not known.within and known.acceptable
    assert not dataclasses.replace(known, safejax=59.0).acceptable
    assert not dataclasses.replace(known, known="").acceptable
    # ... widened by the noise of episode statistics.
    assert dataclasses.replace(known, safejax=55.0, noise=6.0).acceptable
    text = fidelity_table.markdown([rel, known])
    assert "**no** (known deviation 1)" in text and "1 of 2 rows within tolerance" in text


def test_unknown_check_is_refused_before_any_compile():
    with pytest.raises(ValueError, match="valid: .*doggo"):
        fidelity_table.run(["dogo"], envs=lambda name: pytest.fail("compiled"))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fidelity", "--all", "--checks", "dogo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "unknown check(s) ['dogo']" in out.stderr
