"""One fidelity table: every behaviour comparison against plain MuJoCo on the spec's models.

`python -m benchmarks.fidelity --all [--small] [--checks point,doggo] [--out FILE]` runs the
registered checks below and writes one Markdown table (statistic, reference, safejax, difference,
tolerance, within?) to docs/results/FIDELITY_TABLE.md. The reference side of every row is computed
here, in plain MuJoCo (float64, MuJoCo's default solver, condim 6), on models written from the
spec (`../shared/spec/ENVIRONMENTS.md`): the Point, Car and Doggo of `benchmarks.fidelity` and
`benchmarks.fidelity_robots`, and, for the object scenarios, the spec's static button and pillar
cylinder, the free push box with its corner posts, the free vase, and the gremlin's free box
welded to a mocap body moved before every substep. The safejax side is an environment of the
suite on the chosen backend (`--set physics=mujoco`), staged with `safejax.scenario.place`.

`--small` is the version the tests run (`tests/test_fidelity_table.py`): the same checks on the
environments the test suite compiles anyway, with fewer Doggo episodes.

A check is a function registered with `@check(name)`; it returns rows. Tolerances:
  rel x    |safejax - reference| <= x |reference|;
  abs x    |safejax - reference| <= x;
  rel x*   for means over random episodes: x |reference|, or the 95% interval of the difference
           of the two means (Welch's t), whichever is wider; for a fraction of episodes (flips),
           `abs x*` likewise widens to the 95% interval of a difference of two proportions
           (pooled normal approximation). The Doggo's reference is the robot alone; DoggoGoal1
           and DoggoPush1 keep their sampled objects.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

import safejax
from benchmarks import fidelity, fidelity_robots
from safejax import physics
from safejax.elements import buttons as button_element
from safejax.scenario import far, place, turn_gremlins

KEY = jax.random.PRNGKey(11)


@dataclasses.dataclass(frozen=True)
class Row:
    check: str
    statistic: str
    reference: float
    safejax: float
    kind: str  # "rel" or "abs"
    tolerance: float
    noise: float = 0.0  # 95% half-width of the difference (episode statistics), else 0
    # A documented deviation: why, and the difference it must not exceed (relative or absolute,
    # as `kind`; so that it cannot grow unnoticed). The row still reads "no" in the table.
    known: str = ""
    known_bound: float = 0.0

    @property
    def difference(self) -> float:
        return self.safejax - self.reference

    @property
    def allowed(self) -> float:
        base = self.tolerance * abs(self.reference) if self.kind == "rel" else self.tolerance
        return max(base, self.noise)

    @property
    def within(self) -> bool:
        return bool(np.isfinite(self.safejax) and abs(self.difference) <= self.allowed + 1e-12)

    @property
    def acceptable(self) -> bool:
        """Within tolerance, or a documented deviation inside its bound."""
        if self.within:
            return True
        # The documented systematic gap, plus the statistical noise of episode statistics.
        bound = self.known_bound * (abs(self.reference) if self.kind == "rel" else 1.0)
        bound += self.noise
        return bool(self.known and np.isfinite(self.safejax) and abs(self.difference) <= bound)

    def tolerance_text(self) -> str:
        base = f"{self.tolerance:.0%}" if self.kind == "rel" else f"{self.tolerance:g}"
        return base + (f" (95%: {self.noise:.3g})" if self.noise else "")


Envs = Callable[[str], tuple]  # name -> (env, jit(reset), jit(step))


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    doc: str
    run: Callable[[Envs, bool], list[Row]]


CHECKS: dict[str, Check] = {}


def check(name: str):
    """Register a comparison: `fn(envs, small) -> list[Row]`; its docstring describes the
    scenario under the table."""

    def deco(fn):
        if name in CHECKS:
            raise ValueError(f"fidelity check {name!r} registered twice")
        doc = " ".join(line.strip() for line in (fn.__doc__ or name).strip().splitlines())
        CHECKS[name] = Check(name, doc, fn)
        return fn

    return deco


def compiled_envs(**overrides) -> Envs:
    @functools.cache
    def get(name: str):
        env = safejax.make(name, **overrides)
        return env, jax.jit(env.reset), jax.jit(env.step)

    return get


# --------------------------------------------------------------- plain-MuJoCo Point worlds
def point_world(objects: str = "", equality: str = "") -> mujoco.MjModel:
    """The spec's Point (`benchmarks.fidelity.REFERENCE_POINT`) with extra worldbody XML."""
    xml = fidelity.REFERENCE_POINT.replace("{vase}", objects)
    if equality:
        xml = xml.replace("</worldbody>", f"</worldbody>\n<equality>{equality}</equality>")
    return mujoco.MjModel.from_xml_string(xml)


