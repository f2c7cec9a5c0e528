"""The MuJoCo backend (`physics="mujoco"`): MuJoCo's C engine on the CPU, inside the jitted step.

Each control step leaves the traced program through one host callback (`jax.pure_callback`,
batched: a `vmap` of `Env.step` over any number of worlds is one call) into
`mujoco.batch.Batch`, which steps every world on a thread pool over all the CPUs the process may
use (the substeps without sensors, which nothing reads within a step), runs the final
`mj_forward`, and copies back fixed-shape arrays: the state, body poses,
sensors and the robot's contact counts. Nothing is approximated for speed: the model is stepped
with MuJoCo's default solver (Newton, 100 iterations, tolerance stop, 50 line-search steps), every
contact pair the model defines and the spec's contact dimension (6), and each world's state is
carried between steps in full float64 precision (`NativeData.row`, the mjSTATE_INTEGRATION row
as raw bits), so a run equals a plain loop of `mj_step` on the same model, bit for bit.

Sleeping (`EnvConfig.sleep_tolerance`, default 1e-5; 0 turns it off): MuJoCo's body sleeping
(mjENBL_SLEEP) stops integrating an object whose every velocity has stayed under the tolerance
for mjMINAWAKE steps, until something awake touches it; actuated trees (the robot) never sleep.
Resting vases are most of the engine's work in the Goal worlds, and sleeping them multiplies
PointGoal2's speed by about 10 (docs/results/SPS.md). The tolerance sits below the vases'
velocity-cost threshold (1e-4 m/s), so a sleeping vase is one that costs nothing either way.
Which trees sleep is engine state outside the row, kept in one persistent MjData per world and
call site (`NativeModel.batch`): a world continues asleep only while its incoming row is the row
its simulation returned last; any other row (a reset, an edited state, another set of worlds of
the same size) wakes the whole world first. So a chain of steps equals a plain loop of `mj_step`
on the same model (sleep on) bit for bit, run to run; stepping one state twice in two branches
gives the second branch a fully awake start (differences of the order of the tolerance times a
step, docs/FIDELITY.md).

What the element and task code reads of the physics is the same on both backends: `qpos`,
`qvel`, `xpos`, `xmat`, `sensordata`, `mocap_pos`, `mocap_quat`, `time` (float32 copies) and
`robot_contacts(pm, data)`. Contacts come from MuJoCo `contact` sensors the backend adds to the
model: one per geom outside the robot that can touch it, counting the robot's contacts with it
(every contact MuJoCo keeps, as Safety Gym counted `data.contact`).

The substep hook: MuJoCo steps the substeps without returning to JAX, so `step` evaluates the
hook ahead, once per substep at that substep's time, on the control step's starting state, and
passes the inputs it sets (`mocap_pos`, `mocap_quat`, `ctrl`, `qfrc_applied`, `xfrc_applied`) to
each substep. Hooks that read only the time and those inputs (the gremlins' paths) behave as on
MJX; hooks that read velocities within the step (the MJX vases' analytic friction) have no place
here, and the spec's models this backend steps do not need them.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import threading
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from mujoco import batch as mj_batch

from safejax.physics.mjx import subtree_bodies, subtree_geoms
from safejax.types import Array

if TYPE_CHECKING:
    from safejax.config import EnvConfig
    from safejax.robots.base import RobotSpec

# Inputs a substep hook may write, in mjtState bit order (the order of a control vector).
INPUTS = (
    ("ctrl", mujoco.mjtState.mjSTATE_CTRL),
    ("qfrc_applied", mujoco.mjtState.mjSTATE_QFRC_APPLIED),
    ("xfrc_applied", mujoco.mjtState.mjSTATE_XFRC_APPLIED),
    ("mocap_pos", mujoco.mjtState.mjSTATE_MOCAP_POS),
    ("mocap_quat", mujoco.mjtState.mjSTATE_MOCAP_QUAT),
)
# State fields of the float32 public copy (the row holds them exactly).
STATE = ("time", "qpos", "qvel", "act", "qacc_warmstart")
# MuJoCo warnings that mean the step failed (MuJoCo resets such a world to its defaults).
_FAIL_WARNINGS = [
    int(mujoco.mjtWarning.mjWARN_BADQPOS),
    int(mujoco.mjtWarning.mjWARN_BADQVEL),
    int(mujoco.mjtWarning.mjWARN_BADQACC),
]
INTEGRATION_STATE = STATE + tuple(name for name, _ in INPUTS)
# Fields the engine computes that the library reads (after the final forward).
DERIVED = ("xpos", "xmat", "sensordata")


@struct.dataclass
class NativeData:
    """One world's physics on the MuJoCo backend.

    Attributes:
      row: (2 * nstate,) uint32: the float64 mjSTATE_INTEGRATION row of the world, as raw bits.
        The steps continue from it, so no precision is lost between control steps.
      time .. qacc_warmstart: float32 copies of the state. Writing one (`reset_data`, or
        `data.replace(qpos=...)`) takes effect at the next call: an entry that differs from its
        row entry rounded to float32 replaces it.
      ctrl, qfrc_applied, xfrc_applied, mocap_pos, mocap_quat: the inputs (float32). Written
        into the row before every step, so that a hook or a reset can set them.
      xpos, xmat, sensordata: body poses and sensors after the last step's final forward.
      robot_contacts: (ngeom,) float32 number of contacts between the robot and each geom.
    """

    row: Array
    time: Array
    qpos: Array
    qvel: Array
    act: Array
    qacc_warmstart: Array
    ctrl: Array
    qfrc_applied: Array
    xfrc_applied: Array
    mocap_pos: Array
    mocap_quat: Array
    xpos: Array
    xmat: Array
    sensordata: Array
    robot_contacts: Array


@dataclasses.dataclass(frozen=True, eq=False)
class NativeModel:
    """One compiled scene for the MuJoCo backend (the `PhysicsModel` of `safejax.physics.mjx`).

    Attributes:
      mj_model: the model as the other backend would step it (names, rendering, index tables).
      model: the model this backend steps: `mj_model`'s MJCF with the contact sensors added
        (same ids for every body, geom, joint and robot sensor).
      data0: blank data (qpos0, compiled mocap poses).
      substeps, final_forward: as `PhysicsModel`.
      contact_geoms: (k,) geom ids with a robot contact sensor, in sensor order.
      contact_adr: address of the first contact sensor in `sensordata`.
      nsensordata: the robot's sensor values (the prefix of `sensordata` exposed to JAX).
      threads: worker threads of the batches (0: all CPUs the process may use).
      sleep: whether the model sleeps resting bodies (see the module docstring).
    """

    mj_model: mujoco.MjModel
    model: mujoco.MjModel
    data0: NativeData
    substeps: int
    final_forward: bool
    contact_geoms: np.ndarray
    contact_adr: int
    nsensordata: int
    threads: int
    sleep: bool = False
    _batches: dict = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def nstate(self) -> int:
        return mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)

    @functools.cached_property
    def layout(self) -> dict[str, tuple[int, int, tuple[int, ...]]]:
        """{field: (offset, size, shape)} of the fields in an mjSTATE_INTEGRATION row."""
        d = mujoco.MjData(self.model)
        out, offset = {}, 0
        for bit in sorted(mujoco.mjtState.__members__.values(), key=int):
            b = int(bit)
            if b & (b - 1) or not b & int(mujoco.mjtState.mjSTATE_INTEGRATION):
                continue  # a combination, or outside the row
            size = mujoco.mj_stateSize(self.model, b)
            name = bit.name[len("mjSTATE_") :].lower()
            name = {"warmstart": "qacc_warmstart"}.get(name, name)
            if hasattr(d, name):
                out[name] = (offset, size, np.shape(getattr(d, name)))
            offset += size
        return out

    @functools.cached_property
    def nphysics(self) -> int:
        """Length of the row's prefix that is the physics state (time, qpos, qvel, act, warm
        start), ahead of the inputs."""
        spec = mujoco.mjtState
        bits = spec.mjSTATE_TIME | spec.mjSTATE_PHYSICS | spec.mjSTATE_WARMSTART
        return mujoco.mj_stateSize(self.model, int(bits))

    def batch(self, n: int, site: int = 0) -> mj_batch.Batch:
        """A cached batch of n simulations for one call site (`site`: the substeps of the
        call). With sleeping, each site keeps its worlds' MjData (sleep state) apart, so that
        resets (forward only) and steps of the same worlds do not wake each other's."""
        b = self._batches.get((n, site))
        if b is None:
            b = mj_batch.Batch(self.model, nsim=n, nthread=self.threads, persistent=self.sleep)
            # Derived fields are copied out only once bound: bind them before the first call.
            for name in DERIVED:
                b.bind(name)
            self._batches[(n, site)] = b
        return b

    def substep_flags(self, b: mj_batch.Batch) -> np.ndarray | None:
        """The batch's per-world `disableflags` (a live array), where the substeps may skip
        the sensors: with a final forward, which recomputes every sensor the backend returns,
        nothing reads them within the step (the physics never does), so the substeps run with
        mjDSBL_SENSOR and the forward without. None without a final forward."""
        if not self.final_forward:
            return None
        return b.expand("opt.disableflags")


