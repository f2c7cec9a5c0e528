"""examples/quickstart.ipynb executes from top to bottom (a tiny budget, a fresh kernel)."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).parent.parent / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    out = tmp_path / "run"
    budget = {
        "QUICKSTART_ENV": "PointGoal0",  # the lightest world: the notebook's compile dominates
        "QUICKSTART_NUM_ENVS": "8",
        "QUICKSTART_STEPS": "2000",  # two updates of 8 worlds x 125 steps
        "QUICKSTART_VIDEO_STEPS": "5",
        "QUICKSTART_OUT": str(out),
    }
    for k, v in budget.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(cwd=str(Path(__file__).parent.parent))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]  # fmt: skip
    assert not errors
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "status 0" in text and "6 frames" in text
    assert (out / "metrics.csv").exists() and (out / "quickstart.gif").exists()
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
              or "image/gif" in o.get("data", {})]  # fmt: skip
    assert len(images) >= 2  # the learning curves and the video