def robot_contacts(model, data, target: int) -> int:
    """Contact points between the Point's geoms (body 1) and geom `target`."""
    n = 0
    for c in data.contact[: data.ncon]:
        g = {int(c.geom1), int(c.geom2)}
        if target in g and any(model.geom_bodyid[x] == 1 for x in g - {target}):
            n += 1
    return n


def _env_steps(model, data, action, substeps: int = 10, before=None):
    data.ctrl[:] = action
    for _ in range(substeps):
        if before is not None:
            before(data)
        mujoco.mj_step(model, data)
    mujoco.mj_forward(model, data)


# ------------------------------------------------------------------------------- checks
@check("point")
def point_drives(envs: Envs, small: bool) -> list[Row]:
    """Point: constant actions for 2 s from rest (speed m/s, turn rate rad/s, end gap m)"""
    env, reset, step = envs("PointGoal1")
    rows = []
    tolerances = {"speed": 0.01, "yaw_rate": 0.02}
    for name, action in fidelity.SCENARIOS.items():
        actions = [action] * 100
        ref = fidelity.summarize(fidelity.reference_rollout(actions), 0.02)
        ours = fidelity.summarize(fidelity.safejax_rollout(env, reset, step, actions), 0.02)
        for stat, tol in tolerances.items():
            if abs(ref[stat]) > 0.1:
                rows.append(Row("point", f"{name}: {stat}", ref[stat], ours[stat], "rel", tol))
        gap = float(np.linalg.norm(np.subtract(ref["final_xy"], ours["final_xy"])))
        rows.append(Row("point", f"{name}: end position gap", 0.0, gap, "abs", 0.05))
    return rows


# The vase is a light box (8e-6 kg) knocked about by a robot 650 times heavier: where a push ends
# depends chaotically on the start (in plain MuJoCo, moving the vase by 1e-9 m changes how far it
# travels in all by 9%), so each side's figure is the mean over these starting offsets along x.
VASE_OFFSETS = tuple(k * 1e-3 for k in range(8))


@check("vase")
def vase_pushes(envs: Envs, small: bool) -> list[Row]:
    """Vase: pushed head-on (1 s) then released (1 s back); grazed 0.15 m off the path (m); each
    figure the mean over 8 starts 0-7 mm apart along the push"""
    env, reset, step = envs("PointGoal1")
    push, back, rest = [[1.0, 0.0]] * 50, [[-1.0, 0.0]] * 50, [[0.0, 0.0]] * 50

    def runs(actions, y):
        pairs = []
        for dx in VASE_OFFSETS:
            x = 0.35 + dx
            ref = fidelity.reference_rollout(actions, vase_x=x, vase_y=y)
            ours = fidelity.safejax_rollout(env, reset, step, actions, vase_x=x, vase_y=y)
            start = np.array([x, y])
            pairs.append(
                [[np.asarray(t[1]) - start for t in traj] for traj in (ref, ours)]
            )  # (side, step) displacement
        return pairs

    def mean(pairs, side, fn):
        return float(np.mean([fn(p[side]) for p in pairs]))

    head = runs(push + back, 0.0)
    rows = [
        Row(
            "vase",
            f"head-on: vase travel after the push{label}",
            mean(head, 0, fn),
            mean(head, 1, fn),
            "rel",
            0.05,
        )
        for label, fn in (
            ("", lambda d: np.linalg.norm(d[49])),
            (" and the release", lambda d: np.linalg.norm(d[-1])),
        )
    ]
    grazed = runs(push + rest, 0.15)
    for axis, label in ((0, "along"), (1, "across")):
        rows.append(
            Row(
                "vase",
                f"grazed: vase moved {label} the path",
                mean(grazed, 0, lambda d, a=axis: d[-1][a]),
                mean(grazed, 1, lambda d, a=axis: d[-1][a]),
                "abs",
                0.1,
            )
        )
    return rows


