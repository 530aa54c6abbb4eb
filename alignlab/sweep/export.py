"""The best trial as a file to train from: alignlab's run config, a TRL CLI config, or a LLaMA-Factory YAML.

:func:`export_best` writes one of :data:`FORMATS`, atomically (one call to alignlab.paths.write_atomic):

- ``alignlab``: the trial's run config, which ``alignlab train FILE`` runs (for longer, or on all the data,
  when asked);
- ``trl``: the YAML that ``trl dpo|kto|reward|sft|grpo|rloo --config FILE`` reads (alignlab.sweep.export_trl);
- ``llamafactory``: a LLaMA-Factory training YAML, ``llamafactory-cli train FILE``
  (alignlab.sweep.export_llamafactory).

What the target format cannot express (alignlab's held-out evaluation, its adaptive KL controller, a
built-in model name, data in a shape the tool does not read, ...) is listed, one line per setting, in
:attr:`Exported.unexpressed` and in a comment block at the top of the file: never dropped silently.

The helpers below are what both other formats need: a model reference as a local folder
(:func:`model_folder`, never building a built-in model) and the training data as a file the tool reads
(:func:`data_source`). A built-in tiny model keeps its tokenizer in a folder of its own, where no other
tool looks: its export gets a copy of the model with the tokenizer in it, written beside the file
(``best-tiny-sft/`` beside ``best.yaml``), and names that folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from alignlab.errors import UserInputError
from alignlab.paths import cache_dir, write_atomic
from alignlab.run.config import RunConfig

if TYPE_CHECKING:
    from alignlab.sweep.best import BestTrial

ExportFormat = Literal["alignlab", "trl", "llamafactory"]
#: The formats ``alignlab best NAME --export FILE --format F`` writes.
FORMATS: tuple[str, ...] = ("alignlab", "trl", "llamafactory")


@dataclass
class Exported:
    """What :func:`export_best` wrote."""

    path: Path
    format: str
    command: str
    """How to train from the file, e.g. ``trl dpo --config best.yaml``."""
    unexpressed: list[str]
    """What the format cannot say, one line per setting: ``setting: what the file does instead``."""
    folders: list[Path] = field(default_factory=list)
    """Model folders written beside the file (a built-in model with its tokenizer)."""


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


def export_best(
    best: BestTrial,
    path: str | Path,
    *,
    name: str,
    format: str = "alignlab",
    max_steps: int | None = None,
    full_data: bool = False,
    overwrite: bool = True,
) -> Exported:
    """Write the best trial's configuration to ``path`` in ``format`` (one of :data:`FORMATS`).

    ``max_steps`` trains longer, ``full_data`` drops the sweep's ``max_examples`` cap. With
    ``overwrite=False`` an existing file is an error. Raises UserInputError (nothing written) for an
    unknown format, a trial without a run config, or an algorithm the format has no trainer for.
    """
    if format not in FORMATS:
        raise UserInputError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    target = Path(path)
    if not overwrite and target.exists():
        raise UserInputError(f"{target}: already exists (expected a new file; --force replaces it)")
    config = run_config_of(best, name=name, max_steps=max_steps, full_data=full_data)
    rendered = _renderer(format)(config, target)
    copies = list({c.target: c for c in rendered.copies}.values())
    if not overwrite and (taken := [c.target for c in copies if c.target.exists()]):
        raise UserInputError(
            [f"{t}: already exists (the export writes the model folder there; --force replaces it)" for t in taken]
        )
    lines = [f"# Best trial {best.number}: {best.rule}"]
    if format != "alignlab":
        lines.append(f"# Exported by alignlab as a {format} config. Train: {rendered.command}")
    if rendered.unexpressed:
        lines.append(f"# Not expressible as a {format} config (alignlab's run did this; this file does not):")
        lines += [f"#   - {line}" for line in rendered.unexpressed]
    lines += [f"# {line}" if line else "#" for line in rendered.notes]
    body = yaml.safe_dump(rendered.settings, sort_keys=False, allow_unicode=True)
    for copy in copies:
        _write_model_copy(copy)
    write_atomic(target, "\n".join(lines) + "\n" + body)
    return Exported(target, format, rendered.command, list(rendered.unexpressed), [c.target for c in copies])


def _write_model_copy(copy: ModelCopy) -> None:
    """The model's files and its tokenizer's in one folder, written whole (a temporary folder beside it,
    renamed; an older folder replaced)."""
    import shutil
    import tempfile

    from alignlab.errors import UserInputError
    from alignlab.paths import file_mode, folder_mode, os_problem

    copy.target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{copy.target.name}-", dir=copy.target.parent))
        try:
            for folder in (copy.source, copy.tokenizer):
                for item in folder.iterdir():
                    if item.is_file():
                        shutil.copy2(item, tmp / item.name)
            for item in tmp.iterdir():
                item.chmod(file_mode())
            tmp.chmod(folder_mode())
            if copy.target.exists():
                shutil.rmtree(copy.target)
            tmp.rename(copy.target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise UserInputError(os_problem(exc, copy.target)) from None



def run_config_of(
    best: BestTrial, *, name: str, max_steps: int | None = None, full_data: bool = False
) -> RunConfig:
    """The best trial's run config renamed ``name``, without the study's output folder and experiment."""
    raw = dict(best.run_config)
    if not raw:
        raise UserInputError(f"trial {best.number}: the study recorded no run config to export")
    raw["name"] = name
    raw.pop("output_dir", None)
    raw.pop("experiment", None)
    if max_steps is not None:
        raw["params"] = {**raw.get("params", {}), "max_steps": max_steps}
    if full_data:
        raw["data"] = {k: v for k, v in raw.get("data", {}).items() if k != "max_examples"}
    return RunConfig.model_validate(raw)


def _renderer(format: str) -> Callable[[RunConfig, Path], Rendered]:
    from alignlab.sweep import export_llamafactory, export_trl

    renderers: dict[str, Callable[[RunConfig, Path], Rendered]] = {
        "alignlab": _alignlab,
        "trl": export_trl.render,
        "llamafactory": export_llamafactory.render,
    }
    return renderers[format]


def _alignlab(config: RunConfig, path: Path) -> Rendered:
    return Rendered(config.to_dict(), f"alignlab train {path}")


# ---- what the other formats share ---------------------------------------------------------------------


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
