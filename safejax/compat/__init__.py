"""Adapters from safejax environments to other libraries' environment interfaces.

Each adapter is its own module, imported on its own, so `import safejax` needs none of those
libraries: `safejax.compat.brax` (brax's `Env` contract, for brax's trainers) and
`safejax.compat.gymnasium` (Gymnasium's `Env` and `VectorEnv`; needs `gymnasium>=1.1`).
"""