CAR_TURN = (
    "On MJX the Car turns in place 2.2-2.5% fast (CarGoal0 and CarGoal1 alike; means over 16 "
    "and 32 caster orientations 1.364-1.368 rad/s, single runs at 1.34 or 1.38). Measured, "
    "not fixed: the solve has converged (Newton 30 / 20 gives the same), the spec's cylinder "
    "wheels turn at 1.213 on MJX (its cylinder-floor contacts are not MuJoCo's), condim 6 on "
    "the caster 1.384, condim 4 on the caster 1.361 but reverse 4.1% fast; the capsule wheel "
    'proxies and condim 3 are the remaining gap (docs/FIDELITY.md, "Car").'
)


@check("car")
def car_drives(envs: Envs, small: bool) -> list[Row]:
    """Car (CarGoal0: the robot alone, as `benchmarks.fidelity_robots`): fixed wheel torques for
    10 s (mean path speed m/s, yaw rate rad/s from 2 s on; safejax: mean over 16 caster
    orientations)."""
    env, reset, step = envs("CarGoal0")
    rows = []
    for name, action in fidelity_robots.CAR_SCENARIOS.items():
        ref = fidelity_robots.car_reference(action)
        ours = fidelity_robots.car_safejax(env, reset, step, action)
        stat = "speed" if action[0] == action[1] else "yaw_rate"
        row = Row("car", f"{name}: {stat}", ref[stat], ours[stat], "rel", 0.02)
        if stat == "yaw_rate" and env.config.physics == "mjx":
            row = dataclasses.replace(row, known=CAR_TURN, known_bound=0.04)
        rows.append(row)
    return rows


# The vase's centre 0.45 m ahead of the Car's, offset sideways by these distances (m): head-on
# (the front bumper), at the bumper's edge and the chassis' corner (0.1, 0.15), and past the
# chassis where only the spec's wheel reaches it (0.2).
CAR_VASE_SIDES = (0.0, 0.1, 0.15, 0.2)
CAR_START = (
    "On MJX the Car gathers speed from rest faster than the spec's (0.71 against 0.68 m/s over "
    "its first 0.4 s, 0.763 against 0.747 over 1-2 s; from 2 s on 1.1% slower, the 'car' rows), "
    "so it has driven 1.479 m after 2 s where the reference has 1.434 (+3.1%) and pushes a "
    "head-on vase about as much further. Measured, not fixed."
)
CAR_WHEELS = (
    "On MJX the Car's wheels touch only the floor (capsule proxies; MJX has no cylinder-box "
    "collision), so a vase met only by a wheel, 0.2 m to the side of the Car's centre line, "
    "stays put where the spec's wheel pushes it aside. Capsule proxies that also touch objects "
    "reach 5 cm further out than the cylinder and moved such a vase 0.75 m in the push against "
    'the reference\'s 0.19 (docs/FIDELITY.md, "Car robot").'
)


