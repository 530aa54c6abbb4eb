"""`alignlab sweep run|status`, `alignlab studies list`, `alignlab best`: running and reading studies.

alignlab.cli registers :data:`sweep_app` (``sweep``), :data:`studies_app` (``studies``) and :func:`best`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from alignlab.cli.errors import handle_errors
from alignlab.cli.outputs import check_force, check_outputs
from alignlab.cli.render import LiveProgress, render_best

sweep_app = typer.Typer(
    help="Run a sweep file as an Optuna study, or show a study's progress.", no_args_is_help=True
)
studies_app = typer.Typer(help="The studies under studies/.", no_args_is_help=True)


@sweep_app.command("run")
@handle_errors
def sweep_run(
    ctx: typer.Context,
    spec_path: Path = typer.Argument(
        ..., metavar="SPEC", help="A sweep file (YAML), e.g. sweeps/quickstart.yaml."
    ),
    n_trials: int = typer.Option(
        None, "--n-trials", min=1, help="Finished trials to reach in the study (default: the file's budget)."
    ),
    storage: str = typer.Option(
        None,
        "--storage",
        envvar="ALIGNLAB_STORAGE",
        show_envvar=True,
        help="Optuna storage URL (default: the file's, else sqlite under studies/<name>/). Every worker "
        "given the same URL joins the study, e.g. postgresql://USER@HOST:5432/DB from several machines.",
    ),
    workers: str = typer.Option(
        None,
        "--workers",
        help="Run N local worker processes (auto: one per visible GPU, or one per CPU core) with one live view.",
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        envvar="ALIGNLAB_TRACKING_URI",
        show_envvar=True,
        help="MLflow tracking URI (default: the file's, else studies/mlflow.db), e.g. an MLflow server's http://HOST:5000.",
    ),
    threads: int = typer.Option(
        None, "--threads", min=1, help="torch CPU threads of this worker (OMP_NUM_THREADS)."
    ),
    trainer: str = typer.Option(
        None,
        "--trainer",
        help="MODULE:FUNCTION run for each trial instead of TRL training (run_training's signature).",
    ),
    warm_start: list[str] = typer.Option(
        None,
        "--warm-start",
        metavar="STUDY",
        help="An earlier study whose complete trials the sampler starts from, as priors that never count in "
        "the budget (repeatable; added to the file's warm_start).",
    ),
    events: bool = typer.Option(False, "--events", hidden=True, help="Print progress as JSON lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Run (or join, or resume) a sweep until its study has its budget of finished trials."""
    import os

    from rich.console import Console

    if threads is not None:  # before torch is imported: it reads these once
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    with _masked_errors(), _sigterm_as_interrupt():
        from alignlab.sweep.study import run_sweep
        from alignlab.sweep.warm_start import with_warm_start
        from alignlab.validate import load_valid_sweep

        storage_key, tracking_key = _option_name(ctx, "storage"), _option_name(ctx, "tracking_uri")
        spec = load_valid_sweep(
            spec_path, storage=storage, storage_key=storage_key, tracking_uri=tracking_uri, tracking_key=tracking_key
        )  # `alignlab validate`'s checks, against this storage and MLflow store: nothing is created before
        spec = with_warm_start(spec, warm_start or [], key="--warm-start")  # each checked as the file's are
        checked: dict[str, Any] = {"storage_key": storage_key, "validated": True}
        train = _load_trainer(trainer)  # a bad --trainer is found before any worker starts
        _room_for_the_first_trial(spec)
        if workers is not None:
            outcome = run_local_workers(
                spec, spec_path, workers, n_trials=n_trials, storage=storage, tracking_uri=tracking_uri,
                trainer=trainer, warm_start=warm_start,
            )
        elif events:
            outcome = run_sweep(
                spec, n_trials=n_trials, storage=storage, on_event=_print_event, train=train, **checked
            )
        else:
            console = Console(stderr=True)
            with console.status(f"{spec.name}: starting...") as status:
                outcome = run_sweep(
                    spec,
                    n_trials=n_trials,
                    storage=storage,
                    on_event=LiveProgress(spec.name, status),
                    train=train,
                    **checked,
                )
    if events:
        typer.echo(json.dumps({"kind": "outcome", **_outcome_dict(outcome)}, default=str))
        return
    if as_json:
        typer.echo(json.dumps(_outcome_dict(outcome), indent=2, default=str))
        return
    render_best(outcome.best, spec.name)
    console = Console()
    for line in outcome.warm_start:
        console.print(f"warm start: {line}", markup=False)
    console.print(f"study {outcome.name}: {outcome.n_finished} trials finished; storage {outcome.storage}")
    console.print(
        f"MLflow: parent run {outcome.mlflow_parent_run_id} in {outcome.tracking_uri} (alignlab ui to browse)"
    )