_NO_SENSORS = int(mujoco.mjtDisableBit.mjDSBL_SENSOR)

# A resting body sleeps below this velocity (m/s, rad/s) unless the config says otherwise.
SLEEP_TOLERANCE = 1e-5


def sleep_tolerance(config: EnvConfig) -> float:
    """The config's sleep tolerance on this backend (0: no sleeping)."""
    return SLEEP_TOLERANCE if config.sleep_tolerance is None else float(config.sleep_tolerance)


def mjcf(config: EnvConfig, robot: RobotSpec) -> str:
    """The `<option>` element: the robot's timestep and MuJoCo's default solver, and body
    sleeping (`sleep_tolerance`). No contact caps (MJX's `max_geom_pairs` /
    `max_contact_points` mean nothing to the C engine)."""
    opts = ""
    if config.solver is not None:
        opts += f' solver="{config.solver}"'
    if config.solver_iterations is not None:
        opts += f' iterations="{config.solver_iterations}"'
    if config.ls_iterations is not None:
        opts += f' ls_iterations="{config.ls_iterations}"'
    tol = sleep_tolerance(config)
    if tol > 0:
        return (
            f'<option timestep="{robot.timestep}"{opts} sleep_tolerance="{tol!r}">'
            '<flag sleep="enable"/></option>'
        )
    return f'<option timestep="{robot.timestep}"{opts}/>'