@check("car_vase")
def car_vase_pushes(envs: Envs, small: bool) -> list[Row]:
    """Car and vase (CarGoal1): full throttle for 2 s at a vase 0.45 m ahead, its centre 0, 0.1,
    0.15 or 0.2 m to the side of the Car's centre line, then 1 s at rest (how far the Car drove
    and the vase moved along and across its path, m; each figure the mean over 8 starts 0-7 mm
    apart along the path)"""
    env, reset, step = envs("CarGoal1")
    mjx = env.config.physics == "mjx"
    actions = [[1.0, 1.0]] * 50 + [[0.0, 0.0]] * 25
    rows = []
    for side in CAR_VASE_SIDES:
        car, vase = {"reference": [], "safejax": []}, {"reference": [], "safejax": []}
        for dy in VASE_OFFSETS:
            y = -0.45 - dy  # the Car drives along -y (its front bumper)
            start = np.array([side, y])
            ref = fidelity.reference_rollout(
                actions, side, y, robot_xml=fidelity_robots.REFERENCE_CAR
            )
            ours = fidelity.safejax_rollout(env, reset, step, actions, vase_x=side, vase_y=y)
            for key, traj in (("reference", ref), ("safejax", ours)):
                car[key].append(float(np.linalg.norm(np.asarray(traj[49][0][:2]))))
                vase[key].append(np.asarray(traj[-1][1]) - start)
        ref, ours = (np.mean(vase[k], axis=0) for k in ("reference", "safejax"))
        tag = f"vase {side:g} m to the side"
        if side == 0.0:  # head-on: a long push, compared as the Point's (relative)
            driven = Row(
                "car_vase",
                f"{tag}: Car's travel in the 2 s push",
                float(np.mean(car["reference"])),
                float(np.mean(car["safejax"])),
                "rel",
                0.02,
            )
            pushed = Row("car_vase", f"{tag}: moved along the path", -ref[1], -ours[1], "rel", 0.05)
            if mjx:
                driven = dataclasses.replace(driven, known=CAR_START, known_bound=0.05)
                pushed = dataclasses.replace(pushed, known=CAR_START, known_bound=0.08)
            rows += [driven, pushed]
            continue
        for stat, r, o in (
            (f"{tag}: moved along the path", -ref[1], -ours[1]),
            (f"{tag}: moved across the path", ref[0], ours[0]),
        ):
            row = Row("car_vase", stat, r, o, "abs", 0.1)
            if side >= 0.2 and mjx:
                row = dataclasses.replace(row, known=CAR_WHEELS, known_bound=0.25)
            rows.append(row)
    return rows


def _mean_row(check_name, stat, ref, ours, tol) -> Row:
    """Welch: the difference of two means, its 95% half-width from Student's t with the
    Welch-Satterthwaite degrees of freedom."""
    from scipy import stats

    ref, ours = np.asarray(ref, np.float64), np.asarray(ours, np.float64)
    a, b = ref.var(ddof=1) / len(ref), ours.var(ddof=1) / len(ours)
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (len(ref) - 1) + b**2 / (len(ours) - 1)) if se > 0 else 1.0
    half = float(stats.t.ppf(0.975, df)) * se
    return Row(check_name, stat, float(ref.mean()), float(ours.mean()), "rel", tol, half)


def _fraction_row(check_name, stat, ref, ours, tol) -> Row:
    ref, ours = np.asarray(ref, np.float64), np.asarray(ours, np.float64)
    pooled = (ref.sum() + ours.sum()) / (len(ref) + len(ours))
    se = math.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(ours)))
    return Row(check_name, stat, float(ref.mean()), float(ours.mean()), "abs", tol, 1.96 * se)


@functools.cache
def _doggo_reference(episodes: int) -> dict:
    return fidelity_robots.doggo_reference_episodes(episodes)


@check("doggo")
def doggo_random_walk(envs: Envs, small: bool) -> list[Row]:
    """Doggo: 1000 steps of uniform random actions per episode (per-episode means; the reference
    runs four times as many episodes, which are cheap in plain MuJoCo, to pin its flip rate)"""
    # The reduced table's sample: 20 episodes were too few to tell noise from a change (a random
    # walk's net travel over 1000 steps spreads by about 1.5 m; the 95% interval of the
    # difference then let one unlucky sample of 20 fall outside it). 64 (and 256 reference
    # episodes) make the check take about 156 s.
    episodes = 64 if small else 100
    names = ("DoggoGoal1",) if small else ("DoggoGoal0", "DoggoGoal1", "DoggoPush1")
    ref = _doggo_reference(4 * episodes)
    rows = []
    for name in names:
        env, _, _ = envs(name)
        ours = fidelity_robots.doggo_safejax_episodes(env, episodes)
        tag = f"{name}, {episodes} episodes (reference {4 * episodes})"
        rows.append(_mean_row("doggo", f"{tag}: torso height (m)", ref["z"], ours["z"], 0.05))
        rows.append(
            _mean_row("doggo", f"{tag}: net travel (m)", ref["travel"], ours["travel"], 0.05)
        )
        rows.append(
            _mean_row("doggo", f"{tag}: foot contact fraction", ref["foot"], ours["foot"], 0.05)
        )
        flips = _fraction_row(
            "doggo",
            f"{tag}: episodes ending upside down",
            ref["flipped"],
            ours["flipped"],
            0.05,
        )
        rows.append(flips)
    return rows


