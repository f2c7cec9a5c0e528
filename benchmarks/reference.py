"""Safety Gym's normalized metrics: see `agents.reference` (kept here for existing imports)."""

from agents.reference import PPO_REFERENCE, normalized, reference_for

__all__ = ["PPO_REFERENCE", "normalized", "reference_for"]
