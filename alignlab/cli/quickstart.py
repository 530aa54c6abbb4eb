"""`alignlab quickstart`: recommend, sweep, trials, best configuration and MLflow, on the CPU in minutes.

alignlab.cli registers :func:`quickstart`. The views it shares with ``recommend``, ``sweep run`` and
``best`` are public functions of alignlab.cli.render and alignlab.cli.recommend.
"""

from __future__ import annotations

import time

import typer

from alignlab.cli.errors import handle_errors


@handle_errors
def quickstart(
    n_trials: int = typer.Option(
        None, "--n-trials", min=1, help="Trials to run (default: sweeps/quickstart.yaml's budget)."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start the quickstart study over instead of resuming it."
    ),
    workers: str = typer.Option(
        "auto",
        "--workers",
        help="Local worker processes for the sweep: a number (1: in this process), or auto (the faster "
        "way on this machine, docs/benchmarks.md).",
    ),
) -> None:
    """Run the whole loop on the built-in gold-reward task: build, recommend, sweep, pick the best, compare."""
    from rich.console import Console

    from alignlab import quickstart as qs

    console = Console(highlight=False)
    started = time.monotonic()
    console.rule("[bold]1. The built-in task")
    parts: list[str] = []

    def on_build(part: str) -> None:
        parts.append(part)
        status.update("unpacking the task shipped with alignlab..." if part == "prebuilt" else f"building {part}...")

    with console.status("building the task (tokenizer, tiny Llama, SFT policy, feedback data)...") as status:
        assets = qs.build_task(on_build=on_build)
    how = {(): "cached", ("prebuilt",): "unpacked from the package"}.get(tuple(parts), "built")
    console.print(
        "A synthetic review task with a programmatic gold reward (alignlab.task): a tiny Llama, SFT-trained on "
        f"demonstrations of mixed quality, then sampled and labelled by the gold reward. Ready in {qs.elapsed(started)} "
        f"({how}; {assets.root})."
    )

    console.rule("[bold]2. What to run")
    from alignlab.cli.render import render_recommendation

    recommendation = qs.recommend_for_task(assets)
    render_recommendation(recommendation, [], None)

    console.rule("[bold]3. The sweep")
    from alignlab.cli.render import LiveProgress, render_best
    from alignlab.sweep.catalog import open_study
    from alignlab.sweep.study import run_sweep
    from alignlab.validate import load_valid_sweep

    spec = load_valid_sweep(qs.sweep_path())
    if fresh:
        qs.reset_study(spec.name, spec.tracking_uri)
    console.print(f"{qs.sweep_path()}: {spec.description}")
    plans = qs.sweep_workers(qs.trials_left(spec.name, n_trials or spec.budget.n_trials), workers=workers)
    if plans:
        from alignlab.cli.sweep import run_local_workers
        from alignlab.sweep.workers import describe

        console.print(f"Running it on {describe(plans)} (local worker processes sharing the study).")
        outcome = run_local_workers(
            spec, qs.sweep_path(), plans, n_trials=n_trials, storage=None, tracking_uri=None, trainer=None
        )
    else:
        console.print(f"Running it in this process ({qs.WHY_ONE_PROCESS if workers == 'auto' else '--workers 1'}).")
        err = Console(stderr=True, highlight=False)
        with err.status(f"{spec.name}: starting...") as status:
            outcome = run_sweep(spec, n_trials=n_trials, on_event=LiveProgress(spec.name, status))

    console.rule("[bold]4. The best configuration")
    render_best(outcome.best, spec.name)
    if outcome.best is not None:
        comparison = qs.compare_with_default(open_study(spec.name), outcome.best)
        if comparison.baseline_number is None:
            console.print(
                "The literature-default trial did not complete, so there is nothing to compare with."
            )
        elif comparison.best_number == comparison.baseline_number:
            console.print(
                "The literature default (the enqueued first trial) stayed the best: the sweep did not beat it."
            )
        else:
            b, d = comparison.best, comparison.baseline
            console.print(
                f"Against the literature default (trial {comparison.baseline_number}: "
                + ", ".join(f"{k}={v:.3g}" for k, v in comparison.baseline_params.items())
                + "):"
            )
            for key in ("win_rate", "gold_reward", "kl", "malformed_rate"):
                if key in b and key in d:
                    console.print(
                        f"  {key:15s} best {b[key]:.3f}   default {d[key]:.3f}   ({b[key] - d[key]:+.3f})"
                    )
            vs = comparison.versus
            if vs is not None:
                from rich.markup import escape

                style = "green" if vs.difference is not None and vs.difference.beyond_noise else "yellow"
                console.print(f"[bold {style}]{escape(vs.verdict)}[/]")
    console.rule("[bold]5. Look at it")
    console.print(f"Finished in {qs.elapsed(started)}. Study storage: {outcome.storage}")
    console.print("  alignlab compare quickstart        a table of the trials")
    console.print("  alignlab report quickstart         an HTML report with plots")
    console.print("  alignlab best quickstart --export best.yaml && alignlab train best.yaml")
    console.print(f"  alignlab ui                        the MLflow UI over {outcome.tracking_uri}")