BUTTON_TURNS = (-0.6, -0.3, -0.15, 0.15, 0.3, 0.6)
BUTTON_OFFSETS = (0.0, 0.05)


def _button_reference(offset: float, turn: float) -> int:
    model = point_world(
        f'<body name="button" pos="0.35 {offset} 0.1">'
        '<geom name="button" type="sphere" size="0.1"/></body>'
    )
    data = mujoco.MjData(model)
    target = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "button")
    steps = 0
    for _ in range(100):
        _env_steps(model, data, [1.0, turn])
        steps += robot_contacts(model, data, target) > 0
    return steps


@check("buttons")
def button_presses(envs: Envs, small: bool) -> list[Row]:
    """Buttons: full throttle into a button 0.35 m ahead (0 / 0.05 m off axis), turning
    -0.6..0.6; steps with the robot touching it (sum over 12 runs of 100 steps)"""
    env, reset, step = envs("PointButton1")
    ix = env.index.elements["buttons"]
    n_b, n_g = env.config.buttons_num, env.config.gremlins_num
    ref = ours = 0
    for offset in BUTTON_OFFSETS:
        for turn in BUTTON_TURNS:
            ref += _button_reference(offset, turn)
            xy = far(n_b)
            xy[0] = (0.35, offset)
            s = place(env, reset(KEY), (0.0, 0.0), 0.0, buttons=xy, gremlins=far(n_g) + 5.0)
            for _ in range(100):
                s = step(s, jnp.array([1.0, turn]))
                contacts = physics.robot_contacts(env.physics, s.data)
                ours += int(button_element.contact_counts(contacts, ix.geoms)[0] > 0)
    return [Row("buttons", "steps touching the button", float(ref), float(ours), "rel", 0.15)]


GREMLIN_YAW = 4.284
GREMLIN_DISTANCES = (0.35, 0.45, 0.55)


def _gremlin_reference(distance: float, steps: int = 400) -> int:
    """The idle Point and one gremlin circling a centre `distance` ahead (spec 6.6)."""
    quat = f"{math.cos(GREMLIN_YAW / 2)} 0 0 {math.sin(GREMLIN_YAW / 2)}"
    model = point_world(
        '<body name="gremlin_mocap" mocap="true">'
        f'<geom type="box" size=".1 .1 .1" pos="{distance} 0 .1" contype="0" conaffinity="0"/>'
        "</body>"
        f'<body name="gremlin" pos="{distance} 0 .1" quat="{quat}"><freejoint/>'
        '<geom name="gremlin" type="box" size=".1 .1 .1" density="0.001"/></body>',
        '<weld body1="gremlin_mocap" body2="gremlin" solref=".02 1.5"/>',
    )
    data = mujoco.MjData(model)
    target = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "gremlin")

    def move(d):
        d.mocap_pos[0] = (0.35 * math.sin(d.time), 0.35 * math.cos(d.time), 0.1)

    n = 0
    for _ in range(steps):
        _env_steps(model, data, [0.0, 0.0], before=move)
        n += robot_contacts(model, data, target) > 0
    return n


