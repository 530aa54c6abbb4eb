"""Reading finished studies back: comparison tables, HTML reports, and the MLflow / optuna-dashboard UIs."""
