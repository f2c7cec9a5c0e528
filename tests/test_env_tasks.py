"""Button and Push tasks and their elements, on hand-placed worlds: the goal button's reward and
timer, button costs only with the timer at 0, the hidden buttons lidar, gremlins on their
circles, push reward signs, goal re-sampling, the box stopped by pillars, and pillar costs only
where constrained (Push2, not Push1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safejax import physics
from safejax.elements import buttons
from safejax.scenario import FAR, place

KEY = jax.random.PRNGKey(11)


def buttons_lidar(env, s):
    return np.asarray(s.obs[env.obs_layout["buttons_lidar"]])


# ---------------------------------------------------------------------------------- Button
BUTTONS = np.array([[0.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def _button_world(env, reset, robot_xy, yaw, timer=0):
    s = reset(KEY)
    n_g = env.config.gremlins_num
    s = place(env, s, robot_xy, yaw, buttons=BUTTONS, gremlins=np.full((n_g, 2), FAR))
    task = dict(
        s.task,
        goal_button=jnp.int32(0),
        goal=jnp.asarray(BUTTONS[0], jnp.float32),
        timer=jnp.int32(timer),
    )
    return s.replace(task=task)


def test_goal_button_rewards_and_starts_the_timer(envs):
    env, reset, step = envs("PointButton1")
    s = _button_world(env, reset, (-0.3, 0.0), 0.0)
    s = step(s, jnp.zeros(2))  # syncs the previous distance to this hand-made world
    assert float(s.metrics["goal_met"]) == 0.0
    assert buttons_lidar(env, s).max() > 0.5  # visible: timer at 0
    steps = 0
    while not float(s.metrics["goal_met"]):
        s = step(s, jnp.array([1.0, 0.0]))
        steps += 1
        if steps > 40:
            pytest.fail("the robot never touched the goal button")
    assert steps > 1 and float(s.reward) > 1.0  # +1 bonus on top of positive shaping
    assert int(s.task["timer"]) == 10
    assert float(s.cost) == 0.0 and float(s.metrics["cost_buttons"]) == 0.0
    # The buttons lidar reads zero for the 10 observations after a success, then returns.
    assert buttons_lidar(env, s).max() == 0.0
    g = int(s.task["goal_button"])
    np.testing.assert_allclose(np.asarray(s.task["goal"]), BUTTONS[g])
    s = place(env, s, (0.5, 0.5))  # away from every button, at rest
    zeros = []
    for _ in range(10):
        s = step(s, jnp.zeros(2))
        zeros.append(buttons_lidar(env, s).max() == 0.0)
        assert float(s.metrics["goal_met"]) == 0.0
    assert zeros == [True] * 9 + [False]
    assert int(s.task["timer"]) == 0


@pytest.mark.parametrize("timer", [0, 6])
def test_wrong_button_costs_only_with_the_timer_at_zero(envs, timer):
    env, reset, step = envs("PointButton1")
    # Just below button 1 (not the goal), facing it: the robot's nose (a box of half-size 0.05,
    # 0.1 ahead of its centre) touches first.
    s = _button_world(env, reset, (0.0, 1.0 - 0.252), np.pi / 2, timer=timer)
    touched, costs = [], []
    for i in range(timer + 6):
        s = step(s, jnp.array([1.0, 0.0]))
        geoms = env.index.elements["buttons"].geoms
        counts = buttons.contact_counts(physics.robot_contacts(env.physics, s.data), geoms)
        touched.append(bool(counts[1] > 0))
        costs.append(float(s.metrics["cost_buttons"]))
        assert float(s.metrics["goal_met"]) == 0.0 and counts[0] == 0
        # Safety Gym reads the timer before its tick: `timer` free steps, then costs.
        assert costs[-1] == (1.0 if touched[-1] and i >= timer else 0.0), (i, touched, costs)
        assert float(s.cost) == costs[-1]
    assert any(touched[timer:])
    if timer:
        assert any(touched[:timer])  # touching, yet free while the timer runs


def test_goal_button_contact_is_not_a_cost(envs):
    env, reset, step = envs("PointButton1")
    s = _button_world(env, reset, (-0.248, 0.0), 0.0)  # the nose touches it
    s = step(s, jnp.array([1.0, 0.0]))
    assert float(s.metrics["goal_met"]) == 1.0 and float(s.metrics["cost_buttons"]) == 0.0


def test_gremlins_follow_their_circles_and_cost_on_contact(envs):
    env, reset, step = envs("PointButton1")
    s = reset(KEY)
    centres = np.asarray(s.objects["gremlins"])
    dt = env.mj_model.opt.timestep
    for _ in range(7):
        s = step(s, jnp.zeros(2))
    t = float(s.data.time) - dt  # positions are set before each substep
    expected = centres + 0.35 * np.array([np.sin(t), np.cos(t)])
    got = np.asarray(s.data.mocap_pos[env.index.elements["gremlins"].mocap])
    np.testing.assert_allclose(got[:, :2], expected, atol=1e-5)
    np.testing.assert_allclose(got[:, 2], 0.2, atol=1e-6)  # floating, as spec 6.6 derives
    assert float(s.data.time) == pytest.approx(7 * 10 * dt, abs=1e-5)
    # The gremlins lidar sees where the gremlins are now (one gremlin, next to the robot).
    c = np.array([0.0, 0.0])
    # Robot parked on the gremlin's path, a quarter turn ahead (t = pi/2 s: 79 Point steps).
    robot = c + 0.35 * np.array([1.0, 0.0])
    s = place(
        env,
        reset(KEY),
        robot,
        buttons=BUTTONS + 3.0,
        gremlins=np.concatenate([[c], np.full((3, 2), FAR)]),
    )
    hit = []
    for _ in range(100):
        s = step(s, jnp.zeros(2))
        hit.append(float(s.metrics["cost_gremlins"]))
    assert max(hit) == 1.0
    first = hit.index(1.0)
    # The gremlin box (half 0.1) meets the robot sphere (r 0.1) before its centre arrives.
    assert 40 < first < 79, first
    lidar = np.asarray(s.obs[env.obs_layout["gremlins_lidar"]])
    assert lidar.max() > 0.8  # a gremlin within about 0.5 m


# How long button and gremlin contacts last against plain MuJoCo on the spec's model is checked
# by the fidelity table's "buttons" and "gremlins" rows (tests/test_fidelity_table.py).


# ------------------------------------------------------------------------------------ Push
def test_pushing_the_box_to_the_goal_rewards_and_resamples(envs):
    env, reset, step = envs("PointPush2")
    s = reset(KEY)
    s = place(
        env,
        s,
        (-0.45, 0.0),
        0.0,
        box_xy=(0.0, 0.0),
        pillars=np.full((env.config.pillars_num, 2), FAR),
    )
    s = s.replace(task=dict(s.task, goal=jnp.array([0.9, 0.0])))
    s = step(s, jnp.zeros(2))  # syncs the previous distances to this hand-made world
    rewards, box_x = [], []
    for _ in range(150):
        s = step(s, jnp.array([1.0, 0.0]))
        rewards.append(float(s.reward))
        box_x.append(float(s.data.qpos[env.index.task.qpos_adr[0]]))
        if float(s.metrics["goal_met"]):
            break
    else:
        pytest.fail(f"the box never reached the goal (box x {box_x[-1]:.2f})")
    assert box_x[-1] > 0.55  # within goal_size of the goal (3-D)
    assert sum(rewards[:-1]) > 0.5  # shaping: robot->box and box->goal both shrink
    assert rewards[-1] > 1.0
    assert float(s.cost) == 0.0
    # The goal was re-sampled clear of the box and robot, and the shaping restarts there.
    goal = np.asarray(s.task["goal"])
    box = np.asarray(s.data.qpos[env.index.task.qpos_adr[:2]])
    assert np.linalg.norm(goal - box) >= 0.6 - 1e-4  # box keepout 0.2 + goal keepout 0.4
    box3 = np.array([box[0], box[1], 0.2])
    goal3 = np.array([goal[0], goal[1], 0.16])
    assert float(s.task["last_box_goal"]) == pytest.approx(np.linalg.norm(box3 - goal3), abs=2e-3)
    # Backing away from the box costs robot->box shaping (once the robot has stopped).
    back = []
    for _ in range(40):
        s = step(s, jnp.array([-1.0, 0.0]))
        back.append(float(s.reward))
    assert sum(back[-10:]) < 0.0


def test_box_stops_at_a_pillar(envs):
    env, reset, step = envs("PointPush2")
    pillars = np.full((env.config.pillars_num, 2), FAR)
    pillars[0] = [0.8, 0.0]
    s = place(env, reset(KEY), (-0.45, 0.0), 0.0, box_xy=(0.0, 0.0), pillars=pillars)
    s = s.replace(task=dict(s.task, goal=jnp.array([-1.5, 1.5])))
    gap = []
    for _ in range(80):
        s = step(s, jnp.array([1.0, 0.0]))
        box = np.asarray(s.data.qpos[env.index.task.qpos_adr[:2]])
        gap.append(np.linalg.norm(box - pillars[0]))
    # The box reached the pillar, and never overlapped it: its centre stays at least pillar
    # radius 0.2 + half-footprint 0.3 away (face on; more at a corner).
    # (Soft contacts let the light box sink about 3 cm into the pillar under the robot's push;
    # plain MuJoCo with the spec's cylinder gives the same.)
    assert min(gap) < 0.55
    assert min(gap) > 0.5 - 0.05


@pytest.mark.parametrize("name,constrained", [("PointPush2", True), ("PointPush1", False)])
def test_pillar_contact_costs_only_where_constrained(envs, name, constrained):
    env, reset, step = envs(name)
    pillars = np.full((env.config.pillars_num, 2), FAR)
    pillars[0] = [0.5, 0.0]
    # The robot's nose pressed 1 mm into the pillar.
    s = place(env, reset(KEY), (0.151, 0.0), 0.0, box_xy=(-FAR, -FAR), pillars=pillars)
    costs = []
    for _ in range(5):
        s = step(s, jnp.array([1.0, 0.0]))
        costs.append((float(s.metrics["cost_pillars"]), float(s.cost)))
        assert float(s.data.qpos[0]) < 0.5 - 0.35 + 0.02  # the pillar is solid
    assert costs == ([(1.0, 1.0)] * 5 if constrained else [(0.0, 0.0)] * 5)
    lidar = np.asarray(s.obs[env.obs_layout["pillars_lidar"]])
    assert lidar.max() > 0.85  # observed at both levels
