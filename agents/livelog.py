"""Live training logs: TensorBoard event files beside metrics.csv, and Weights & Biases on request.

The runner hands every chunk's metrics.csv rows to `RunLogs.write` as it appends them to the
file. Each numeric column (all but the identifiers `member`, `seed`, `setting`, `update` and the
x-axis `env_steps`) becomes one scalar per member, tagged `member{i}/{column}` (`member0/J_r`,
`member1/ep_cost_hazards`, ...) at step `env_steps`; empty cells (J_r before the first episode,
`ep_*` in updates where no episode ended) are left out. `tensorboard --logdir RUN_DIR` (or a
directory of runs) shows them while the run trains.

TensorBoard: tensorboardX's `SummaryWriter` writes `events.out.tfevents.*` files into the run
directory; its writer thread flushes them to disk at least every `FLUSH_SECS` seconds, and the
file is flushed and closed when the run finishes, stops on a signal or fails. Each execution
(a resume too) writes a new event file; when the directory already holds event files, the new
one starts with TensorBoard's purge marker at its first step, so rows that a hard kill had
written past the checkpoint (and that the resumed run computes again) are hidden, as they are
dropped from metrics.csv. `read_scalars` reads the files back without TensorBoard.

Weights & Biases (`wandb=True`, needs `pip install wandb`): one W&B run per run directory, named
after it, with config.yaml's contents as its config and `env_steps` as the x-axis of every
scalar; its id is kept in `wandb_id.txt` so that a resumed run continues the same W&B run.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EVENTS = "events.out.tfevents."  # the prefix of every TensorBoard event file
FLUSH_SECS = 5
# metrics.csv columns that are no scalars: who a row belongs to, and the x-axis.
NOT_SCALARS = ("member", "seed", "setting", "update", "env_steps")
WANDB_PROJECT = "safejax"
WANDB_ID = "wandb_id.txt"
_BAD_PROJECT_CHARS = set("/\\#?%:")


class MissingPackage(ValueError):
    """A log destination was asked for but its package is not installed."""


def check(tensorboard: bool = True, wandb: bool = False, wandb_project: str | None = None) -> None:
    """Raises MissingPackage when a requested destination's package does not import, and
    ValueError for a project name without `wandb` or one W&B would refuse."""
    if wandb_project is not None:
        if not wandb:
            raise ValueError("a W&B project name was given without wandb=True (--wandb)")
        if not wandb_project.strip() or _BAD_PROJECT_CHARS & set(wandb_project):
            raise ValueError(
                f"W&B project name {wandb_project!r}: must be non-empty, without any of "
                f"{' '.join(sorted(_BAD_PROJECT_CHARS))}"
            )
    if tensorboard:
        try:
            import tensorboardX  # noqa: F401
        except ImportError as e:
            raise MissingPackage(
                "TensorBoard logs need the tensorboardX package: pip install 'tensorboardX>=2.6' "
                "(or turn them off: tensorboard=False, --no-tensorboard)"
            ) from e
    if wandb:
        _wandb()


def _wandb() -> Any:
    try:
        import wandb
    except ImportError as e:
        raise MissingPackage(
            "Weights & Biases logging (wandb=True, --wandb) needs the wandb package, which is "
            "not installed: pip install wandb"
        ) from e
    return wandb


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The scalars of one metrics.csv row: {"member{i}/{column}": value}, blanks left out."""
    member = row["member"]
    out = {}
    for col, value in row.items():
        if col in NOT_SCALARS or value == "" or value is None or isinstance(value, str):
            continue
        out[f"member{member}/{col}"] = float(value)
    return out


def event_files(run_dir: str | Path) -> list[Path]:
    """The TensorBoard event files of `run_dir`, oldest first (their names start with the
    creation time)."""
    return sorted(Path(run_dir).glob(EVENTS + "*"))


class RunLogs:
    """The live logs of one run directory (see the module docstring).

    `first_update`: the updates already done (0 for a new run; a resumed run's checkpoint
    update), `config`: config.yaml's contents (W&B's run config). The writers open on `open` or
    the first `write`, so a run with nothing left to train leaves no empty event file.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        tensorboard: bool = True,
        wandb: bool = False,
        wandb_project: str | None = None,
        first_update: int = 0,
        config: dict[str, Any] | None = None,
    ):
        check(tensorboard, wandb, wandb_project)
        self.out = Path(out)
        self.tensorboard = tensorboard
        self.wandb = wandb
        self.wandb_project = wandb_project or WANDB_PROJECT
        self.first_update = int(first_update)
        self.config = config or {}
        self._tb: Any = None
        self._wb: Any = None

    def open(self, first_step: int) -> None:
        """Opens the writers (if not yet open) for rows from env step `first_step` on: the runner
        calls it before compiling, so that a W&B login or network problem shows at once."""
        if self.tensorboard and self._tb is None:
            from tensorboardX import SummaryWriter

            existing = event_files(self.out)
            self._tb = SummaryWriter(
                str(self.out),
                # TensorBoard hides the older files' events from this step on (see above).
                purge_step=first_step if existing else None,
                flush_secs=FLUSH_SECS,
                # Unique and in creation order even for two files made in the same second.
                filename_suffix=f".{len(existing):04d}",
            )
        if self.wandb and self._wb is None:
            wandb = _wandb()
            id_path = self.out / WANDB_ID
            if self.first_update > 0 and id_path.exists():
                run_id = id_path.read_text().strip()
            else:
                run_id = secrets.token_hex(4)
                id_path.write_text(run_id + "\n")
            self._wb = wandb.init(
                project=self.wandb_project, name=str(self.out), id=run_id, resume="allow",
                dir=str(self.out), config=self.config,
            )  # fmt: skip
            self._wb.define_metric("env_steps")
            self._wb.define_metric("member*", step_metric="env_steps")

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Logs a chunk's metrics.csv rows (ordered by update, then member)."""
        if not rows or not (self.tensorboard or self.wandb):
            return
        self.open(int(rows[0]["env_steps"]))
        by_update: dict[int, dict[str, float]] = {}
        for row in rows:
            step = int(row["env_steps"])
            values = scalars(row)
            if self._tb is not None:
                for tag, value in values.items():
                    self._tb.add_scalar(tag, value, step)
            by_update.setdefault(step, {}).update(values)
        if self._tb is not None:
            self._tb.flush()
        if self._wb is not None:
            for step, values in by_update.items():
                self._wb.log({"env_steps": step, **values})

    def close(self, exit_code: int = 0) -> None:
        """Flushes and closes every writer (W&B is told the run's exit status)."""
        tb, wb = self._tb, self._wb
        self._tb = self._wb = None
        try:
            if tb is not None:
                tb.close()
        finally:
            if wb is not None:
                wb.finish(exit_code=exit_code)


def read_scalars(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files of `run_dir`: {tag: [(step, value), ...]} in the order
    written, with TensorBoard's purge rule applied (a file's purge marker at step s drops the
    earlier files' events at steps >= s). A partly written last record is ignored."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in event_files(run_dir):
        data = path.read_bytes()
        pos = 0
        # TFRecord: uint64 length, uint32 masked CRC of the length, payload, uint32 CRC.
        while pos + 12 <= len(data):
            (size,) = struct.unpack("<Q", data[pos : pos + 8])
            if pos + 12 + size + 4 > len(data):
                break
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + size])
            pos += 12 + size + 4
            if event.session_log.status == event_pb2.SessionLog.START:
                for tag in out:
                    out[tag] = [(s, v) for s, v in out[tag] if s < event.step]
            if event.HasField("summary"):
                for value in event.summary.value:
                    if value.HasField("simple_value"):
                        out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out
