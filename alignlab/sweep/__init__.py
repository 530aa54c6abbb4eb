"""Sweeps as Optuna studies: the sweep file (spec), its sampler and pruner (samplers), the study runner (study), the one schema of what a study stores (records), and best-trial selection (best)."""
