"""`alignlab validate FILE...`: check sweep files and run configs without training or writing anything."""

from __future__ import annotations

from pathlib import Path

import typer

from alignlab.cli.errors import handle_errors


@handle_errors
def validate(
    files: list[Path] = typer.Argument(..., help="Sweep files and run configs (YAML), e.g. sweeps/*.yaml."),
) -> None:
    """Check sweep files and run configs the way `sweep run` and `train` do before training: schema, TRL
    fields, model and data references, the data file read. Every problem at once; exit 0 or 2."""
    from alignlab.errors import UserInputError
    from alignlab.validate import validate_files

    checks = validate_files(files)
    for warning in (w for c in checks if c.ok for w in c.warnings):  # advice on a file that is otherwise right
        typer.echo(f"warning: {warning}", err=True)
    for check in (c for c in checks if c.ok):
        typer.echo(
            f"ok: {check.path}: {check.kind} {check.name} ({', '.join(check.algorithms)}): {', '.join(check.checked)}"
        )
    problems = list(dict.fromkeys(p for c in checks for p in c.problems))  # a studies root's, once
    if problems:
        raise UserInputError(problems)