def contact_sensor_xml(
    model: mujoco.MjModel, robot_body: int, robot_geom_mask: np.ndarray
) -> list[tuple[int, str]]:
    """(geom id, MJCF) of one `contact` sensor per named geom outside the robot that can touch a
    robot geom (by contype/conaffinity), counting its contacts with the robot's subtree. Raises
    for an unnamed geom that can touch the robot (a sensor can only name it)."""
    robot_name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, robot_body)
    rt = int(np.bitwise_or.reduce(model.geom_contype[robot_geom_mask], initial=0))
    ra = int(np.bitwise_or.reduce(model.geom_conaffinity[robot_geom_mask], initial=0))
    out = []
    for g in range(model.ngeom):
        if robot_geom_mask[g]:
            continue
        if not ((rt & model.geom_conaffinity[g]) or (ra & model.geom_contype[g])):
            continue
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
        if not name:
            raise ValueError(
                f"geom {g} (body {model.geom_bodyid[g]}) can touch the robot but has no name; "
                "the MuJoCo backend counts contacts by name"
            )
        out.append((g, f'<contact subtree1="{robot_name}" geom2="{name}" data="found" num="1"/>'))
    return out


def compile(
    mj_model: mujoco.MjModel, config: EnvConfig, hub_body: int, xml: str | None = None
) -> NativeModel:
    """The model this backend steps: `xml` (the scene's MJCF, which `mj_model` was compiled
    from) with one contact sensor per geom the robot can touch."""
    if xml is None:
        raise ValueError("the MuJoCo backend compiles from the scene's MJCF (xml=...)")
    mask = subtree_geoms(mj_model, hub_body)
    sensors = contact_sensor_xml(mj_model, hub_body, mask)
    geoms = np.array([g for g, _ in sensors], np.int32)
    extra = "".join(s for _, s in sensors)
    model = mj_model
    if extra:
        if "</sensor>" not in xml:
            raise ValueError("the scene's MJCF has no <sensor> section")
        head, tail = xml.rsplit("</sensor>", 1)
        model = mujoco.MjModel.from_xml_string(head + extra + "</sensor>" + tail)
        for kind, n in (("nbody", "nbody"), ("ngeom", "ngeom"), ("nq", "nq"), ("nv", "nv")):
            if getattr(model, n) != getattr(mj_model, n):
                raise AssertionError(f"contact sensors changed the model's {kind}")
    if model.opt.enableflags & mujoco.mjtEnableBit.mjENBL_SLEEP:
        robot = subtree_bodies(model, hub_body)
        if not (model.body_treeid[~robot] >= 0).any():
            # Nothing but the robot moves, and an actuated tree never sleeps: the flag would
            # only cost its bookkeeping (same steps either way, bit for bit).
            if model is mj_model:
                model = copy.copy(mj_model)
            model.opt.enableflags &= ~int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    threads = int(os.environ.get("SAFEJAX_MUJOCO_THREADS", "0"))
    pm = NativeModel(
        mj_model=mj_model,
        model=model,
        data0=None,  # set below
        substeps=config.substeps,
        final_forward=config.final_forward,
        contact_geoms=geoms,
        contact_adr=int(mj_model.nsensordata),
        nsensordata=int(mj_model.nsensordata),
        threads=threads,
        sleep=bool(model.opt.enableflags & mujoco.mjtEnableBit.mjENBL_SLEEP),
    )
    object.__setattr__(pm, "data0", _blank(pm))
    return pm


