"""`alignlab data`: profile a preference data file, or convert it to the kind an algorithm needs.

Imports nothing heavy at module level: pyarrow, datasets and transformers load inside the library
functions that need them (Parquet files, save_to_disk folders, --tokenizer).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, cast

import typer

from alignlab.cli.errors import handle_errors
from alignlab.data.convert import MAX_PAIRS_PER_PROMPT  # stdlib-only module: cheap to import

if TYPE_CHECKING:
    from alignlab.data import DataProfile, FeedbackKind

data_app = typer.Typer(
    name="data",
    help="Profile preference data files and convert them between feedback kinds.",
    no_args_is_help=True,
)

#: Skipped-record warnings shown before the rest are counted.
_MAX_WARNINGS = 20


class Target(StrEnum):
    """Kinds `convert` can produce (nothing converts to scalar feedback)."""

    pairwise = "pairwise"
    binary = "binary"
    prompt = "prompt"


@data_app.command("profile")
@handle_errors
def profile(
    path: Annotated[
        str,
        typer.Argument(help="Data file (.jsonl/.json/.csv/.parquet, optionally .gz) or save_to_disk folder."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the profile as JSON (for machines).")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Skip invalid records (listed on stderr) instead of failing."),
    ] = False,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            help="Local Hugging Face tokenizer folder to count tokens with (default: characters / 4)."
        ),
    ] = None,
) -> None:
    """Detect the format and feedback kind of PATH and report size, balance, lengths and defects."""
    from alignlab.data import load_feedback, load_tokenizer, profile_feedback

    data = load_feedback(path, skip_invalid=skip_invalid)
    tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    result = profile_feedback(data, tokenizer=tok)
    _warn_skipped(data.skipped)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _render(result)


@data_app.command("convert")
@handle_errors
def convert(
    path: Annotated[str, typer.Argument(help="Data file or save_to_disk folder to convert.")],
    to: Annotated[Target, typer.Option(help="The feedback kind to produce.")],
    out: Annotated[str, typer.Option(help="Where to write the converted records (JSON Lines).")],
    margin: Annotated[
        float, typer.Option(help="scalar -> pairwise: the score gap a pair must exceed.")
    ] = 0.0,
    threshold: Annotated[
        float | None, typer.Option(help="scalar -> binary: lowest desirable score (default: the median).")
    ] = None,
    max_pairs_per_prompt: Annotated[
        int, typer.Option(min=1, help="-> pairwise: at most this many pairs per prompt.")
    ] = MAX_PAIRS_PER_PROMPT,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Skip invalid records (listed on stderr) instead of failing."),
    ] = False,
) -> None:
    """Convert PATH to another feedback kind and write it to --out as JSON Lines (TRL's shapes).

    Nothing is written when loading or converting fails.
    """
    from alignlab.data import convert_feedback, load_feedback, write_feedback

    data = load_feedback(path, skip_invalid=skip_invalid)
    converted = convert_feedback(
        data,
        cast("FeedbackKind", to.value),
        margin=margin,
        threshold=threshold,
        max_pairs_per_prompt=max_pairs_per_prompt,
    )
    write_feedback(converted, out)
    _warn_skipped(data.skipped)
    typer.echo(
        f"wrote {len(converted.records)} {converted.kind} records ({converted.format}) to {out} "
        f"from {len(data.records)} {data.kind} records ({data.format})"
    )


def _warn_skipped(skipped: list[str]) -> None:
    for message in skipped[:_MAX_WARNINGS]:
        typer.echo(f"warning: skipped {message}", err=True)
    if len(skipped) > _MAX_WARNINGS:
        typer.echo(f"warning: ... and {len(skipped) - _MAX_WARNINGS} more skipped records", err=True)


def _render(result: DataProfile) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    summary = Table(title=escape(result.source), show_header=False, title_justify="left")
    summary.add_column("measure", style="bold")
    summary.add_column("value")
    summary.add_row("kind / format", f"{result.kind} / {result.format}")
    summary.add_row(
        "rows", f"{result.rows}" + (f" ({result.skipped_rows} skipped)" if result.skipped_rows else "")
    )
    summary.add_row("unique prompts", str(result.unique_prompts))
    if result.pairs_per_prompt is not None:
        summary.add_row(
            "pairs per prompt", f"mean {result.pairs_per_prompt.mean:g}, max {result.pairs_per_prompt.max}"
        )
    if result.identical_pairs is not None:
        summary.add_row("identical pairs", str(result.identical_pairs))
    if result.desirable is not None:
        summary.add_row(
            "desirable / undesirable",
            f"{result.desirable} / {result.undesirable} (desirable fraction {result.desirable_fraction:g})",
        )
    if result.score is not None:
        s = result.score
        summary.add_row("score", f"min {s.min:g}, median {s.median:g}, mean {s.mean:.4g}, max {s.max:g}")
    summary.add_row("duplicate rows", str(result.duplicates))
    summary.add_row("empty fields", ", ".join(f"{k} {v}" for k, v in result.empty_fields.items()))
    console.print(summary)

    console.print(f"lengths in {escape(result.length_unit)}")
    lengths = Table()
    for column in ("field", "p50", "p90", "p99", "max"):
        lengths.add_column(column, justify="left" if column == "field" else "right")
    for name, stats in result.lengths.items():
        lengths.add_row(name, str(stats.p50), str(stats.p90), str(stats.p99), str(stats.max))
    console.print(lengths)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
