"""Local Hugging Face dataset folders, read offline: ``save_to_disk`` folders (a Dataset, or a
DatasetDict whose split ``split`` picks), and downloaded dataset snapshots (a folder of data files such as
``data/train-00000-of-00001.parquet``, its splits and configurations as the ``datasets`` library infers
them from the file names and the README's ``configs``).

A folder with one split is read without ``split``; with several, ``split`` is required (the error lists
them). Rows are streamed: Arrow-backed datasets batch by batch, data files with the streaming readers of
:mod:`alignlab.data.readers`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignlab.data.readers import EXTENSIONS, RawRecord, Source, open_file
from alignlab.errors import UserInputError

_BATCH = 1024
_NOT_A_DATASET = (
    "a folder, but not one written by datasets' save_to_disk (no state.json), and no data files were found in "
    "it; expected a data file, a save_to_disk folder, or a downloaded dataset snapshot with data files "
    "(e.g. data/train-00000-of-00001.parquet)"
)


def open_folder(p: Path, name: str, *, split: str | None) -> Source:
    """A dataset folder as a :class:`~alignlab.data.readers.Source` (see the module docstring)."""
    if (p / "dataset_dict.json").exists():
        splits = sorted(child.name for child in p.iterdir() if (child / "state.json").exists())
        chosen = _pick(splits, split, name, what="a saved DatasetDict", folders=True)
        return _saved(p / chosen, f"{name.rstrip('/')}/{chosen}")
    if (p / "state.json").exists():
        if split is not None:
            raise UserInputError(f"{name}: --split {split}: a saved Dataset (not a DatasetDict) has no splits")
        return _saved(p, name)
    return _snapshot(p, name, split)


def _pick(splits: list[str], split: str | None, name: str, *, what: str, folders: bool) -> str:
    if split is not None:
        if split not in splits:
            raise UserInputError(f"{name}: --split {split}: no such split (the splits are {', '.join(splits) or 'none'})")
        return split
    if len(splits) == 1:
        return splits[0]
    example = splits[0] if splits else "train"
    folder = f" or pass one split's folder, e.g. {name.rstrip('/')}/{example}" if folders else ""
    raise UserInputError(
        f"{name}: {what} with splits {', '.join(splits) or '(none)'}; pass one with --split "
        f"(e.g. --split {example}){folder}"
    )


def _saved(p: Path, name: str) -> Source:
    import datasets

    try:
        with _quiet():
            dataset = datasets.load_from_disk(str(p))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise UserInputError(f"{name}: cannot load the saved dataset ({exc})") from None
    if isinstance(dataset, datasets.DatasetDict):  # pragma: no cover - caught above by dataset_dict.json
        raise UserInputError(f"{name}: a DatasetDict; pass --split")
    done = [0]

    def rows() -> Iterator[RawRecord]:
        for batch in dataset.iter(batch_size=_BATCH):
            columns = list(batch)
            for values in zip(*(batch[c] for c in columns), strict=True):
                done[0] += 1
                yield RawRecord(f"{name} row {done[0]}", dict(zip(columns, values, strict=True)))
        if not done[0]:
            raise UserInputError(f"{name}: the saved dataset has no rows (expected at least one record)")

    return Source(name, rows(), total=dataset.num_rows, unit="rows", position=lambda: done[0])


def _snapshot(p: Path, name: str, split: str | None) -> Source:
    files = _data_files(p, name)
    if files is None:
        raise UserInputError(f"{name}: {_NOT_A_DATASET}")
    chosen = _pick(sorted(files), split, name, what="a dataset folder", folders=False)
    paths = [Path(f) for f in files[chosen]]
    unknown = [f for f in paths if _kind(f) is None]
    if unknown:
        raise UserInputError(
            f"{name}: split {chosen} holds {unknown[0].name}, which alignlab cannot read "
            f"(expected {', '.join(sorted(EXTENSIONS))} files)"
        )
    total = sum(f.stat().st_size for f in paths)
    done = [0]
    current: list[Source] = []

    def position() -> int:
        return done[0] + (current[0].position() if current else 0)

    def rows() -> Iterator[RawRecord]:
        for f in paths:
            current[:] = [open_file(f, _relative(f, p, name), kind=_kind(f))]
            yield from current[0]
            done[0] += f.stat().st_size
            current.clear()

    return Source(name, rows(), total=total, unit="bytes", position=position)


def _data_files(p: Path, name: str) -> dict[str, list[str]] | None:
    """Split -> data files, as ``datasets`` resolves a local folder (None when it holds none)."""
    import datasets

    try:
        with _quiet():
            builder = datasets.load_dataset_builder(str(p))
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "config" in first.lower():
            raise UserInputError(f"{name}: {first}") from None
        return None
    except (FileNotFoundError, OSError, datasets.exceptions.DatasetNotFoundError):
        return None
    data_files = builder.config.data_files
    if not data_files:
        return None
    return {str(k): [str(f) for f in v] for k, v in data_files.items()}


def _kind(f: Path) -> str | None:
    suffixes = [s.lower() for s in f.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _relative(f: Path, root: Path, name: str) -> str:
    try:
        return f"{name.rstrip('/')}/{f.resolve().relative_to(root.resolve())}"
    except ValueError:
        return str(f)


@contextlib.contextmanager
def _quiet() -> Iterator[Any]:
    """datasets and huggingface_hub log to stderr ("Repo card metadata block was not found") and draw
    progress bars; the library never prints."""
    import datasets

    loggers = [logging.getLogger(name) for name in ("datasets", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    bars = not datasets.utils.are_progress_bars_disabled()
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    datasets.utils.disable_progress_bars()
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if bars:
            datasets.utils.enable_progress_bars()
