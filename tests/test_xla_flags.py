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
    env = {"XLA_FLAGS": f"{name}=default"}
    assert xla_flags.apply(env) == f"{name}=default"
    assert xla_flags.apply({"SAFEJAX_XLA_FLAGS": "0"}) == ""


def test_applied_in_this_process():
    import os

    import safejax  # noqa: F401  (applies the flags on import)

    assert xla_flags.CPU_FLAGS[0] in os.environ["XLA_FLAGS"].split()
