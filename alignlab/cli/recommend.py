"""`alignlab recommend`: which alignment algorithm to run on this data, model and budget, and why.

Parses the options (every problem at once, one line each), profiles ``--data`` through
:mod:`alignlab.data` (imported lazily), ranks with :func:`alignlab.recommend.recommend`, renders a
table or JSON, and optionally writes a sweep file. The situation checks its own ranges
(:func:`alignlab.recommend.situation_problems`). Imports no torch, transformers, trl or mlflow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from alignlab.cli.errors import handle_errors
from alignlab.cli.outputs import FORCE_HELP, check_force, check_outputs
from alignlab.cli.render import render_recommendation

if TYPE_CHECKING:
    from alignlab.recommend import Situation


def _number(text: str | None, option: str, problems: list[str], *, integer: bool = False) -> Any:
    """``text`` as an int or a float; a problem line when it is not one (ranges: the Situation's)."""
    if text is None:
        return None
    try:
        return int(text) if integer else float(text)
    except ValueError:
        problems.append(f"{option}: expected {'an integer' if integer else 'a number'}, but got {text!r}")
        return None


def build_situation(
    *,
    data: str | None,
    data_type: str | None,
    n_examples: str | None,
    desirable_fraction: str | None,
    noisy: bool,
    model: str | None,
    gpu_memory_gb: str | None,
    gpu_hours: str | None,
    online: bool,
    method: str,
    seq_len: str | None,
    batch_size: str,
    skip_invalid: bool = False,
    reward: str = "unknown",
    columns: str | None = None,
    split: str | None = None,
    ranking: str | None = None,
    attributes: str | None = None,
) -> tuple[Situation, list[str]]:
    """Parse the options and build the situation (profiling ``data`` when given); also returns the
    data profile's notes. Raises :class:`UserInputError` listing every problem, before reading ``data``."""
    from alignlab.errors import UserInputError
    from alignlab.recommend import Situation, parse_model, situation_from_profile, situation_problems
    from alignlab.recommend.situation import DEFAULT_MODEL

    problems: list[str] = []
    if data is None and data_type is None:
        problems.append("give --data PATH, or --data-type and --n-examples")
    if data is not None:
        for option, value in (
            ("--data-type", data_type),
            ("--n-examples", n_examples),
            ("--desirable-fraction", desirable_fraction),
        ):
            if value is not None:
                problems.append(f"{option}: comes from the data profile with --data; give one or the other")
    elif data_type is not None and n_examples is None:
        problems.append("--n-examples: required with --data-type")
    given: dict[str, Any] = {
        "method": method,
        "reward": reward,
        "gpu_memory_gb": _number(gpu_memory_gb, "--gpu-memory-gb", problems),
        "gpu_hours": _number(gpu_hours, "--gpu-hours", problems),
        "batch_size": _number(batch_size, "--batch-size", problems, integer=True),
    }
    tokens = _number(seq_len, "--seq-len", problems, integer=True)
    if tokens is not None:
        given.update(seq_len=tokens, seq_len_source="--seq-len")
    if data is None and data_type is not None:
        given.update(
            data_type=data_type,
            n_examples=_number(n_examples, "--n-examples", problems, integer=True),
            desirable_fraction=_number(desirable_fraction, "--desirable-fraction", problems),
        )
    problems.extend(situation_problems(given))
    shape = None
    try:
        shape = parse_model(model if model is not None else DEFAULT_MODEL)
    except UserInputError as exc:
        problems.extend(exc.problems)
    read = None
    if data is not None:
        from alignlab.cli.data import read_options

        try:
            read = read_options(columns=columns, split=split, ranking=ranking, attributes=attributes)
        except UserInputError as exc:
            problems.extend(exc.problems)
    elif any(v is not None for v in (columns, split, ranking, attributes)):
        problems.append("--columns, --split, --ranking and --attributes say how to read --data; give --data PATH")
    if problems:
        raise UserInputError(problems)

    common = {**given, "model": shape, "model_ref": model, "noisy": noisy, "online": online}
    if data is None:
        return Situation(**common), []

    from alignlab.data import open_feedback, profile_feedback

    profile = profile_feedback(open_feedback(data, skip_invalid=skip_invalid, options=read))
    notes = [*profile.made, *profile.notes, *(f"not used: {u}" for u in profile.unused)]
    return situation_from_profile(profile, **common), notes


@handle_errors
def recommend(
    data: str | None = typer.Option(
        None,
        "--data",
        metavar="PATH",
        help="A feedback file to profile (any format `alignlab data profile` reads).",
    ),
    data_type: str | None = typer.Option(
        None,
        "--data-type",
        metavar="pairwise|binary|scalar|prompt",
        help="Without --data: the kind of feedback you have.",
    ),
    n_examples: str | None = typer.Option(
        None, "--n-examples", metavar="N", help="Without --data: how many rows."
    ),
    desirable_fraction: str | None = typer.Option(
        None, "--desirable-fraction", metavar="F", help="Without --data, binary: fraction labelled desirable."
    ),
    noisy: bool = typer.Option(False, "--noisy", help="The labels are noisy (low rater agreement)."),
    model: str | None = typer.Option(
        None,
        "--model",
        metavar="PATH_OR_SIZE",
        help="A local HF folder, a size (135m, 1.5b, 7b, 70b), builtin:tiny-sft or smollm2-135m. Default: 7b.",
    ),
    gpu_memory_gb: str | None = typer.Option(
        None, "--gpu-memory-gb", metavar="GB", help="Memory of one GPU, in GiB."
    ),
    gpu_hours: str | None = typer.Option(
        None, "--gpu-hours", metavar="H", help="GPU-hours for the whole sweep."
    ),
    online: bool = typer.Option(
        False, "--online", help="Feedback on the policy's own samples arrives during training."
    ),
    reward: str = typer.Option(
        "unknown",
        "--reward",
        metavar="model|function",
        help="What can score the policy's samples: a trained reward model, or a reward function (a verifier).",
    ),
    method: str = typer.Option(
        "lora", "--method", metavar="lora|qlora|full", help="How the policy is trained."
    ),
    seq_len: str | None = typer.Option(
        None, "--seq-len", metavar="TOKENS", help="Tokens per sequence (default: p90 of the data, else 1024)."
    ),
    batch_size: str = typer.Option(
        "8", "--batch-size", metavar="N", help="Examples per micro-batch (TRL's default 8)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the recommendation as JSON (stable keys)."),
    write_sweep: str | None = typer.Option(
        None,
        "--write-sweep",
        metavar="PATH",
        help="Write a sweep file for the top candidate (or --algorithm).",
    ),
    algorithm: str | None = typer.Option(
        None,
        "--algorithm",
        metavar="NAME",
        help="With --write-sweep: the candidate to sweep (any ranked algorithm).",
    ),
    force: bool = typer.Option(False, "--force", help="With --write-sweep: " + FORCE_HELP),
    bakeoff: int | None = typer.Option(
        None,
        "--bakeoff",
        metavar="K",
        min=2,
        help="Check the ranking on your data: short trials of the top K, each at its literature default and at "
        "points of its range, equal compute, as one study; prints the measured ranking beside the rules' "
        "(--write-sweep then drafts the pick).",
    ),
    budget_minutes: float | None = typer.Option(
        None, "--budget-minutes", metavar="M", min=0.1, help="With --bakeoff: wall-clock minutes it may take."
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="With --data: skip invalid records instead of failing."
    ),
    columns: str | None = typer.Option(
        None,
        "--columns",
        metavar="TARGET=PATH,...",
        help="With --data: a column mapping (docs/data-formats.md), e.g. prompt=instruction,chosen=good,rejected=bad "
        "or prompt=info.post,winner=w:index.",
    ),
    split: str | None = typer.Option(
        None, "--split", metavar="NAME", help="With --data: the split of a Hugging Face dataset folder."
    ),
    ranking: str | None = typer.Option(
        None, "--ranking", metavar="all|best-vs-rest|adjacent", help="With --data: how ranked answers become pairs (default: all)."
    ),
    attributes: str | None = typer.Option(
        None, "--attributes", metavar="NAME[=W],...", help="With --data: multi-attribute scores to score by (default: helpfulness)."
    ),
) -> None:
    """Rank DPO, IPO, KTO, SimPO, ORPO, PPO, RLOO and GRPO for your data, model and budget, with reasons,
    memory and time estimates, and a search space to sweep (every one runs with `alignlab train` and `sweep`)."""
    from alignlab.errors import UserInputError
    from alignlab.recommend import draft_sweep
    from alignlab.recommend import recommend as rank
    from alignlab.recommend import write_sweep as write

    if budget_minutes is not None and bakeoff is None:
        raise UserInputError("--budget-minutes: the time of --bakeoff K; give --bakeoff too")
    if algorithm is not None and bakeoff is not None:
        raise UserInputError("--algorithm: with --bakeoff, --write-sweep drafts the bake-off's pick; give one or the other")
    if algorithm is not None and write_sweep is None:
        raise UserInputError(
            "--algorithm: picks the candidate for --write-sweep; give --write-sweep PATH too"
        )
    check_force(force, option="--write-sweep", given=write_sweep is not None)
    replaced = bool(check_outputs([("--write-sweep", Path(write_sweep))], force=force)) if write_sweep else False
    situation, notes = build_situation(
        data=data,
        data_type=data_type,
        n_examples=n_examples,
        desirable_fraction=desirable_fraction,
        noisy=noisy,
        model=model,
        gpu_memory_gb=gpu_memory_gb,
        gpu_hours=gpu_hours,
        online=online,
        method=method,
        seq_len=seq_len,
        batch_size=batch_size,
        skip_invalid=skip_invalid,
        reward=reward,
        columns=columns,
        split=split,
        ranking=ranking,
        attributes=attributes,
    )
    rec = rank(situation)
    measured = _bakeoff(rec, bakeoff, budget_minutes) if bakeoff is not None else None
    if measured is not None:
        algorithm = measured.pick
    sweep: dict[str, Any] | None = None
    if write_sweep is not None:
        draft = _offer_warm_start(draft_sweep(rec, algorithm=algorithm))
        path = write(write_sweep, draft)
        sweep = {
            "path": str(path),
            "algorithm": draft.algorithm,
            "name": draft.spec["name"],
            "notes": list(draft.comments),
            "replaced": replaced,
        }
    if as_json:
        from dataclasses import asdict

        found = {**rec.to_dict(), "data_notes": notes, "sweep": sweep}
        if measured is not None:
            found["bakeoff"] = asdict(measured)
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False, default=str))
    else:
        render_recommendation(rec, notes, sweep)
        if measured is not None:
            _render_bakeoff(measured)