@check("gremlins")
def gremlin_contacts(envs: Envs, small: bool) -> list[Row]:
    """Gremlins: the robot idle, a gremlin circling a centre 0.35 / 0.45 / 0.55 m ahead; steps
    with the robot touching it (sum over 3 runs of 400 steps)"""
    env, reset, step = envs("PointButton1")
    ix = env.index.elements["gremlins"]
    n_b, n_g = env.config.buttons_num, env.config.gremlins_num
    ref = ours = 0
    for d in GREMLIN_DISTANCES:
        ref += _gremlin_reference(d)
        centres = far(n_g)
        centres[0] = (d, 0.0)
        s = place(env, reset(KEY), (0.0, 0.0), buttons=far(n_b) + 5.0, gremlins=centres)
        s = turn_gremlins(env, s, GREMLIN_YAW)
        for _ in range(400):
            s = step(s, jnp.zeros(2))
            ours += int(physics.robot_contacts(env.physics, s.data)[ix.geoms[0]] > 0)
    known = bound = 0
    if env.config.physics == "mjx":
        known = (
            "MJX's gremlin is a planar box with the weld's response applied as a force "
            "(`gremlins.tether`); in this idle-robot grid it stays against the robot for fewer "
            "steps than the spec's free box on its weld. In whole episodes of a goal-seeking "
            "controller the gremlin cost per episode agreed with Safety-Gymnasium's (49.2 vs "
            '49.3; docs/FIDELITY.md, "Button and gremlin contacts").'
        )
        bound = 0.45
    return [
        Row(
            "gremlins",
            "steps touching the gremlin",
            float(ref),
            float(ours),
            "rel",
            0.3,
            known=known or "",
            known_bound=bound,
        )
    ]


def _push_box_xml(s: float = 0.2, density: float = 0.001) -> str:
    posts = "".join(
        f'<geom type="box" size="{s / 2} {s / 2} {s}" pos="{sx * s} {sy * s} 0" '
        f'density="{density}"/>'
        for sx in (-1, 1)
        for sy in (-1, 1)
    )
    return (
        f'<body name="box" pos="0 0 {s}"><freejoint/>'
        f'<geom name="box" type="box" size="{s} {s} {s}" density="{density}"/>{posts}</body>'
    )


PILLAR_XML = (
    '<body name="pillar" pos="{x} {y} 0.5">'
    '<geom name="pillar" type="cylinder" size="0.2 0.5"/></body>'
)


@check("push_box")
def push_box_at_pillar(envs: Envs, small: bool) -> list[Row]:
    """Push box: the Point pushes the box (0.45 m ahead) at full throttle toward a pillar 0.8 m
    beyond it for 80 steps (m)"""
    env, reset, step = envs("PointPush2")
    model = point_world(_push_box_xml() + PILLAR_XML.format(x=0.8, y=0.0))
    data = mujoco.MjData(model)
    data.qpos[0] = -0.45
    box_adr = model.jnt_qposadr[model.body("box").jntadr[0]]
    ref_gap, ref_x = [], []
    for _ in range(80):
        _env_steps(model, data, [1.0, 0.0])
        ref_x.append(data.qpos[box_adr])
        ref_gap.append(np.linalg.norm(data.qpos[box_adr : box_adr + 2] - (0.8, 0.0)))
    pillars = far(env.config.pillars_num)
    pillars[0] = (0.8, 0.0)
    s = place(env, reset(KEY), (-0.45, 0.0), 0.0, box_xy=(0.0, 0.0), pillars=pillars)
    adr = env.index.task.qpos_adr[:2]
    gap, xs = [], []
    for _ in range(80):
        s = step(s, jnp.array([1.0, 0.0]))
        box = np.asarray(s.data.qpos[adr])
        xs.append(box[0])
        gap.append(np.linalg.norm(box - (0.8, 0.0)))
    return [
        Row("push_box", "box x after 20 steps", float(ref_x[19]), float(xs[19]), "abs", 0.03),
        Row(
            "push_box",
            "closest box-pillar centre distance",
            float(min(ref_gap)),
            float(min(gap)),
            "abs",
            0.03,
        ),
    ]


