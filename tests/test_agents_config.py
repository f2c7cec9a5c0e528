"""Algorithm configs from YAML (unknown keys are errors) and running observation statistics."""

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from agents import algorithm_names, get_algorithm
from agents.common.config import from_dict, load_config, parse_overrides, read_yaml, to_dict
from agents.common.normalization import RunningStats, normalize, update_stats


@pytest.mark.parametrize("algo", algorithm_names())
def test_default_yaml_fills_every_field(algo):
    module = get_algorithm(algo)
    assert module.DEFAULT_CONFIG == f"{algo}.yaml"
    cfg = module.default_config()
    assert set(read_yaml(module.DEFAULT_CONFIG)) == {f.name for f in dataclasses.fields(cfg)}
    assert cfg.cost_limit == 25.0 and cfg.gamma == 0.99 and cfg.lam == 0.97
    assert cfg.batch_size == cfg.num_envs * cfg.rollout_len
    assert from_dict(module.Config, to_dict(cfg)) == cfg  # what --resume reads back


def test_documented_defaults():
    lag = get_algorithm("ppo_lag").default_config()
    assert (lag.lagrangian, lag.lambda_init, lag.lambda_lr) == ("softplus", 1.0, 0.05)
    assert (lag.clip_ratio, lag.target_kl, lag.kl_margin, lag.pi_lr, lag.vf_lr) == (
        0.2, 0.01, 1.2, 3e-4, 1e-3,
    )  # fmt: skip
    pid = get_algorithm("pid_lag").default_config()
    assert (pid.pid_kp, pid.pid_ki, pid.pid_kd, pid.pid_d_delay) == (0.1, 0.01, 0.01, 10)
    assert (pid.pid_alpha_p, pid.pid_alpha_d) == (0.95, 0.95)


def test_overrides_are_typed_and_checked():
    ppo = get_algorithm("ppo")
    cfg = load_config(ppo.Config, "ppo.yaml", parse_overrides(["hidden_sizes=[32, 16]", "lam=1"]))
    assert cfg.hidden_sizes == (32, 16) and cfg.lam == 1.0 and isinstance(cfg.lam, float)
    assert load_config(ppo.Config, "ppo.yaml", {"max_grad_norm": 40}).max_grad_norm == 40.0
    with pytest.raises(ValueError, match="unknown --set key.*valid: .*clip_ratio"):
        load_config(ppo.Config, "ppo.yaml", {"clip": 0.1})
    with pytest.raises(ValueError, match="num_envs must be int"):
        load_config(ppo.Config, "ppo.yaml", {"num_envs": 2.5})
    with pytest.raises(ValueError, match="normalize_obs must be bool"):
        load_config(ppo.Config, "ppo.yaml", {"normalize_obs": 1})
    with pytest.raises(ValueError, match="must be >= 1 and divide"):
        load_config(ppo.Config, "ppo.yaml", {"vf_minibatches": 7})
    with pytest.raises(ValueError, match="lam must be in"):
        load_config(ppo.Config, "ppo.yaml", {"lam": 1.5})
    with pytest.raises(ValueError, match="lagrangian='exp'; valid: softplus, clamp"):
        get_algorithm("ppo_lag").default_config(lagrangian="exp")


def test_unknown_and_missing_yaml_keys_are_errors():
    ppo = get_algorithm("ppo")
    values = to_dict(ppo.default_config())
    with pytest.raises(ValueError, match="unknown cfg key.*extra"):
        from_dict(ppo.Config, {**values, "extra": 1}, where="cfg")
    del values["gamma"]
    with pytest.raises(ValueError, match="missing key.*gamma"):
        from_dict(ppo.Config, values)


def test_running_stats_match_the_whole_data():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 50, 4)) * jnp.array([1.0, 2.0, 5.0, 0.1]) + 3
    stats = RunningStats.zeros(4)
    for part in x:
        stats = update_stats(stats, part)
    flat = np.asarray(x).reshape(-1, 4)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-4)
    z = np.asarray(normalize(stats, x))
    np.testing.assert_allclose(z.reshape(-1, 4).std(0), 1.0, rtol=1e-3)
    # Before any data normalization is the identity (up to the clip).
    np.testing.assert_allclose(normalize(RunningStats.zeros(4), x, 100.0), x, rtol=1e-6)


def test_a_run_written_before_a_new_config_field_keeps_its_former_value(tmp_path):
    """The published CPO cell without a margin, its config.yaml as the code of its time wrote it
    (no `cpo_margin`): the plan takes the former value 0 (`FORMER_VALUES`), not the current
    default, and another missing key is still an error that names it."""
    from agents import cpo, runner

    source = Path(__file__).parent.parent / "docs/results/pg1_cpo_margin0/PointGoal1/cpo"
    text = (source / "config.yaml").read_text()
    saved = yaml.safe_load(text)
    del saved["config"]["cpo_margin"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    plan = runner.read_plan(tmp_path)
    assert plan.config.cpo_margin == 0.0 != cpo.default_config().cpo_margin
    del saved["config"]["cg_iters"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(runner.UsageError, match="missing key.*cg_iters"):
        runner.read_plan(tmp_path)
    # The report labels such a run by that value too, so it is never pooled with margin runs.
    from agents.report import config_label

    assert config_label("cpo", {"cpo_offset": "omnisafe"}) == "cpo_margin=0.0"
    assert config_label("cpo", {"cpo_offset": "omnisafe", "cpo_margin": 0.15}) == ""