def _offer_warm_start(draft: Any) -> Any:
    """The draft with a commented ``warm_start:`` line naming the earlier studies under studies/ that fit it
    (same algorithm, a searched parameter in common, same directions: alignlab.sweep.warm_start)."""
    import dataclasses

    from alignlab.sweep.warm_start import matching_studies

    found = matching_studies(draft.spec)
    if not found:
        return draft
    offer = (
        f"warm_start: [{', '.join(found)}]   # earlier studies that fit this sweep: uncomment to start its "
        "sampler from their complete trials (never counted in the budget, never the best)",
    )
    return dataclasses.replace(draft, comments=(*draft.comments, *offer))


def _bakeoff(rec: Any, k: int, minutes: float | None) -> Any:
    """``--bakeoff K``: run the bake-off study with a status line on stderr (alignlab.recommend.bakeoff)."""
    from rich.console import Console

    from alignlab.cli.render import LiveProgress
    from alignlab.recommend.bakeoff import plan_bakeoff, run_bakeoff

    plan = plan_bakeoff(rec, k=k, budget_minutes=minutes)
    name = plan.spec["name"]
    with Console(stderr=True).status(f"{name}: starting...") as status:
        return run_bakeoff(plan, on_event=LiveProgress(name, status))


def _render_bakeoff(outcome: Any) -> None:
    """The measured ranking beside the rules', the paired differences, where they disagree and the pick."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"bake-off (study {outcome.study}): {outcome.objective}, best point of each algorithm",
        title_justify="left",
    )
    for column in ("measured", "rules", "algorithm", outcome.objective, "vs leader (paired)", "trial", "best point"):
        table.add_column(column)
    for i, arm in enumerate(outcome.arms, 1):
        value = "no complete trial" if arm.value is None else f"{arm.value:.3f}" + (
            f" ± {arm.se:.3f}" if arm.se is not None else ""
        )
        diff = arm.difference
        gap = "" if diff is None else f"{diff.value:+.3f} ± {diff.se:.3f}" + (" *" if diff.beyond_noise else "")
        point = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in arm.params.items())
        table.add_row(
            str(i) if arm.value is not None else "-", str(arm.rule_rank), arm.algorithm,
            value + ("" if arm.feasible else " (over the KL bound)"), gap, "" if arm.trial is None else str(arm.trial), point,
        )
    console = Console(highlight=False)
    console.print(table)
    console.print("* beyond noise: the 95% interval of the paired difference leaves out zero", markup=False)
    console.print(f"rules: {' > '.join(outcome.rule_order)}", markup=False)
    for line in outcome.disagreements or ["the measured order agrees with the rules"]:
        console.print(line, markup=False)
    for note in outcome.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"would run: {outcome.pick} ({outcome.reason})", markup=False)
