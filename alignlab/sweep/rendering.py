"""What the renderings of a run config for other tools share (alignlab.sweep.export_trl,
alignlab.sweep.export_llamafactory): what a renderer returns (:class:`Rendered`), the model as a local
folder (:func:`model_folder`, never building a built-in model) and the training data as a file the tool
reads (:func:`data_source`).

A built-in tiny model keeps its tokenizer in a folder of its own, where no other tool looks: its export
gets a copy of the model with the tokenizer in it, written beside the file (``best-tiny-sft/`` beside
``best.yaml``, :class:`ModelCopy`), and names that folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.paths import cache_dir
from alignlab.run.config import RunConfig


@dataclass(frozen=True)
class ModelCopy:
    """A built-in model's folder and its tokenizer, to be written together as one folder beside an export."""

    source: Path
    tokenizer: Path
    target: Path


@dataclass
class Rendered:
    """A format's rendering of a run config: the YAML mapping, how to run it, what it leaves out."""

    settings: dict[str, Any]
    command: str
    unexpressed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """More comment lines for the file's header (e.g. the dataset_info.json entry LLaMA-Factory needs)."""
    copies: list[ModelCopy] = field(default_factory=list)
    """Model folders to write beside the file before it (:func:`model_folder` with ``beside``)."""



@dataclass
class Location:
    """A model or data reference as another tool can load it."""

    value: str
    """A local path (absolute) when there is one, else the reference as the run config gives it."""
    unexpressed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    copy: ModelCopy | None = None
    """The folder to write for it beside the export (a built-in model with its tokenizer)."""


def model_folder(reference: str, *, what: str = "model", beside: Path | None = None) -> Location:
    """A model reference as a local folder: a folder (made absolute), or the folder a built-in name was
    built into on this machine (export never builds one). The built-in tiny models keep their tokenizer
    in a folder of its own, which other tools do not look in: with ``beside`` (the export's path) the
    location is a copy of the model with its tokenizer, ``<export stem>-<name>/`` beside it
    (:attr:`Location.copy`, written by :func:`export_best`); without, that is said in ``unexpressed``."""
    builtin = _builtin_folders()
    if reference in builtin:
        folder, tokenizer = builtin[reference]
        if not (folder / "config.json").is_file():
            return Location(
                reference,
                [
                    f"{what} {reference}: alignlab's built-in model is not built on this machine "
                    "(alignlab train builds it); the file names it as is, which no other tool loads"
                ],
            )
        if tokenizer is not None and beside is not None:
            target = beside.parent.resolve() / f"{beside.stem}-{reference.removeprefix('builtin:')}"
            return Location(
                str(target),
                notes=[f"{what} {reference}: written to {target} with its tokenizer (alignlab keeps them apart)"],
                copy=ModelCopy(folder, tokenizer, target),
            )
        notes = []
        if tokenizer is not None:
            notes.append(
                f"{what} {reference}: is {folder}, whose tokenizer is in {tokenizer} (not in the model "
                "folder, where other tools look): copy the tokenizer files into the model folder"
            )
        return Location(str(folder), notes)
    path = Path(reference).expanduser()
    if not path.is_dir():
        return Location(reference, [f"{what} {reference}: no such folder on this machine; named as is"])
    return Location(str(path.resolve()))


def _builtin_folders() -> dict[str, tuple[Path, Path | None]]:
    """Built-in model names -> (the folder they are built into, the tokenizer folder when it is apart)."""
    from alignlab.task.build import task_paths

    task = task_paths(cache_dir())
    return {
        "builtin:tiny": (task.base_model_dir, task.tokenizer_dir),
        "builtin:tiny-sft": (task.sft_model_dir, task.tokenizer_dir),
        "builtin:tiny-rm": (task.root / "reward", task.tokenizer_dir),
        "smollm2-135m": (cache_dir() / "smollm2-135m-instruct", None),
    }


@dataclass
class DataSource:
    """The training data of a run as a file: where it is, and what alignlab read it as."""

    path: Path | None
    """The file (absolute), or None when the data is not one file another tool could read."""
    format: str | None = None
    """alignlab's name for its shape (alignlab.data.formats), e.g. ``trl-standard``."""
    kind: str | None = None
    """The feedback it holds: pairwise, binary, scalar or prompt."""
    first: dict[str, Any] = field(default_factory=dict)
    """The first record as stored in the file (to tell string prompts from message lists)."""
    unexpressed: list[str] = field(default_factory=list)


#: The feedback file of the built-in task an algorithm's training rows come from, by its TRAIN_KIND
#: (alignlab.run.assets.load_run_data: prompts are those of the pairwise file; SFT rows are generated).
BUILTIN_FEEDBACK: dict[str, str | None] = {"pairwise": "pairwise", "binary": "binary", "prompt": "pairwise", "sft": None}


def data_source(config: RunConfig, train_kind: str) -> DataSource:
    """The run's training data as one file, and what of alignlab's reading of it another tool misses:
    the held-out split, label noise, a column mapping, ranking or attribute options."""
    data = config.data
    lost: list[str] = []
    if data.label_noise > 0:
        lost.append(f"data.label_noise={data.label_noise}: alignlab flips that fraction of labels itself")
    if data.task == "builtin":
        kind = BUILTIN_FEEDBACK.get(train_kind)
        if kind is None or (train_kind == "binary" and data.binary_from == "pairs"):
            what = "SFT corpus" if kind is None else "pairs split into desirable/undesirable rows"
            return DataSource(None, unexpressed=[f"data: the built-in task's {what} is made by alignlab, not a file"])
        from alignlab.task.build import task_paths

        file = task_paths(cache_dir()).feedback[kind]
        if not file.is_file():
            return DataSource(None, unexpressed=[*lost, "data: the built-in task is not built on this machine"])
        source = _detect(file, config, lost)
        return source
    assert data.path is not None
    if data.eval_fraction:
        lost.append(
            f"data.eval_fraction={data.eval_fraction}: alignlab held out that fraction of the prompts for its "
            "evaluation; this file trains on every row"
        )
    options = {k: v for k, v in data.read_options().items() if v not in (None, "all")}
    if options:
        lost.append(f"data: {', '.join(options)} say how alignlab reads {data.path}; convert the file first")
    return _detect(Path(data.path).expanduser(), config, lost)


def _detect(file: Path, config: RunConfig, lost: list[str]) -> DataSource:
    from alignlab.data import open_feedback
    from alignlab.data.sources import open_source

    try:
        stream = open_feedback(file, **config.data.read_options())
        first = next((r.value for r in open_source(file) if isinstance(r.value, dict)), {})
    except UserInputError as exc:
        return DataSource(None, unexpressed=[*lost, f"data: {exc.problems[0]}"])
    return DataSource(file.resolve(), stream.format_spec.name, stream.kind, dict(first), lost)


def convert_hint(config: RunConfig, kind: str, why: str) -> str:
    """The line saying how to make the run's data a file the target reads."""
    source = config.data.path or "the built-in task"
    if kind == "sft":  # alignlab fine-tunes on a file's chosen or desirable completions
        return f"data: {source} is {why}: write its chosen completions as prompt/completion rows"
    return f"data: {source} is {why}: convert it (alignlab data convert {source} --to {kind} --out FILE)"
