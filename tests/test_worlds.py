"""User-built worlds (`safejax.make_custom`, YAML world files, registration) and the Circle and
Run tasks: validation names the offending key before anything compiles; a world outside the
suite's levels builds, steps and costs as its parts say; Circle and Run reward and cost as
Safety-Gymnasium defines them (docs/TASKS.md), with expectations worked out by hand."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import safejax
from agents import runner
from safejax import worlds
from safejax.render import available as render_available

KEY = jax.random.PRNGKey(0)


# ------------------------------------------------------------------ validation (no compile)
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"elements": {"hazard": 3}}, ["'hazard'", "'hazards'"]),
        ({"elements": {"hazards": {"sise": 0.2}}}, ["'sise'", "'size'", "hazards"]),
        ({"elements": {"hazards": {"num": "3"}}}, ["hazards_num", "int"]),
        ({"elements": {"hazards": {"num": -1}}}, ["hazards_num", ">= 0"]),
        ({"elements": {"vases": {"size": 0.0}}}, ["vases_size", "> 0"]),
        ({"elements": {"hazards": {"constrain": 1}}}, ["constrain_hazards", "bool"]),
        ({"elements": {"hazards": True}}, ["'hazards'", "count"]),
        ({"robot": "pointy"}, ["'pointy'", "'point'"]),
        ({"task": "goals"}, ["'goals'", "'goal'"]),
        ({"task": "button"}, ["buttons_num"]),
        ({"elements": {"buttons": {"num": 4, "constrain": True}}}, ["constrain_buttons"]),
        ({"hazard_num": 3}, ["'hazard_num'", "'hazards_num'"]),
        ({"placements_extents": (1, 1, -1, -1)}, ["placements_extents"]),
        ({"elements": {"sigwalls": 3}}, ["sigwalls_num"]),
        ({"task": "circle", "circle_radius": -1.0}, ["circle_radius"]),
        ({"num_steps": 0}, ["num_steps"]),
    ],
)
def test_invalid_worlds_name_the_key(kwargs, words):
    with pytest.raises(ValueError) as e:
        worlds.build_config(**kwargs)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_registration_and_world_files(tmp_path):
    cfg = worlds.build_config(
        "car", "goal", {"hazards": {"num": 15, "constrain": True}, "pillars": 2}, num_steps=300
    )
    assert (cfg.robot, cfg.hazards_num, cfg.constrain_hazards, cfg.pillars_num) == (
        "car", 15, True, 2,
    )  # fmt: skip
    assert cfg.num_steps == 300 and cfg.vases_num == 0 and cfg.hazards_size == 0.3
    with pytest.raises(ValueError, match="suite environment"):
        safejax.registry.register("PointGoal1", cfg)
    safejax.registry.register("CrowdedCar", cfg, overwrite=True)
    assert safejax.config_for("CrowdedCar") == cfg
    assert safejax.config_for("CrowdedCar", hazards_num=3).hazards_num == 3
    assert "CrowdedCar" in safejax.registry.custom_names()
    # From a registered environment: PointGoal1 with more hazards keeps its other settings.
    more = worlds.build_config(base="PointGoal1", elements={"hazards": 20})
    assert more.hazards_num == 20 and more.vases_num == 1 and more.hazards_size == 0.2

    path = tmp_path / "world.yaml"
    path.write_text(
        "name: WideGoal\nrobot: point\ntask: goal\n"
        "elements:\n  hazards: {num: 12, constrain: true, observe: true}\n  vases: 2\n"
        "settings:\n  placements_extents: [-2, -2, 2, 2]\n"
    )
    assert safejax.registry.canonical_name(str(path)) == str(path)
    name, wcfg = worlds.load(path)
    assert name == "WideGoal" and wcfg.hazards_num == 12 and wcfg.vases_num == 2
    assert safejax.config_for("WideGoal") == wcfg
    # The CLIs accept the file wherever they accept a name (no compile here).
    plan = runner.plan(str(path), "ppo_lag", steps=1000)
    assert plan.env == str(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\nrobot: point\nelemnts: {hazards: 3}\n")
    with pytest.raises(ValueError, match="'elemnts'.*'elements'"):
        worlds.load(bad)


# ------------------------------------------------------------------ a world beyond the levels
@pytest.fixture(scope="module")
def crowded():
    env = safejax.make_custom(
        robot="point",
        task="goal",
        elements={
            "hazards": {
                "num": 25, "size": 0.25, "keepout": 0.2, "constrain": True, "observe": True,
            },  # fmt: skip
            "pillars": {"num": 3, "constrain": True},
            "gremlins": {"num": 2, "observe": True},
        },
        name="PointGoalCrowded",
        placements_extents=(-2.5, -2.5, 2.5, 2.5),
    )
    return env, jax.jit(env.reset), jax.jit(env.step)


def test_custom_world_builds_steps_and_costs(crowded):
    env, reset, step = crowded
    assert safejax.make("PointGoalCrowded").config == env.config
    lidars = [k for k in env.obs_layout if k.endswith("_lidar")]
    assert lidars == ["goal_lidar", "hazards_lidar", "gremlins_lidar"]
    assert env.observation_size == 12 + 3 * 16
    s = reset(KEY)
    assert s.objects["hazards"].shape == (25, 2) and s.objects["pillars"].shape == (3, 2)
    assert float(s.metrics["layout_failed"]) == 0.0
    # Every sampled pair of hazards keeps both keepouts apart (0.2 each).
    xy = np.asarray(s.objects["hazards"])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(25) * 9
    assert d.min() >= 0.2 + 0.2 - 1e-5
    s = step(s, jnp.zeros(2))
    assert float(s.cost) == 0.0 and np.isfinite(np.asarray(s.obs)).all()
    # A hazard put 0.1 m from the robot: raw cost 0.25 - 0.1 > 0, so a cost of 1, in its metric.
    robot = np.asarray(s.data.xpos[env.index.robot_body][:2])
    hazards = s.objects["hazards"].at[0].set(jnp.asarray(robot + [0.1, 0.0]))
    s = s.replace(objects={**s.objects, "hazards": hazards})
    s = step(s, jnp.zeros(2))
    assert float(s.cost) == 1.0 and float(s.metrics["cost_hazards"]) == 1.0
    assert float(s.metrics["cost_pillars"]) == 0.0 and float(s.metrics["cost_gremlins"]) == 0.0
    # Its hazards lidar sees that hazard at about 0.1 m: reading (3 - 0.1) / 3 in some bin.
    lidar = np.asarray(s.obs[env.obs_layout["hazards_lidar"]])
    assert lidar.max() == pytest.approx((3.0 - 0.1) / 3.0, abs=0.02)


# ------------------------------------------------------------------ Circle and Run
def _put(env, state, xy, vel):
    """The Point robot moved to `xy` with planar velocity `vel` (qpos/qvel x, y, and its body's
    position, which the next step's costs read as where the robot was)."""
    xy = jnp.asarray(xy, jnp.float32)
    qpos = state.data.qpos.at[0:2].set(xy)
    qvel = state.data.qvel.at[0:2].set(jnp.asarray(vel, jnp.float32))
    xpos = state.data.xpos.at[env.index.robot_body, 0:2].set(xy)
    return state.replace(data=state.data.replace(qpos=qpos, qvel=qvel, xpos=xpos))


def test_circle_reward_sign_and_size(envs):
    env, reset, step = envs("PointCircle0")
    assert env.num_steps == 500 and list(env.obs_layout)[-1] == "circle_lidar"
    s = reset(KEY)
    assert s.task == {}  # no goal: the reward needs no memory
    for vy, sign in ((0.5, 1.0), (-0.5, -1.0)):
        s1 = step(_put(env, s, (1.5, 0.0), (0.0, vy)), jnp.zeros(2))
        x, y = np.asarray(s1.data.qpos[0:2])
        u, v = np.asarray(s1.data.qvel[0:2])
        rho = np.hypot(x, y)
        expected = 0.1 * ((-u * y + v * x) / rho) / (1 + abs(rho - 1.5))
        assert np.sign(float(s1.reward)) == sign
        assert float(s1.reward) == pytest.approx(expected, rel=1e-3, abs=1e-6)
        assert abs(float(s1.reward)) > 0.01
    # At the centre the reward stays finite.
    s0 = step(_put(env, s, (0.0, 0.0), (0.0, 0.0)), jnp.zeros(2))
    assert np.isfinite(float(s0.reward))


@pytest.mark.parametrize("name", ["PointCircle1", "PointCircle2"])
def test_circle_walls_cost_on_crossing(envs, name):
    env, reset, step = envs(name)
    s = reset(KEY)
    for axis in (0, 1):
        xs, costs = [], []
        pos = [0.0, 0.0]
        pos[axis] = 1.05
        vel = [0.0, 0.0]
        vel[axis] = 1.0
        st = _put(env, s, pos, vel)
        act = jnp.zeros(2)
        for _ in range(12):
            st = step(st, act)
            st = _put(env, st, np.asarray(st.data.qpos[0:2]), vel)  # keep going
            xs.append(float(st.data.qpos[axis]))
            costs.append(float(st.cost))
        xs, costs = np.array(xs), np.array(costs)
        assert xs.min() < 1.125 < xs.max()
        walls_here = axis == 0 or name == "PointCircle2"
        np.testing.assert_array_equal(costs, (xs > 1.125) * float(walls_here))
        assert float(st.metrics["cost_sigwalls"]) == float(walls_here)


def test_run_reward_and_speed_limit(envs):
    env, reset, step = envs("PointRun1")
    assert [k for k in env.obs_layout if k.endswith("_lidar")] == []
    s = reset(KEY)
    y0 = float(s.data.qpos[1])
    assert y0 == pytest.approx(16.5) and abs(float(s.data.qpos[0])) <= 0.2
    # Running along -y at 1 m/s: reward 60 x the distance run; over the 0.75 m/s limit: cost.
    fast = step(_put(env, s, (0.0, y0), (0.0, -1.0)), jnp.zeros(2))
    dy = y0 - float(fast.data.qpos[1])
    assert dy > 0.01 and float(fast.reward) == pytest.approx(60.0 * dy, rel=2e-3)
    assert float(fast.metrics["cost_velocity"]) == 1.0 and float(fast.cost) == 1.0
    slow = step(_put(env, s, (0.0, y0), (0.0, -0.5)), jnp.zeros(2))
    assert float(slow.reward) > 0 and float(slow.metrics["cost_velocity"]) == 0.0
    back = step(_put(env, s, (0.0, y0), (0.0, 0.5)), jnp.zeros(2))
    assert float(back.reward) < 0
    # The corridor's walls at x = +-0.5.
    out = step(_put(env, s, (0.6, y0), (0.0, 0.0)), jnp.zeros(2))
    assert float(out.metrics["cost_sigwalls"]) == 1.0 and float(out.cost) == 1.0


def test_goal_less_worlds_render(envs):
    """Circle and Run have no goal: frames are drawn without one (the circle and the walls are
    scene geoms)."""
    ok, why = render_available()
    if not ok:
        pytest.skip(why)
    env, reset, _ = envs("PointCircle1")
    frame = safejax.render(env, reset(KEY), width=64, height=48)
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0


def test_example_world_files_load():
    files = sorted((Path(__file__).parent.parent / "examples" / "worlds").glob("*.yaml"))
    assert files
    for f in files:
        name, cfg = worlds.load(f)
        assert safejax.config_for(str(f)) == cfg and name in safejax.registry.custom_names()


def test_world_details(tmp_path):
    # `base` keeps the base's robot and task unless they are given.
    env = safejax.make_custom(base="CarPush2", elements={"hazards": 6})
    assert (env.config.robot, env.config.task, env.config.hazards_num) == ("car", "push", 6)
    assert env.config.pillars_num == 4 and env.config.box_size == 0.125
    # Another task's setting is an error, not silently kept.
    with pytest.raises(ValueError, match="circle_radius is a setting of the circle task"):
        worlds.build_config("point", "goal", circle_radius=2.0)
    # A world file's structural keys belong at its top level.
    bad = tmp_path / "misplaced.yaml"
    bad.write_text("name: M\nsettings:\n  robot: car\n")
    with pytest.raises(ValueError, match="misplaced.yaml.*'robot' belongs at the top level"):
        worlds.load(bad)
    # A world file is recorded by its absolute path, so runs rebuild it from anywhere.
    good = tmp_path / "w.yaml"
    good.write_text("name: W\nelements: {hazards: 2}\n")
    rel = os.path.relpath(good)
    assert safejax.registry.canonical_name(rel) == str(good.resolve())
    assert runner.env_label(rel) == "W" and runner.env_label("CustomPointGoal") == "CustomPointGoal"


def test_elements_registered_later_take_their_keys():
    import dataclasses
    from typing import ClassVar

    from safejax import elements
    from safejax.elements.base import Element

    @dataclasses.dataclass(frozen=True)
    class Puddles(Element):
        group: ClassVar[str] = "puddles"
        COSTS: ClassVar[tuple[str, ...]] = ("puddles",)
        num: int = 0
        depth: float = 0.1

    before = safejax.EnvConfig()
    elements.register(Puddles)
    try:
        with pytest.raises(ValueError, match="already registered"):
            elements.register(Puddles)
        cfg = before.replace(puddles_num=3, puddles_depth=0.2)
        assert (cfg.puddles_num, cfg.puddles_depth, cfg.hazards_num) == (3, 0.2, 0)
        assert "cost_puddles" in safejax.env.cost_keys()
        assert "puddles_keepout" in safejax.EnvConfig.field_names()
    finally:
        elements.ELEMENTS.remove(Puddles)
    assert "cost_puddles" not in safejax.env.cost_keys()
