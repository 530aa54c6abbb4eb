"""Files a command writes where the user said (``--out``, ``--csv``, ``--export``, ``--write-sweep``):
checked before any work is done, and an existing file replaced only with ``--force``.

Every problem at once, one line each, naming the option and the path: a folder where a file should
go, a folder that cannot be written or created (:func:`alignlab.destinations.file_problems`: read-only,
no permission, a file in the way), an existing file without ``--force``, and ``--force`` given without
a path to write. The writes themselves are atomic and honour the umask (:mod:`alignlab.paths`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

FORCE_HELP = "Replace the output file if it exists (without it, an existing file is an error)."


def check_outputs(targets: Sequence[tuple[str, Path]], *, force: bool) -> list[Path]:
    """Check each ``(option, path)`` (``option`` may be ``""``) before anything is read or written; raise
    :class:`~alignlab.errors.UserInputError` with every problem. Returns the paths that exist and will
    be replaced (only possible with ``force``)."""
    from alignlab.destinations import file_problems
    from alignlab.errors import UserInputError

    problems: list[str] = []
    existing: list[Path] = []
    for option, path in targets:
        target = Path(path).expanduser()
        key = f"{option} {path}" if option else str(path)
        found = file_problems(target, key=key)
        problems += found
        if found or not (target.exists() or target.is_symlink()):
            continue
        if force:
            existing.append(target)
        else:
            problems.append(f"{key}: the file exists (add --force to replace it)")
    if problems:
        raise UserInputError(problems)
    return existing


def check_force(force: bool, *, option: str, given: bool) -> None:
    """``--force`` means something only with the output option it applies to."""
    if force and not given:
        from alignlab.errors import UserInputError

        raise UserInputError(f"--force: replaces the file of {option}, but {option} was not given")


def wrote(path: Path | str, *, replaced: bool) -> str:
    """``"wrote PATH"``, or ``"replaced PATH"`` when a previous file was there."""
    return f"{'replaced' if replaced else 'wrote'} {path}"
