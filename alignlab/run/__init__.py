"""One training run: its config, the TRL fields it sets, its models and data, the trainer loop, held-out evaluation and MLflow tracking. Each algorithm is one module under ``run/algorithms/``."""
