"""XLA settings that make MJX faster on CPU, applied when this module is first imported
(`import safejax` does so).

XLA reads `XLA_FLAGS` once, when its first backend starts, so these take effect only if safejax
(or this module) is imported before the first JAX computation of the process. A flag the user
has already set in `XLA_FLAGS` is left as the user set it; `SAFEJAX_XLA_FLAGS=0` skips them all.

- `--xla_cpu_experimental_ynn_fusion_type=` (empty: no YNNPACK fusions). jaxlib 0.10.2 hands
  fusions around dot products to YNNPACK by default; for MJX's many tiny batched products
  (13 x 56 Jacobians, 13 x 13 Hessians per world) its kernels are slower than XLA's own:
  CarGoal1 physics at 2048 worlds ran at 2,180 env-steps/s with them and 2,717 without.
"""

from __future__ import annotations

import os

CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def apply(environ=os.environ) -> str:
    """Appends each of `CPU_FLAGS` whose name `XLA_FLAGS` does not mention; returns the result."""
    if environ.get("SAFEJAX_XLA_FLAGS", "1") == "0":
        return environ.get("XLA_FLAGS", "")
    flags = environ.get("XLA_FLAGS", "").split()
    for flag in CPU_FLAGS:
        name = flag.split("=", 1)[0]
        if not any(f.split("=", 1)[0] == name for f in flags):
            flags.append(flag)
    environ["XLA_FLAGS"] = " ".join(flags)
    return environ["XLA_FLAGS"]


apply()
