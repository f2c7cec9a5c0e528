"""Host-side commands: `python -m benchmarks.run` (training) and `python -m benchmarks.sps`."""
