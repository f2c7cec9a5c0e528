"""safejax.xla_flags: CPU flags appended to XLA_FLAGS without overriding the user's."""

from safejax import xla_flags


def test_appends_missing_flags():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = xla_flags.apply(env).split()
    assert out[0] == "--xla_force_host_platform_device_count=2"
    assert set(xla_flags.CPU_FLAGS) <= set(out)
    assert xla_flags.apply(env).split() == out  # idempotent


def test_user_setting_wins_and_opt_out():
    name = xla_flags.CPU_FLAGS[0].split("=")[0]
    env = {"XLA_FLAGS": f"{name}=default --xla_force_host_platform_device_count=1"}
    assert xla_flags.apply(env) == f"{name}=default --xla_force_host_platform_device_count=1"
    assert xla_flags.apply({"SAFEJAX_XLA_FLAGS": "0"}) == ""


def test_one_cpu_device_per_core_unless_told():
    import os

    out = xla_flags.apply({}).split()
    cores = len(os.sched_getaffinity(0))
    assert f"--xla_force_host_platform_device_count={cores}" in out
    out = xla_flags.apply({"SAFEJAX_CPU_DEVICES": "3"}).split()
    assert "--xla_force_host_platform_device_count=3" in out
    import pytest

    with pytest.raises(ValueError, match="SAFEJAX_CPU_DEVICES"):
        xla_flags.apply({"SAFEJAX_CPU_DEVICES": "two"})


def test_applied_in_this_process():
    import os

    import safejax  # noqa: F401  (applies the flags on import)

    assert xla_flags.CPU_FLAGS[0] in os.environ["XLA_FLAGS"].split()
    import jax

    # This machine's cores (or the count the environment asked for) as CPU devices.
    assert len(jax.devices("cpu")) == xla_flags.cpu_device_count()
