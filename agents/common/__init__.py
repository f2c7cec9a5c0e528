"""What every learner shares: rollout, GAE, networks, normalization, multipliers, the loop."""
