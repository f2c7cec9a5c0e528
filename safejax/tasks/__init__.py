"""Tasks: reward, goal state and goal re-sampling."""