def _option_name(ctx: typer.Context, param: str) -> str:
    """How an option's value was given, for messages: ``--storage``, or ``$ALIGNLAB_STORAGE`` from the
    environment."""
    option = next(p for p in ctx.command.params if p.name == param)
    source = ctx.get_parameter_source(param)
    if source is not None and source.name == "ENVIRONMENT" and isinstance(option.envvar, str):
        return f"${option.envvar}"
    return max(option.opts, key=len)


def _room_for_the_first_trial(spec: Any) -> None:
    """The disk's room for a trial, checked before the study is created (each later trial is checked
    by the runner before it is claimed: alignlab.run.disk)."""
    from alignlab.paths import study_dir
    from alignlab.sweep.preflight import room_for_trial

    room_for_trial(spec, study_dir(spec.name) / "trials")


def run_local_workers(
    spec: Any,
    spec_path: Path,
    workers: str | list[Any],
    *,
    n_trials: int | None,
    storage: str | None,
    tracking_uri: str | None,
    trainer: str | None,
    warm_start: list[str] | None = None,
) -> Any:
    """``--workers`` (or a plan of alignlab.sweep.workers): start and watch the local worker processes
    with one live view; the outcome is read from the study."""
    from rich.console import Console

    from alignlab.errors import UserInputError
    from alignlab.paths import study_dir
    from alignlab.sweep import workers as local
    from alignlab.sweep.study import outcome_of

    budget = n_trials or spec.budget.n_trials
    plans = local.plan_workers(local.parse_workers(workers), remaining=budget) if isinstance(workers, str) else workers
    command, env = local.worker_command(
        spec_path, storage=storage, n_trials=n_trials, tracking_uri=tracking_uri, trainer=trainer
    )
    command += [arg for name in warm_start or [] for arg in ("--warm-start", name)]
    err = Console(stderr=True)
    err.print(f"{spec.name}: {local.describe(plans)}")
    with err.status(f"{spec.name}: starting {len(plans)} workers...") as status:
        progress = LiveProgress(spec.name, status, workers=len(plans))
        ends = local.run_workers(
            command, plans, env=env, log_dir=study_dir(spec.name) / "workers", on_event=progress.from_json
        )
    failed = [e for e in ends if e.returncode != 0]
    if failed:
        raise UserInputError(
            [f"worker {e.index} exited with code {e.returncode}: {e.last_error} (log: {e.log})" for e in failed]
        )
    return outcome_of(spec, storage=storage, n_workers=len(plans))


def _outcome_dict(outcome: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(outcome)


def _print_event(event: Any) -> None:
    from dataclasses import asdict

    typer.echo(json.dumps(asdict(event), default=str))


def _load_trainer(reference: str | None) -> Any:
    """``--trainer MODULE:FUNCTION``: the function each trial calls instead of run_training."""
    if reference is None:
        return None
    import importlib

    from alignlab.errors import UserInputError

    module_name, _, attr = reference.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attr) if attr else None
    except (ImportError, AttributeError) as exc:
        raise UserInputError(f"--trainer {reference}: cannot load it ({exc})") from None
    if not callable(function):
        raise UserInputError(f"--trainer {reference}: expected MODULE:FUNCTION naming a function")
    return function


