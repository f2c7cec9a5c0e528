"""Checkpoints saved by field name, and the package versions recorded beside them.

A checkpoint is one msgpack file (flax's serialization) holding the train state as a nested
mapping of its field names: the names of its pytree paths (dataclass fields, optimizer
named-tuple fields, parameter names, mjx.Data fields), not a list of leaves in tree order.
Loading checks the saved mapping against the state the current code builds and names every field
that is missing, new or of another shape, so a refactor that reorders fields still loads and one
that changes them fails with a message that says which.

    save(path, train_state, meta)                 # atomic: a crash never leaves half a file
    ts, meta = restore(path, template)            # template: arrays or jax.ShapeDtypeStruct
    tree, meta = read(path)                       # the raw mapping, no template needed
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

FORMAT = 1
PACKAGES = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "flax", "optax", "chex", "numpy", "safejax")


def versions() -> dict[str, str]:
    """Python's and the main packages' versions (None where a package is not installed)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary file beside `path`, syncs it, then renames it over `path`."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(x: Any) -> np.ndarray:
    return np.asarray(jax.random.key_data(x) if _is_key(x) else x)


def _name(entry: Any) -> str:
    """One pytree path entry as a field name: attribute, dict key or position."""
    for attr in ("name", "key", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def to_state(train_state: Any) -> dict[str, Any]:
    """A pytree as a nested mapping of field names to numpy arrays (what `read` returns)."""
    out: dict[str, Any] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(train_state)[0]:
        names = [_name(e) for e in path] or ["value"]
        node = out
        for n in names[:-1]:
            node = node.setdefault(n, {})
        if names[-1] in node:
            raise ValueError(f"two leaves are named {'/'.join(names)}")
        node[names[-1]] = _to_host(leaf)
    return out


def save(path: Path, train_state: Any, meta: dict[str, Any]) -> None:
    """Saves `train_state` (any pytree) by field name, with JSON `meta`."""
    payload = {"format": FORMAT, "meta": json.dumps(meta), "state": to_state(train_state)}
    atomic_write(path, serialization.msgpack_serialize(payload))


def read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved state as a nested mapping of field names to numpy arrays, and its meta."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = serialization.msgpack_restore(path.read_bytes())
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a safejax checkpoint of format {FORMAT} (saved by field name); "
            "checkpoints written before that format cannot be read"
        )
    return payload["state"], json.loads(payload["meta"])


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a/b/c": leaf} for a nested mapping."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}/{k}" if prefix else str(k)))
        return out
    return {prefix: tree}


def restore(
    path: Path, template: Any, zero_if_missing: Sequence[str] = ()
) -> tuple[Any, dict[str, Any]]:
    """The train state saved at `path`, shaped like `template` (arrays or ShapeDtypeStructs).

    Raises ValueError naming each field that the file lacks, that the file has but the template
    does not, or whose shape or dtype differs. Fields under one of the `zero_if_missing` path
    prefixes (e.g. "env/episode/metrics/") that the file lacks are filled with zeros instead
    (state added by a newer safejax whose zero is a valid start); meta["zero_filled"] lists them.
    Fields the file lacks whose template has no elements (an element group with count 0 in
    `State.objects`) carry nothing and are made empty, whatever their prefix.
    """
    saved, meta = read(path)
    have = _flat(saved)
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(template)
    want = {"/".join(_name(e) for e in p) or "value": s for p, s in leaves_with_path}
    missing = sorted(set(want) - set(have))
    for p in missing:
        if not _is_key(want[p]) and int(np.prod(want[p].shape)) == 0:
            have[p] = np.zeros(want[p].shape, want[p].dtype)
    filled = [p for p in missing if p not in have and p.startswith(tuple(zero_if_missing))]
    for p in filled:
        if _is_key(want[p]):
            raise ValueError(f"{path}: random key field {p} cannot be filled with zeros")
        have[p] = np.zeros(want[p].shape, want[p].dtype)
    if filled:
        meta = {**meta, "zero_filled": filled}
    problems = [f"missing in the file: {p}" for p in sorted(set(want) - set(have))]
    problems += [f"not in the train state: {p}" for p in sorted(set(have) - set(want))]
    for p in sorted(set(want) & set(have)):
        s, x = want[p], np.asarray(have[p])
        spec = jax.eval_shape(jax.random.key_data, s) if _is_key(s) else s
        if tuple(x.shape) != tuple(spec.shape) or x.dtype != spec.dtype:
            problems.append(f"{p}: saved {x.dtype}{list(x.shape)}, expected {spec.dtype}"
                            f"{list(spec.shape)}")  # fmt: skip
    if problems:
        raise ValueError(f"{path} does not fit this train state:\n  " + "\n  ".join(problems))
    leaves = []
    for p, s in want.items():
        x = np.asarray(have[p])
        leaves.append(jax.random.wrap_key_data(x, impl=jax.random.key_impl(s)) if _is_key(s) else x)
    return jax.tree_util.tree_unflatten(treedef, leaves), meta