def _blank(pm: NativeModel) -> NativeData:
    m = pm.model
    d = mujoco.MjData(m)
    row = np.zeros(pm.nstate, np.float64)
    mujoco.mj_getState(m, d, row, mujoco.mjtState.mjSTATE_INTEGRATION)
    f32 = lambda x: jnp.asarray(np.asarray(x, np.float32))  # noqa: E731
    return NativeData(
        row=jnp.asarray(row.view(np.uint32)),
        time=f32(d.time),
        qpos=f32(d.qpos),
        qvel=f32(d.qvel),
        act=f32(d.act),
        qacc_warmstart=f32(d.qacc_warmstart),
        ctrl=f32(d.ctrl),
        qfrc_applied=f32(d.qfrc_applied),
        xfrc_applied=f32(d.xfrc_applied),
        mocap_pos=f32(d.mocap_pos),
        mocap_quat=f32(d.mocap_quat),
        xpos=f32(d.xpos),
        xmat=f32(d.xmat.reshape(m.nbody, 3, 3)),
        sensordata=f32(d.sensordata[: pm.nsensordata]),
        robot_contacts=jnp.zeros((m.ngeom,), jnp.float32),
    )


def reset_data(pm: NativeModel, **fields) -> NativeData:
    """Blank data with the given fields replaced; the next `forward` writes them into its row."""
    unknown = sorted(set(fields) - set(INTEGRATION_STATE))
    if unknown:
        raise ValueError(f"unknown state field(s) {unknown}; valid: {list(INTEGRATION_STATE)}")
    fields = {k: jnp.asarray(v, jnp.float32) for k, v in fields.items()}
    return pm.data0.replace(**fields)


