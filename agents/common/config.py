"""Algorithm configs: frozen dataclasses filled from YAML in `configs/`, unknown keys are errors.

A YAML file may start from another with `defaults: other.yaml` and then override or add keys.
The merged mapping must name every field of the config class exactly once: a missing key, an
unknown key or a value of the wrong type raises a ValueError naming the valid keys, before any
compilation. `--set key=value` overrides go through the same check; values are parsed as YAML
(`hidden_sizes=[256,256]`, `normalize_obs=false`, `max_grad_norm=null`).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import types
import typing
from typing import Any, TypeVar

import yaml

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Fields shared by every on-policy learner (see configs/ppo.yaml for values and sources)."""

    total_steps: int
    num_envs: int
    rollout_len: int
    gamma: float
    lam: float
    cost_gamma: float
    cost_lam: float
    hidden_sizes: tuple[int, ...]
    log_std_init: float
    normalize_obs: bool
    obs_clip: float
    cost_adv_scale: bool
    vf_lr: float
    vf_iters: int
    vf_minibatches: int
    max_grad_norm: float | None
    cost_limit: float
    stagger_starts: bool

    # Allowed values of string fields, checked on load: {field: (choice, ...)}.
    CHOICES: typing.ClassVar[dict[str, tuple[str, ...]]] = {}

    @property
    def batch_size(self) -> int:
        """Env steps per update (one "epoch" in SSA's sense): num_envs * rollout_len."""
        return self.num_envs * self.rollout_len

    @property
    def num_updates(self) -> int:
        """Updates needed to reach total_steps (rounded up, at least 1)."""
        return max(1, -(-self.total_steps // self.batch_size))

    def check_minibatches(self, name: str) -> None:
        """The field `name` must divide the batch into equal minibatches."""
        num = getattr(self, name)
        if num < 1 or self.batch_size % num:
            raise ValueError(
                f"{name} = {num} must be >= 1 and divide num_envs * rollout_len = {self.batch_size}"
            )

    def validate(self) -> None:
        """Range checks that need several fields; raises ValueError."""
        for name in ("total_steps", "num_envs", "rollout_len", "vf_iters", "vf_minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.check_minibatches("vf_minibatches")
        for name in ("gamma", "lam", "cost_gamma", "cost_lam"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name}={getattr(self, name)!r}; valid: {', '.join(choices)}")


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """`value` as type `tp` (int, float, bool, str, tuple[int, ...], X | None) or ValueError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list | tuple):
            raise ValueError(f"{name} must be a list, got {value!r}")
        return tuple(_coerce(name, v, inner) for v in value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ValueError(f"{name} must be {tp.__name__}, got {value!r}")
    return tp(value)


def read_yaml(name: str) -> dict[str, Any]:
    """The mapping in configs/`name`, with `defaults:` chains merged (later keys win)."""
    text = importlib.resources.files("configs").joinpath(name).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"configs/{name} must hold a mapping")
    parent = data.pop("defaults", None)
    if parent is None:
        return data
    return {**read_yaml(parent), **data}


def from_dict(cls: type[C], values: dict[str, Any], where: str = "config") -> C:
    """Builds `cls` from exactly its fields; unknown, missing or mistyped keys raise."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown {where} key(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    missing = [f for f in fields if f not in values]
    if missing:
        raise ValueError(f"{where} is missing key(s): {', '.join(missing)}")
    cfg = cls(**{f: _coerce(f, values[f], hints[f]) for f in fields})
    cfg.validate()
    return cfg


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """["key=value", ...] -> {key: YAML-parsed value}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
    return out


def load_config(cls: type[C], yaml_name: str, overrides: dict[str, Any] | None = None) -> C:
    """configs/`yaml_name` merged with `overrides`, checked against `cls`."""
    values = read_yaml(yaml_name)
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown --set key(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    return from_dict(cls, {**values, **overrides}, where=f"configs/{yaml_name}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as plain YAML-able data (tuples become lists)."""
    return {
        f.name: list(v) if isinstance(v := getattr(cfg, f.name), tuple) else v
        for f in dataclasses.fields(cfg)
    }
