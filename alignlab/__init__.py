"""alignlab: choose, sweep and compare preference-alignment runs (PPO, DPO, KTO) with TRL + Optuna + MLflow."""

__version__ = "0.1.0"
