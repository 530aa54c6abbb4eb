"""`alignlab train CONFIG [key=value ...]`: one training run from a run config, with overrides: alignlab's
trainer inside the runner that owns its MLflow run (alignlab.run.training.run_training)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from alignlab.cli.errors import handle_errors


@handle_errors
def train(
    config: Path = typer.Argument(..., help="A run config (YAML), e.g. sweeps/runs/dpo.yaml."),
    overrides: list[str] = typer.Argument(
        None,
        help="key=value overrides, validated like the file: TRL fields (learning_rate=1e-4 beta=0.2) "
        "or run-config keys, dotted for nested ones (seed=1 lora.r=16 data.max_examples=500).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI (default: the config's, else studies/mlflow.db)."
    ),
) -> None:
    """Run one training configuration (SFT, reward model, DPO, KTO or PPO), evaluate it and log it to MLflow."""
    from rich.console import Console

    from alignlab.validate import load_valid_run_config

    # `alignlab validate`'s checks (and the --tracking-uri's): nothing is created before they pass
    run_config = load_valid_run_config(config, overrides=overrides or [], tracking_uri=tracking_uri)
    _check_space(run_config)
    console = Console(stderr=True)
    with console.status(f"training {run_config.name} ({run_config.algorithm})...") as status:
        from alignlab.run.training import run_training

        def on_step(step: int, total: int) -> None:
            status.update(f"training {run_config.name} ({run_config.algorithm}): step {step}/{total}")

        result = run_training(run_config, on_step=on_step)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _render(result)
    if result.status == "failed":
        raise typer.Exit(1)


def _check_space(run_config: object) -> None:
    """Refuse a run the disk has no room for before it starts (alignlab.run.disk)."""
    from alignlab.paths import studies_root
    from alignlab.run.config import RunConfig
    from alignlab.run.disk import check_run_space

    assert isinstance(run_config, RunConfig)
    output = Path(run_config.output_dir) if run_config.output_dir else studies_root() / "runs" / run_config.name
    check_run_space(output, run_config.model, run_config.lora, what=f"run {run_config.name}")


def _render(result: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from alignlab.run.config import METRICS
    from alignlab.run.trainer import RunResult

    assert isinstance(result, RunResult)
    console = Console()
    head = f"[bold]{result.name}[/] ({result.algorithm}): {result.status}"
    if result.reason:
        head += f" - {result.reason}"
    console.print(head)
    table = Table("metric", "value", "meaning")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:.4f}", METRICS.get(key, ""))
    table.add_row("steps", str(result.steps), "optimizer steps")
    table.add_row("runtime_s", f"{result.runtime_s:.1f}", "wall time of the run")
    console.print(table)
    if result.output_dir:
        console.print(f"outputs: {result.output_dir}")
    console.print(f"MLflow run: {result.mlflow_run_id}")
