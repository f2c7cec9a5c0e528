"""Constraint elements: placement, physics (where needed) and cost, one module each."""
