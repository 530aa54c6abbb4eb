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

What both other formats share (a model reference as a local folder, the training data as a file the tool
reads, the built-in model's copy written beside the file) is in alignlab.sweep.rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from alignlab.errors import UserInputError
from alignlab.paths import write_atomic
from alignlab.run.config import RunConfig
from alignlab.sweep import export_llamafactory, export_trl
from alignlab.sweep.rendering import ModelCopy, Rendered

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
    renderers: dict[str, Callable[[RunConfig, Path], Rendered]] = {
        "alignlab": _alignlab,
        "trl": export_trl.render,
        "llamafactory": export_llamafactory.render,
    }
    return renderers[format]


def _alignlab(config: RunConfig, path: Path) -> Rendered:
    return Rendered(config.to_dict(), f"alignlab train {path}")