@contextlib.contextmanager
def _masked_errors() -> Iterator[None]:
    """Errors leave with every password this process saw masked (alignlab.sweep.secrets)."""
    from alignlab.errors import UserInputError
    from alignlab.sweep.secrets import mask_text

    try:
        yield
    except UserInputError as exc:
        raise UserInputError([mask_text(p) for p in exc.problems]) from None
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if mask_text(text) != text:
            raise RuntimeError(mask_text(text)) from None
        raise


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (Slurm's preemption, ``kill``) stops a worker as Ctrl-C does: its trial ends cleanly."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@sweep_app.command("status")
@handle_errors
def sweep_status(
    name: str = typer.Argument(..., help="The study (sweep) name."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Trials by state, the budget and the best trial of a study."""
    from alignlab.sweep.best import study_status
    from alignlab.sweep.catalog import open_study

    status = study_status(open_study(name))
    if as_json:
        typer.echo(json.dumps({"name": name, **status}, indent=2))
        return
    states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(status["states"].items())) or "no trials"
    typer.echo(f"{name}: {status['finished']} of {status['n_trials']} finished ({states})")
    if status["best_trial"] is not None:
        errors = status.get("best_standard_errors") or [None] * len(status["best_values"])
        values = ", ".join(
            f"{m}={v:.4f}" + (f" ± {se:.4f}" if se is not None else "")
            for m, v, se in zip(status["objectives"], status["best_values"], errors, strict=False)
        )
        typer.echo(f"best: trial {status['best_trial']} ({values})")


@studies_app.command("list")
@handle_errors
def studies_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every study under studies/ with its progress and best value. A study that cannot be read (a
    corrupt storage) is listed as unreadable, its problem printed as an error line (exit 2)."""
    from rich.console import Console
    from rich.table import Table

    from alignlab.errors import UserInputError
    from alignlab.sweep.best import study_summaries

    rows = study_summaries()
    broken = [p for row in rows for p in row.get("problems", [])]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        if broken:
            raise UserInputError(broken)
        return
    if not rows:
        typer.echo("no studies yet (alignlab sweep run SPEC, or alignlab quickstart)")
        return
    table = Table("study", "algorithms", "finished", "states", "best trial", "best")
    for row in rows:
        if "problems" in row:
            table.add_row(row["name"], "", "", "unreadable (see the error below)", "", "")
            continue
        best = ", ".join(f"{v:.4f}" for v in row["best_values"] or [])
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(row["states"].items()))
        table.add_row(
            row["name"],
            ",".join(row["algorithms"]),
            f"{row['finished']}/{row['n_trials']}",
            states,
            str(row["best_trial"]),
            best,
        )
    Console().print(table)
    if broken:
        raise UserInputError(broken)


@handle_errors
def best(
    name: str = typer.Argument(..., help="The study (sweep) name."),
    export: Path = typer.Option(
        None, "--export", help="Write the best trial's configuration to this file (see --format)."
    ),
    export_format: str = typer.Option(
        "alignlab",
        "--format",
        metavar="alignlab|trl|llamafactory",
        help="With --export: a run config `alignlab train` accepts, a `trl dpo|kto|... --config` file, or a "
        "LLaMA-Factory training YAML; what the format cannot express is listed.",
    ),
    max_steps: int = typer.Option(
        None, "--max-steps", min=1, help="With --export: train this many steps instead."
    ),
    full_data: bool = typer.Option(
        False, "--full-data", help="With --export: drop the sweep's max_examples cap."
    ),
    confirm: int = typer.Option(
        None,
        "--confirm",
        min=1,
        metavar="K",
        help="Re-evaluate the top K complete trials from their saved adapters on more prompts and seeds, "
        "and pick by the confirmed value (recorded in the study and on the MLflow runs).",
    ),
    confirm_prompts: int = typer.Option(
        None, "--confirm-prompts", min=1, help="With --confirm: held-out prompts to sample on (default: all)."
    ),
    confirm_seeds: int = typer.Option(
        None, "--confirm-seeds", min=1, help="With --confirm: sampling seeds (default 3)."
    ),
    force: bool = typer.Option(False, "--force", help="With --export: replace the file if it exists."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The best configuration of a study with its standard error, the rule that chose it, the trials
    within noise of it, and where its adapter is."""
    from dataclasses import asdict

    from alignlab.errors import UserInputError
    from alignlab.sweep.best import select_best
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.export import FORMATS, export_best

    exporting = {"--max-steps": max_steps is not None, "--full-data": full_data}
    _only_with("--export PATH", export is not None, exporting, shapes="the exported run config")
    confirming = {"--confirm-prompts": confirm_prompts is not None, "--confirm-seeds": confirm_seeds is not None}
    _only_with("--confirm K", confirm is not None, confirming, shapes="the re-evaluation")
    if export_format not in FORMATS:
        raise UserInputError(f"--format {export_format!r}: expected one of {', '.join(FORMATS)}")
    if export is None and export_format != "alignlab":
        raise UserInputError(f"--format {export_format}: the format of --export PATH, which was not given")
    check_force(force, option="--export", given=export is not None)
    replaced = bool(check_outputs([("--export", export)], force=force)) if export is not None else False
    record = open_study(name)
    confirmation = _confirm(record, confirm, confirm_prompts, confirm_seeds) if confirm is not None else None
    chosen = select_best(record)
    if chosen is None:
        raise UserInputError(f"study {name!r}: no trial has completed yet")
    exported = None
    if export is not None:
        exported = export_best(
            chosen, export, name=f"{name}-best", format=export_format, max_steps=max_steps,
            full_data=full_data, overwrite=force,
        )
    if as_json:
        confirmed = asdict(confirmation) if confirmation is not None else None
        typer.echo(
            json.dumps(
                {
                    **asdict(chosen),
                    "confirmation": confirmed,
                    "exported": str(export) if export else None,
                    "export": asdict(exported) if exported is not None else None,
                    "replaced": replaced,
                },
                indent=2,
                default=str,
            )
        )
        return
    if confirmation is not None:
        from alignlab.cli.render import render_confirmation

        render_confirmation(confirmation)
    render_best(chosen, name)
    if exported is not None:
        typer.echo(f"exported: {export}{' (replaced the previous file)' if replaced else ''} ({exported.command})")
        if exported.unexpressed:
            typer.echo(f"not expressible as a {exported.format} config (listed at the top of the file too):")
            for line in exported.unexpressed:
                typer.echo(f"  - {line}")


def _only_with(option: str, given: bool, dependents: dict[str, bool], *, shapes: str) -> None:
    """Options that only shape what ``option`` does are refused without it, named together."""
    used = [name for name, on in dependents.items() if on]
    if used and not given:
        from alignlab.errors import UserInputError

        flag = option.split()[0]
        raise UserInputError(
            f"alignlab best: {' and '.join(used)} without {option}: they shape {shapes}, so give {flag} too "
            "(see 'alignlab best --help')"
        )


def _confirm(record: Any, k: int, prompts: int | None, seeds: int | None) -> Any:
    """``best --confirm K``: re-evaluate the top K with a status line on stderr (alignlab.sweep.confirm)."""
    from rich.console import Console

    from alignlab.sweep.confirm import ConfirmSettings, confirm_seeds, confirm_top

    settings = ConfirmSettings(n_prompts=prompts, seeds=confirm_seeds(3 if seeds is None else seeds))
    with Console(stderr=True).status(f"{record.name}: re-evaluating the top {k}...") as status:

        def progress(i: int, total: int, number: int) -> None:
            status.update(f"{record.name}: re-evaluating trial {number} ({i + 1} of {total})...")

        return confirm_top(record, k, settings=settings, on_trial=progress)