def integration_state(data: NativeData) -> dict[str, Array]:
    """The fields `reset_data` takes to continue the same world (float32)."""
    return {k: getattr(data, k) for k in INTEGRATION_STATE}


def _field(pm: NativeModel, rows: np.ndarray, name: str) -> np.ndarray:
    """The (n, ...) view of one state field within (n, nstate) float64 rows."""
    offset, size, shape = pm.layout[name]
    view = rows[:, offset : offset + size]
    return view[:, 0] if name == "time" else view.reshape((rows.shape[0],) + shape)


def _host(pm: NativeModel, nstep: int, varying: tuple[str, ...]):
    """The host function of one call: `nstep` substeps (0: forward only) of every world, then
    the final forward. Arguments and results are numpy arrays with any leading batch dims."""
    m = pm.model
    spec = 0
    for name, bit in INPUTS:
        if name in varying:
            spec |= int(bit)

    def fn(row, state, inputs, controls):
        # Everything to numpy first, outside the lock: callbacks of several devices may run at
        # once, and each must own its arguments before it waits for the batch.
        row = np.asarray(row)
        state = [np.asarray(x) for x in state]
        inputs = [np.asarray(x) for x in inputs]
        controls = [np.asarray(x) for x in controls]
        lead = row.shape[:-1]
        n = int(np.prod(lead, dtype=np.int64))
        flat = lambda x: x.reshape((n,) + x.shape[len(lead) :])  # noqa: E731
        with pm._lock:
            b = pm.batch(n, nstep)
            rows = b.state  # (n, nstate) float64, the simulations' rows
            new = flat(row).view(np.float64).copy()
            # A float32 field that no longer equals its row entry rounded to float32 was
            # written (by `reset_data`, or by a caller editing `data.qpos`): that entry takes
            # the written value; every other entry keeps its exact float64 value.
            for name, value in zip(STATE, state, strict=True):
                cur = _field(pm, new, name)
                value = flat(value).reshape(cur.shape)
                written = cur.astype(np.float32) != value
                if written.any():
                    cur[written] = value[written]
            for (name, _), value in zip(INPUTS, inputs, strict=True):
                cur = _field(pm, new, name)
                cur[:] = flat(value).reshape(cur.shape)
            if pm.sleep:
                # A world continues (asleep where it slept) only from the row it returned.
                k = pm.nphysics
                moved = (new[:, :k].view(np.uint64) != rows[:, :k].view(np.uint64)).any(axis=1)
                if moved.any():
                    b.reset(np.flatnonzero(moved), stage=int(mujoco.mjtStage.mjSTAGE_NONE))
            rows[:] = new
            warn0 = b.warning[:, _FAIL_WARNINGS, 1].sum(axis=1)
            failed = np.zeros(n, bool)
            if nstep:
                ctrl = None
                if spec:
                    ctrl = np.concatenate(
                        [flat(c).reshape(n, nstep, -1) for c in controls], axis=-1
                    ).astype(np.float64)
                flags = pm.substep_flags(b)
                if flags is not None:
                    flags[:] = m.opt.disableflags | _NO_SENSORS
                try:
                    b.rollout(nstep, control=ctrl, control_spec=spec or 64, record=())
                except mj_batch.SimulationError as e:
                    failed[e.ids] = True
                finally:
                    if flags is not None:
                        flags[:] = m.opt.disableflags
            if pm.final_forward or not nstep:
                try:
                    b.forward()
                except mj_batch.SimulationError as e:
                    failed[e.ids] = True
            # MuJoCo resets a world whose state it rejects (bad qpos, qvel or qacc) and counts
            # a warning: that world's step failed.
            failed |= b.warning[:, _FAIL_WARNINGS, 1].sum(axis=1) > warn0
            out = {"row": rows.copy().view(np.uint32)}
            for name in STATE + tuple(nm for nm, _ in INPUTS):
                out[name] = np.asarray(b.bind(name), np.float32).copy()
            out["xpos"] = np.asarray(b.bind("xpos"), np.float32).copy()
            out["xmat"] = np.asarray(b.bind("xmat"), np.float32).reshape(n, m.nbody, 3, 3)
            sens = np.asarray(b.bind("sensordata"))
            out["sensordata"] = sens[:, : pm.nsensordata].astype(np.float32)
            contacts = np.zeros((n, m.ngeom), np.float32)
            k = pm.contact_geoms.shape[0]
            if k:
                contacts[:, pm.contact_geoms] = sens[:, pm.contact_adr : pm.contact_adr + k]
            out["robot_contacts"] = contacts
            if failed.any():
                # A failed world reports non-finite positions, which the env turns into a
                # physics error (the episode ends; the world keeps its last finite state).
                out["qpos"][failed] = np.nan
        return {k: v.reshape(lead + v.shape[1:]) for k, v in out.items()}

    return fn