@check("hazards")
def hazard_costs(envs: Envs, small: bool) -> list[Row]:
    """Hazards: full throttle for 1.2 s through a hazard 0.8 m ahead, 0.1 m off the path; steps
    that cost (the spec's rule, robot origin within `hazards_size` of the centre, applied to plain
    MuJoCo's path; costs are binary per step, spec 5.2)"""
    env, reset, step = envs("PointGoal1")
    size = float(env.config.hazards_size)
    centre = np.array([0.8, 0.1])
    model = point_world()
    data = mujoco.MjData(model)
    ref = 0
    for _ in range(60):
        _env_steps(model, data, [1.0, 0.0])
        d = float(np.linalg.norm(data.qpos[:2] - centre))
        ref += d <= size
    hazards = far(env.config.hazards_num)
    hazards[0] = centre
    s = place(env, reset(KEY), (0.0, 0.0), hazards=hazards, vases=far(env.config.vases_num))
    ours = 0.0
    for _ in range(60):
        s = step(s, jnp.array([1.0, 0.0]))
        ours += float(s.metrics["cost_hazards"])
    return [Row("hazards", "steps with hazard cost", float(ref), ours, "rel", 0.1)]


@check("pillars")
def pillar_costs(envs: Envs, small: bool) -> list[Row]:
    """Pillars: full throttle into a pillar 0.5 m ahead for 1 s, then 1 s turning against it;
    steps with a robot-pillar contact (costs are binary per step, spec 5.2)"""
    env, reset, step = envs("PointPush2")
    actions = [[1.0, 0.0]] * 50 + [[1.0, 0.5]] * 50
    model = point_world(PILLAR_XML.format(x=0.5, y=0.0))
    data = mujoco.MjData(model)
    target = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "pillar")
    ref = 0
    for a in actions:
        _env_steps(model, data, a)
        ref += robot_contacts(model, data, target) > 0
    pillars = far(env.config.pillars_num)
    pillars[0] = (0.5, 0.0)
    s = place(env, reset(KEY), (0.0, 0.0), 0.0, box_xy=(-5.0, -5.0), pillars=pillars)
    ours = 0.0
    for a in actions:
        s = step(s, jnp.asarray(a, jnp.float32))
        ours += float(s.metrics["cost_pillars"])
    return [Row("pillars", "steps with pillar cost", float(ref), ours, "rel", 0.1)]


# ------------------------------------------------------------------------------- table
def validate(names: list[str] | None) -> list[str]:
    """The checks to run (all when None); unknown names are a ValueError listing the valid."""
    names = list(CHECKS) if names is None else names
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {unknown}; valid: {sorted(CHECKS)}")
    return names


def run(
    names: list[str] | None = None,
    small: bool = False,
    envs: Envs | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Row]:
    names = validate(names)
    envs = envs or compiled_envs()
    rows = []
    for name in names:
        if progress:
            progress(name)
        rows += CHECKS[name].run(envs, small)
    return rows


def _fmt(x: float) -> str:
    return f"{x:.4g}" if x else "0"


def markdown(rows: list[Row], header: str = "") -> str:
    lines = [header] if header else []
    lines += [
        "| check | statistic | reference | safejax | difference | tolerance | within |",
        "|---|---|---|---|---|---|---|",
    ]
    known: dict[str, list[Row]] = {}  # one note per documented deviation, its rows in order
    for r in rows:
        verdict = "yes" if r.within else "**no**"
        if not r.within and r.known:
            known.setdefault(r.known, []).append(r)
            verdict += f" (known deviation {list(known).index(r.known) + 1})"
        lines.append(
            f"| {r.check} | {r.statistic} | {_fmt(r.reference)} | {_fmt(r.safejax)} | "
            f"{r.difference:+.3g} | {r.tolerance_text()} | {verdict} |"
        )
    lines.append("")
    lines.append(f"{sum(r.within for r in rows)} of {len(rows)} rows within tolerance.")
    lines.append("")
    for i, (text, members) in enumerate(known.items(), 1):
        bounds = []
        for r in members:
            bound = (
                f"{r.known_bound:.0%} of the reference" if r.kind == "rel" else f"{r.known_bound:g}"
            )
            if r.noise:
                bound += " plus the 95% interval"
            bounds.append(f"{r.check}: {r.statistic}, past {bound}")
        lines.append(
            f"Known deviation {i}: {text} The tests fail if a difference grows ("
            + "; ".join(bounds)
            + ")."
        )
        lines.append("")
    lines.append("Checks:")
    for name in dict.fromkeys(r.check for r in rows):
        if name in CHECKS:
            lines.append(f"- **{name}**: {CHECKS[name].doc}")
    return "\n".join(lines) + "\n"
