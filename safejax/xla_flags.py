"""XLA settings that make MJX faster on CPU, applied when this module is first imported
(`import safejax` does so).

XLA reads `XLA_FLAGS` once, when its first backend starts, so these take effect only if safejax
(or this module) is imported before the first JAX computation of the process. A flag the user
has already set in `XLA_FLAGS` is left as the user set it; `SAFEJAX_XLA_FLAGS=0` skips them all.

- `--xla_cpu_experimental_ynn_fusion_type=` (empty: no YNNPACK fusions). jaxlib 0.10.2 hands
  fusions around dot products to YNNPACK by default; for MJX's many tiny batched products
  (13 x 56 Jacobians, 13 x 13 Hessians per world) its kernels are slower than XLA's own:
  CarGoal1 physics at 2048 worlds ran at 2,180 env-steps/s with them and 2,717 without.
- `--xla_force_host_platform_device_count=N`, N = the cores this process may use (or
  `SAFEJAX_CPU_DEVICES`): one CPU device per core, so that `safejax.VecEnv` can split its worlds
  across them (`jax.shard_map`) and keep every core busy. XLA's own intra-op threading leaves
  cores idle between MJX's many small kernels: CarGoal1 physics at 2048 worlds on 2 cores ran at
  4,690 env-steps/s on one device and 6,238 split across two. Single-device code is unaffected:
  it runs on the first device, as before.
"""

from __future__ import annotations

import os

CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def cpu_device_count(environ=os.environ) -> int:
    """`SAFEJAX_CPU_DEVICES` if set, else the number of cores this process may run on."""
    if "SAFEJAX_CPU_DEVICES" in environ:
        value = environ["SAFEJAX_CPU_DEVICES"]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"SAFEJAX_CPU_DEVICES must be a positive integer, got {value!r}")
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def apply(environ=os.environ) -> str:
    """Appends each of `CPU_FLAGS`, and the CPU device count, whose name `XLA_FLAGS` does not
    mention; returns the result."""
    if environ.get("SAFEJAX_XLA_FLAGS", "1") == "0":
        return environ.get("XLA_FLAGS", "")
    flags = environ.get("XLA_FLAGS", "").split()
    wanted = CPU_FLAGS + (
        f"--xla_force_host_platform_device_count={cpu_device_count(environ)}",
    )
    for flag in wanted:
        name = flag.split("=", 1)[0]
        if not any(f.split("=", 1)[0] == name for f in flags):
            flags.append(flag)
    environ["XLA_FLAGS"] = " ".join(flags)
    return environ["XLA_FLAGS"]


apply()