def _call(pm: NativeModel, data: NativeData, nstep: int, controls: dict[str, Array]) -> NativeData:
    varying = tuple(name for name, _ in INPUTS if name in controls)
    result = jax.ShapeDtypeStruct
    shapes = {"row": result(data.row.shape, jnp.uint32)}
    for name in STATE + tuple(nm for nm, _ in INPUTS) + ("xpos", "xmat", "sensordata"):
        shapes[name] = result(getattr(data, name).shape, jnp.float32)
    shapes["robot_contacts"] = result(data.robot_contacts.shape, jnp.float32)
    host = _host(pm, nstep, varying)
    out = jax.pure_callback(
        lambda row, state, inputs, ctl: host(row, state, inputs, ctl),
        shapes,
        data.row,
        tuple(getattr(data, k) for k in STATE),
        tuple(getattr(data, k) for k, _ in INPUTS),
        tuple(controls[k] for k in varying),
        vmap_method="broadcast_all",
    )
    return data.replace(**out)


def step(pm: NativeModel, data: NativeData, ctrl: Array, before_substep=None) -> NativeData:
    """One control step: `ctrl` written, `pm.substeps` substeps with the hook's inputs (see the
    module docstring), then the final forward."""
    data = data.replace(ctrl=jnp.asarray(ctrl, jnp.float32))
    controls: dict[str, Array] = {}
    if before_substep is not None:
        dt = float(pm.model.opt.timestep)
        hooked = [before_substep(data.replace(time=data.time + k * dt)) for k in range(pm.substeps)]
        for name, _ in INPUTS:
            seq = [getattr(h, name) for h in hooked]
            if any(x is not getattr(data, name) for x in seq):
                controls[name] = jnp.stack(seq)  # (substeps, ...)
        # The inputs as the last substep left them, as MJX's data carries them on.
        data = data.replace(**{k: v[-1] for k, v in controls.items()})
    return _call(pm, data, pm.substeps, controls)


def substep(pm: NativeModel, data: NativeData, before_substep=None) -> NativeData:
    """One physics substep (the hook, then one `mj_step`), with a forward at its end."""
    if before_substep is not None:
        data = before_substep(data)
    return _call(pm, data, 1, {})


def forward(pm: NativeModel, data: NativeData) -> NativeData:
    """Poses, sensors and contacts of `data`'s state (`mj_forward`); makes the row of data from
    `reset_data`."""
    return _call(pm, data, 0, {})


def robot_contacts(pm: NativeModel, data: NativeData) -> Array:
    """(ngeom,) number of contacts between the robot and each geom, as of the last forward."""
    return data.robot_contacts
