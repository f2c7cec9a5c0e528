"""World elements (hazards, vases, pillars, buttons, gremlins, ...): one module and one class
each.

`ELEMENTS` is the registry: every `EnvConfig` carries one spec of each registered class (count
0 where the world has none), in this order, which is Safety Gym's layout sampling order after
the robot and the task's own entries (spec 7.1); the elements that are not placed by the
sampler (the boundary walls, the speed limit) come last. `register` adds a user-defined element
class (a subclass of `safejax.elements.base.Element`) at the end.
"""

from __future__ import annotations

from safejax.elements.base import Element
from safejax.elements.buttons import Buttons
from safejax.elements.gremlins import Gremlins
from safejax.elements.hazards import Hazards
from safejax.elements.pillars import Pillars
from safejax.elements.sigwalls import Sigwalls
from safejax.elements.vases import Vases
from safejax.elements.velocity import Velocity

ELEMENTS: list[type[Element]] = [Buttons, Hazards, Vases, Pillars, Gremlins, Sigwalls, Velocity]


def register(cls: type[Element]) -> type[Element]:
    """Adds an element class to the registry (usable as a class decorator). Its group name and
    flat keys must not collide with those of a registered element or an EnvConfig field."""
    if not (isinstance(cls, type) and issubclass(cls, Element)) or not cls.group:
        raise TypeError(f"{cls!r} is not an Element subclass with a `group` name")
    taken = {c.group for c in ELEMENTS}
    if cls.group in taken:
        raise ValueError(f"an element named {cls.group!r} is already registered")
    from safejax.config import EnvConfig

    clash = set(cls.flat_keys()) & set(EnvConfig.field_names())
    if clash:
        raise ValueError(f"element {cls.group!r}: keys {sorted(clash)} are already taken")
    ELEMENTS.append(cls)
    return cls


def cost_keys() -> tuple[str, ...]:
    """Every registered element's cost metrics, in registry order: the fixed cost keys of every
    environment's metrics (zero where a constraint is absent)."""
    return tuple(k for cls in ELEMENTS for k in cls.cost_keys())


__all__ = [
    "ELEMENTS",
    "Buttons",
    "Element",
    "Gremlins",
    "Hazards",
    "Pillars",
    "Sigwalls",
    "Vases",
    "Velocity",
    "register",
]
