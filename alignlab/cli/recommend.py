"""`alignlab recommend`: which alignment algorithm to run on this data, model and budget, and why.

Parses the options (every problem at once, one line each), profiles ``--data`` through
:mod:`alignlab.data` (imported lazily), ranks with :func:`alignlab.recommend.recommend`, renders a
table or JSON, and optionally writes a sweep file. The situation checks its own ranges
(:func:`alignlab.recommend.situation_problems`). Imports no torch, transformers, trl or mlflow.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from alignlab.cli.errors import handle_errors

if TYPE_CHECKING:
    from alignlab.recommend import Recommendation, Situation


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
    if problems:
        raise UserInputError(problems)

    common = {**given, "model": shape, "model_ref": model, "noisy": noisy, "online": online}
    if data is None:
        return Situation(**common), []

    from alignlab.data import load_feedback, profile_feedback

    profile = profile_feedback(load_feedback(data, skip_invalid=skip_invalid))
    return situation_from_profile(profile, **common), list(profile.notes)


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
        help="With --write-sweep: the candidate to sweep (dpo, ipo, kto, ppo).",
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="With --data: skip invalid records instead of failing."
    ),
) -> None:
    """Rank PPO, DPO, KTO, IPO, SimPO, ORPO and RLOO for your data, model and budget, with reasons,
    memory and time estimates, and a search space to sweep."""
    from alignlab.errors import UserInputError
    from alignlab.recommend import draft_sweep
    from alignlab.recommend import recommend as rank
    from alignlab.recommend import write_sweep as write

    if algorithm is not None and write_sweep is None:
        raise UserInputError(
            "--algorithm: picks the candidate for --write-sweep; give --write-sweep PATH too"
        )
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
    )
    rec = rank(situation)
    sweep: dict[str, Any] | None = None
    if write_sweep is not None:
        draft = draft_sweep(rec, algorithm=algorithm)
        path = write(write_sweep, draft)
        sweep = {
            "path": str(path),
            "algorithm": draft.algorithm,
            "name": draft.spec["name"],
            "notes": list(draft.comments),
        }
    if as_json:
        typer.echo(
            json.dumps({**rec.to_dict(), "data_notes": notes, "sweep": sweep}, indent=2, ensure_ascii=False)
        )
    else:
        render_recommendation(rec, notes, sweep)


def render_recommendation(rec: Recommendation, notes: list[str], sweep: dict[str, Any] | None) -> None:
    """The ranking table, each candidate's reasons, the top one's memory, time and search space, the
    data notes and the assumptions; ``sweep``: the written sweep file (path, name, algorithm)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    s = rec.situation
    where = escape(s.data_path or "explicit options")
    console.print(
        f"[bold]{s.data_type}[/] feedback, {s.n_examples} rows ({where}); model {s.model.n_params / 1e9:.3g}B, "
        f"{s.method}, seq_len {s.seq_len}; GPU {s.gpu_memory_gb or '?'} GB, {s.gpu_hours or '?'} GPU-hours"
        + ("; online" if s.online else "")
    )
    headers = ("#", "algorithm", "score", "memory GB", "fits", "trials")
    rows = [
        (
            str(c.rank),
            c.algorithm.upper() + (" (ruled out)" if c.ruled_out else ""),
            f"{c.score:g}",
            f"{c.estimate.memory.total_gb:.1f}",
            {True: "yes", False: "no", None: "?"}[c.estimate.fits],
            "?" if c.estimate.trials_affordable is None else str(c.estimate.trials_affordable),
            c.top_reason.reason if c.top_reason else "",
        )
        for c in rec.candidates
    ]
    table = Table()
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    for i, (header, width) in enumerate(zip(headers, widths, strict=True)):
        table.add_column(header, justify="left" if i == 1 else "right", no_wrap=True, width=width)
    reason_width = max(20, console.width - sum(widths) - 3 * (len(headers) + 1) - 1)
    table.add_column("top reason", no_wrap=True, overflow="ellipsis", width=reason_width)
    for c, row in zip(rec.candidates, rows, strict=True):
        table.add_row(*(Text(cell) for cell in row), style="dim" if c.ruled_out else None)
    console.print(table)
    for c in rec.candidates:
        resident = ", ".join(c.resident_models)
        console.print(
            f"\n[bold]{c.rank}. {c.algorithm.upper()}[/]  score {c.score:g}  (resident: {resident})"
        )
        if c.conversion:
            console.print(f"   path: {escape(c.conversion)}")
        for r in c.reasons:
            effect = "ruled out" if r.rule_out else f"{r.delta:+g}"
            console.print(f"   {effect:>9}  {escape(r.reason)}  [dim]{escape(f'[{r.name}; {r.source}]')}[/]")
    best = rec.top
    console.print(f"\n[bold]Memory of {best.algorithm.upper()}[/] ({best.estimate.memory.total_gb:.1f} GB):")
    for term in best.estimate.memory.terms:
        console.print(f"   {term.gb:8.2f} GB  {term.name}: {escape(term.note)}")
    cost = best.estimate.cost
    setup = f", plus {cost.setup_seconds / 3600:.3g} once for the reward model" if cost.setup_seconds else ""
    console.print(
        f"   time: {cost.seconds / 3600:.3g} GPU-hours per trial over {cost.examples} examples{setup} ({cost.derivation})"
    )
    space = best.search_space
    console.print(f"\n[bold]Search space of {best.algorithm.upper()}[/] ({escape(space.trl_config)}):")
    for key, param in space.search.items():
        if param["type"] == "categorical":
            console.print(f"   {key}: {escape(str(param['choices']))}")
        else:
            console.print(
                f"   {key}: {param['low']:g} .. {param['high']:g}{' (log)' if param.get('log') else ''}"
            )
    console.print(f"   fixed: {escape(str(space.fixed))}; first trial: {escape(str(space.enqueue))}")
    for note in space.notes:
        console.print(f"   [dim]{escape(note)}[/]")
    if notes:
        console.print("\n[bold]Data notes:[/]")
        for note in notes:
            console.print(f"   {escape(note)}")
    console.print("\n[bold]Assumptions:[/]")
    for line in rec.assumptions:
        console.print(f"   {escape(line)}")
    if sweep is not None:
        console.print(f"\nwrote {escape(sweep['path'])} (sweep {sweep['name']}, {sweep['algorithm']})")


_render = render_recommendation  # cli/quickstart.py's import until it takes render_recommendation
