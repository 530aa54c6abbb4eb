"""Sweeps as Optuna studies: the sweep file, the study runner, the schema of what a study stores, and best-trial selection."""
