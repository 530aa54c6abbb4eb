"""`alignlab data`: profile a preference data file, or convert it to the kind an algorithm needs.

Both commands stream the file (bounded memory on millions of rows) and show a progress bar on stderr
for long reads at a terminal. Imports nothing heavy at module level: pyarrow, datasets and
transformers load inside the library functions that need them (Parquet files, dataset folders,
--tokenizer).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from alignlab.cli.errors import handle_errors
from alignlab.data.convert import MAX_PAIRS_PER_PROMPT  # stdlib-only module: cheap to import

if TYPE_CHECKING:
    from alignlab.data import DataProfile, FeedbackKind, ReadOptions
    from alignlab.data.loading import Progress

data_app = typer.Typer(
    name="data",
    help="Profile preference data files and convert them between feedback kinds.",
    no_args_is_help=True,
)

#: Skipped-record warnings shown before the rest are counted.
_MAX_WARNINGS = 20
#: Files at least this large get a progress bar (at a terminal).
_PROGRESS_BYTES = 32 * 1024 * 1024


class Target(StrEnum):
    """Kinds `convert` can produce (nothing converts to scalar feedback)."""

    pairwise = "pairwise"
    binary = "binary"
    prompt = "prompt"


class Kind(StrEnum):
    """Kinds a file can be read as."""

    pairwise = "pairwise"
    binary = "binary"
    scalar = "scalar"
    prompt = "prompt"


class Ranking(StrEnum):
    """How rankings become pairs."""

    all = "all"
    best_vs_rest = "best-vs-rest"
    adjacent = "adjacent"


COLUMNS_HELP = (
    "Column mapping TARGET=PATH,...: where each TRL field is, e.g. prompt=instruction,chosen=good,rejected=bad, "
    "prompt=info.post,chosen=summaries[choice].text, winner=w:index, score_a=score_0,score_b=score_1 (targets: "
    "prompt, chosen, rejected, completion, label, score, messages, system, response_a, response_b, winner, "
    "score_a, score_b; docs/data-formats.md)."
)
SPLIT_HELP = "The split of a Hugging Face dataset folder (a saved DatasetDict or a downloaded snapshot)."
RANKING_HELP = (
    "Ranked answers to pairs: all (every answer vs every lower one, as InstructGPT), best-vs-rest, adjacent."
)
ATTRIBUTES_HELP = (
    "Multi-attribute scores (HelpSteer): the attribute to score by, or weights NAME=W,... (default: helpfulness)."
)


def read_options(
    *, columns: str | None, split: str | None, ranking: str | None, attributes: str | None
) -> ReadOptions:
    """The command-line read options as :class:`~alignlab.data.ReadOptions`, every problem at once."""
    from alignlab.data import ReadOptions, parse_columns
    from alignlab.data.attributes import parse_attributes
    from alignlab.data.shape import DEFAULT_RANKING
    from alignlab.errors import UserInputError

    problems: list[str] = []
    mapping = weights = None
    try:
        mapping = parse_columns(columns) if columns is not None else None
    except UserInputError as exc:
        problems += exc.problems
    try:
        weights = parse_attributes(attributes) if attributes is not None else None
    except UserInputError as exc:
        problems += exc.problems
    options = ReadOptions(
        columns=mapping, split=split, ranking=cast("Any", ranking or DEFAULT_RANKING), attributes=weights
    )
    problems += [f"--{p}" for p in options.problems()]
    if problems:
        raise UserInputError(problems)
    return options


@contextlib.contextmanager
def reading_progress(path: str) -> Iterator[Progress | None]:
    """A progress bar on stderr while a large file is read at a terminal; ``None`` otherwise."""
    from pathlib import Path

    p = Path(path)
    large = p.is_dir() or (p.is_file() and p.stat().st_size >= _PROGRESS_BYTES)
    if not (large and sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task("read", total=None)

        def update(done: int, total: int | None, unit: str) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@data_app.command("profile")
@handle_errors
def profile(
    path: Annotated[
        str,
        typer.Argument(
            help="Data file (.jsonl/.json/.csv/.parquet, optionally .gz) or Hugging Face dataset folder."
        ),
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
    columns: Annotated[str | None, typer.Option("--columns", help=COLUMNS_HELP)] = None,
    split: Annotated[str | None, typer.Option("--split", help=SPLIT_HELP)] = None,
    ranking: Annotated[Ranking | None, typer.Option("--ranking", help=RANKING_HELP)] = None,
    attributes: Annotated[str | None, typer.Option("--attributes", help=ATTRIBUTES_HELP)] = None,
    kind: Annotated[
        Kind | None,
        typer.Option("--kind", help="Read the file as this kind where its format offers several (OpenAssistant: binary votes)."),
    ] = None,
) -> None:
    """Detect the format and feedback kind of PATH and report size, balance, lengths, what became of
    every record, and defects."""
    from alignlab.data import load_tokenizer, open_feedback, profile_feedback

    options = read_options(
        columns=columns, split=split, ranking=ranking.value if ranking else None, attributes=attributes
    )
    tok = load_tokenizer(tokenizer) if tokenizer is not None else None
    with reading_progress(path) as progress:
        stream = open_feedback(
            path,
            skip_invalid=skip_invalid,
            kind=cast("FeedbackKind", kind.value) if kind else None,
            options=options,
            progress=progress,
        )
        result = profile_feedback(stream, tokenizer=tok)
    _warn_skipped(stream.skipped, stream.accounting.skipped.get("invalid", 0))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _render(result)


@data_app.command("convert")
@handle_errors
def convert(
    path: Annotated[str, typer.Argument(help="Data file or Hugging Face dataset folder to convert.")],
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
    columns: Annotated[str | None, typer.Option("--columns", help=COLUMNS_HELP)] = None,
    split: Annotated[str | None, typer.Option("--split", help=SPLIT_HELP)] = None,
    ranking: Annotated[Ranking | None, typer.Option("--ranking", help=RANKING_HELP)] = None,
    attributes: Annotated[str | None, typer.Option("--attributes", help=ATTRIBUTES_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --out file if it exists.")] = False,
) -> None:
    """Convert PATH to another feedback kind and write it to --out as JSON Lines (TRL's shapes).

    A format that holds the target kind itself is read as that kind (OpenAssistant: --to binary uses
    the emoji votes). Nothing is written when loading or converting fails; an existing --out file is
    replaced only with --force.
    """
    from pathlib import Path

    from alignlab.cli.outputs import check_outputs
    from alignlab.data import convert_stream, open_feedback, write_records
    from alignlab.data.writers import check_output_path
    from alignlab.errors import UserInputError

    problems: list[str] = []
    try:
        options = read_options(
            columns=columns, split=split, ranking=ranking.value if ranking else None, attributes=attributes
        )
    except UserInputError as exc:
        problems += exc.problems
    try:
        check_output_path(out)
        replaced = bool(check_outputs([("--out", Path(out))], force=force))
    except UserInputError as exc:
        problems += [p if p.startswith("--out") else f"--out {p}" for p in exc.problems]
    if Path(out).absolute() == Path(path).absolute():
        problems.append(f"--out {out}: is the input file; expected another path (the input is read as it is written)")
    if problems:
        raise UserInputError(problems)
    target = cast("FeedbackKind", to.value)
    with reading_progress(path) as progress:
        stream = open_feedback(path, skip_invalid=skip_invalid, prefer=target, options=options, progress=progress)
        converted = convert_stream(
            stream, target, margin=margin, threshold=threshold, max_pairs_per_prompt=max_pairs_per_prompt
        )
        written = write_records(converted, out)
    _warn_skipped(stream.skipped, stream.accounting.skipped.get("invalid", 0))
    read = stream.accounting
    origin = f"; {read.read:,} records read" if read.read != read.made else ""
    typer.echo(
        f"wrote {written} {converted.kind} records ({converted.format}) to {out} "
        f"from {read.made} {stream.kind} records ({stream.format}{origin})"
        + ("; replaced the previous file" if replaced else "")
    )


def _warn_skipped(skipped: list[str], total: int) -> None:
    for message in skipped[:_MAX_WARNINGS]:
        typer.echo(f"warning: skipped {message}", err=True)
    if total > _MAX_WARNINGS:
        typer.echo(f"warning: ... and {total - _MAX_WARNINGS} more skipped records", err=True)


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
    counts = result.records
    if counts and (counts["read"] != result.rows or counts["skipped"]):
        skipped = ", ".join(f"{reason} {n:,}" for reason, n in counts["skipped"].items())
        summary.add_row(
            "records read", f"{counts['read']:,}: {counts['used']:,} used" + (f", skipped: {skipped}" if skipped else "")
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
    if result.raters is not None:
        r = result.raters
        agreement = "n/a" if r["agreement"] is None else f"{r['agreement']:.3g}"
        summary.add_row(
            "raters",
            f"{r['votes']:,} votes on {r['judged_pairs']:,} pairs ({r['votes_per_pair']:g} per pair), "
            f"{r['ties']:,} ties, agreement {agreement}",
        )
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
    for line in result.made:
        console.print(f"made: {line}", markup=False, highlight=False)
    for line in result.unused:
        console.print(f"not used: {line}", markup=False, highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
