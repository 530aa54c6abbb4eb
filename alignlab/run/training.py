"""One training run, start to finish: what ``alignlab train`` and every sweep trial call.

:func:`run_training` resolves the model and data, builds the algorithm's TRL trainer (LoRA through
PEFT), trains with intermediate evaluations (for pruning), evaluates on held-out data, saves the
adapter and records everything in MLflow. It never raises for a failed run: an out-of-memory error,
a NaN loss or a diverged KL end the run with ``status="failed"`` and a reason, in the result and in
MLflow, and memory is released so the next run in the same process starts clean. Bad input
(UserInputError) is raised before anything is written.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from alignlab.errors import UserInputError
from alignlab.paths import studies_root
from alignlab.run import tracking
from alignlab.run.config import ALIGNLAB_PARAMS, EvalSettings, RunConfig, trl_config_class

Status = Literal["completed", "pruned", "failed"]

#: Called after each intermediate evaluation with (step, metrics); returning True stops the run (pruned).
EvaluateHook = Callable[[int, dict[str, float]], bool]
#: Called after each optimizer step with (step, max_steps).
StepHook = Callable[[int, int], None]


@dataclass
class RunResult:
    """The outcome of one run."""

    name: str
    algorithm: str
    status: Status
    reason: str | None
    """Why a run failed or was pruned, in one line; None when it completed."""
    metrics: dict[str, float]
    """Final held-out evaluation (alignlab.run.config.METRICS keys); empty unless completed."""
    steps: int
    runtime_s: float
    mlflow_run_id: str | None
    output_dir: str | None
    """Folder with the adapter (or full model), config.yaml and metrics.json; None unless completed."""
    history: list[dict[str, float]] = field(default_factory=list)
    """Intermediate evaluations: one dict per evaluation with its ``step``."""
    train_metrics: dict[str, float] = field(default_factory=dict)
    """The last training logs (loss, rewards/accuracies, objective/kl, ...)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunFailed(Exception):
    """Raised inside training to end a run as failed with a reason (NaN loss, diverged KL)."""

    def __init__(self, reason: str, *, metrics: dict[str, float] | None = None) -> None:
        super().__init__(reason)
        self.metrics = metrics or {}


class _Pruned(Exception):
    """Raised inside PPO training to stop a pruned run (PPOTrainer ignores should_training_stop)."""


def run_training(
    config: RunConfig,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    tags: dict[str, str] | None = None,
    reference_cache: dict[str, Any] | None = None,
) -> RunResult:
    """Run one training configuration end to end; see the module docstring.

    ``reference_cache``, kept across the runs of a study, holds what depends only on the reference
    policy (its samples' gold rewards, its log-probs of the held-out pairs), so trials do not redo it.
    """
    from alignlab.run.assets import load_run_data, resolve_model, tokenizer_folder

    started = time.monotonic()
    quiet_libraries()
    model_dir = resolve_model(config.model)
    tok_dir = tokenizer_folder(model_dir)
    data = load_run_data(config.algorithm, config.data, seed=config.seed)
    reward_dir = None
    if config.algorithm == "ppo":
        reward_dir = resolve_model(config.reward_model or "builtin:tiny-rm", what="reward_model")
    output_dir = Path(config.output_dir) if config.output_dir else studies_root() / "runs" / config.name
    cache = (reference_cache if reference_cache is not None else {}).setdefault(str(model_dir), {})

    run_tags = {
        f"{tracking.TAG_PREFIX}algorithm": config.algorithm,
        f"{tracking.TAG_PREFIX}model": config.model,
        f"{tracking.TAG_PREFIX}data": config.data.path or f"task:{config.data.task}",
        f"{tracking.TAG_PREFIX}data_fingerprint": data.fingerprint,
        **(tags or {}),
    }
    state = _RunState()
    result: RunResult
    with tracking.start_run(
        run_name=config.name, tracking_uri=config.tracking_uri, experiment=config.experiment, tags=run_tags
    ) as run_id:
        tracking.log_params(_logged_params(config))
        tracking.log_text(config.to_yaml(), "config.yaml")
        try:
            result = _train_and_evaluate(
                config, model_dir, tok_dir, reward_dir, data, output_dir, cache, state, on_evaluate, on_step
            )
        except _OutOfMemory as exc:
            result = _ended(config, "failed", f"out of memory: {exc}", state, started)
        except RunFailed as exc:
            result = _ended(config, "failed", str(exc), state, started)
            result.metrics = exc.metrics
        except _Pruned:
            result = _ended(config, "pruned", state.prune_reason, state, started)
        finally:
            _release_memory()
        result.mlflow_run_id = run_id
        result.runtime_s = time.monotonic() - started
        tracking.log_metrics({"runtime_s": result.runtime_s, "steps": result.steps})
        tracking.set_tags(
            {
                f"{tracking.TAG_PREFIX}status": result.status,
                f"{tracking.TAG_PREFIX}reason": result.reason or "",
            }
        )
        tracking.end_run("FAILED" if result.status == "failed" else "FINISHED")
    return result


@dataclass
class _RunState:
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    train_metrics: dict[str, float] = field(default_factory=dict)
    pruned: bool = False
    prune_reason: str = "pruned"


class _OutOfMemory(Exception):
    pass


def _ended(config: RunConfig, status: Status, reason: str, state: _RunState, started: float) -> RunResult:
    return RunResult(
        name=config.name,
        algorithm=config.algorithm,
        status=status,
        reason=reason,
        metrics={},
        steps=state.step,
        runtime_s=time.monotonic() - started,
        mlflow_run_id=None,
        output_dir=None,
        history=state.history,
        train_metrics=state.train_metrics,
    )


def _train_and_evaluate(
    config: RunConfig,
    model_dir: Path,
    tok_dir: Path,
    reward_dir: Path | None,
    data: Any,
    output_dir: Path,
    cache: dict[str, Any],
    state: _RunState,
    on_evaluate: EvaluateHook | None,
    on_step: StepHook | None,
) -> RunResult:
    import torch

    from alignlab.models import load_causal_lm, load_tokenizer, resolve_device
    from alignlab.run.evaluation import evaluate_policy, reward_model_accuracy

    torch.manual_seed(config.seed)
    device = resolve_device()
    tokenizer = load_tokenizer(tok_dir)
    scratch = Path(tempfile.mkdtemp(prefix="alignlab-run-"))
    try:
        args = trl_args(config, output_dir=scratch / "trainer", device=device)
        peft_config = _lora_config(config)
        reward_model = value_model = None
        if config.algorithm == "reward":
            from alignlab.run.algorithms.reward import load_reward_backbone

            model = load_reward_backbone(model_dir, tokenizer)
        else:
            model = load_causal_lm(model_dir, device="cpu")
        if config.algorithm == "ppo":
            from alignlab.run.algorithms.reward import load_reward_backbone

            assert reward_dir is not None
            reward_model = load_reward_backbone(reward_dir, tokenizer)
            value_model = load_reward_backbone(reward_dir, tokenizer)
            reward_model.eval().requires_grad_(False)

        trainer: Any = None

        def policy() -> Any:
            return trainer.model.policy if config.algorithm == "ppo" else trainer.model

        def reference() -> Any:
            return getattr(trainer, "ref_model", None)

        def evaluate(settings: EvalSettings) -> dict[str, float]:
            if config.algorithm == "reward":
                return reward_model_accuracy(trainer.model, tokenizer, data.eval_pairs[: settings.n_pairs])
            report = evaluate_policy(
                policy(),
                tokenizer,
                prompts=data.eval_prompts,
                pairs=data.eval_pairs,
                settings=settings,
                gold=data.gold,
                ref_model=reference(),
                reward_model=reward_model,
                reference_cache=cache,
                has_reference=_has_reference(policy(), reference()),
            )
            evaluate.samples = report.samples  # type: ignore[attr-defined]
            return report.metrics

        callbacks = [
            _watchdog(config, state, on_step),
            tracking.metrics_callback(),
        ]
        if config.eval.every_n_steps and on_evaluate is not None:
            callbacks.append(_intermediate_eval(config, state, evaluate, on_evaluate))
        kl_target = config.params.get("kl_target")
        if config.algorithm == "ppo" and kl_target is not None:
            from alignlab.run.algorithms.kl_control import AdaptiveKLController, kl_controller_callback

            controller = AdaptiveKLController(
                kl_coef=float(args.kl_coef),
                target=float(kl_target),
                horizon=int(config.params.get("kl_horizon", 10_000)),
            )
            callbacks.insert(0, kl_controller_callback(controller))

        ref_key = None
        if config.algorithm == "dpo" and config.cache_reference:
            from alignlab.run.algorithms import refcache

            ref_key = refcache.cache_key(model_dir, tok_dir, data.fingerprint, args)
        trainer = _make_trainer(
            config.algorithm,
            model,
            tokenizer,
            data.train,
            args,
            peft_config,
            callbacks,
            reward_model,
            value_model,
            ref_key,
        )
        outcome = getattr(trainer, "alignlab_reference_logps", None)
        if outcome is not None:
            tracking.set_tags({f"{tracking.TAG_PREFIX}reference_logps": outcome})
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)
        try:
            trainer.train()
        except torch.OutOfMemoryError as exc:
            raise _OutOfMemory(str(exc).splitlines()[0]) from None
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise _OutOfMemory(str(exc).splitlines()[0]) from None
            raise
        if state.pruned:
            raise _Pruned()

        final = config.eval
        metrics = evaluate(final)
        samples = getattr(evaluate, "samples", [])
        tracking.log_metrics(metrics, step=state.step, prefix="eval/")
        kl = metrics.get("kl")
        if kl is not None and (not math.isfinite(kl) or kl > config.max_kl):
            raise RunFailed(
                f"KL diverged: {kl:.3g} nats per response after training (max_kl={config.max_kl})",
                metrics=metrics,
            )
        if samples:
            tracking.log_table(samples, "eval_samples.json")
        _save_outputs(trainer, tokenizer, config, metrics, output_dir, state)
        tracking.log_artifacts(output_dir, "outputs")
        result = RunResult(
            name=config.name,
            algorithm=config.algorithm,
            status="completed",
            reason=None,
            metrics=metrics,
            steps=state.step,
            runtime_s=0.0,
            mlflow_run_id=None,
            output_dir=str(output_dir),
            history=state.history,
            train_metrics=state.train_metrics,
        )
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _make_trainer(
    algorithm: str,
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    args: Any,
    peft_config: Any,
    callbacks: list[Any],
    reward_model: Any,
    value_model: Any,
    reference_cache_key: str | None = None,
) -> Any:
    if algorithm == "ppo":
        from alignlab.run.algorithms import ppo

        return ppo.make_trainer(
            model,
            tokenizer,
            rows,
            args,
            peft_config=peft_config,
            callbacks=callbacks,
            reward_model=reward_model,
            value_model=value_model,
        )
    import importlib

    module = importlib.import_module(f"alignlab.run.algorithms.{algorithm}")
    extra = {"reference_cache_key": reference_cache_key} if reference_cache_key is not None else {}
    return module.make_trainer(
        model, tokenizer, rows, args, peft_config=peft_config, callbacks=callbacks, **extra
    )


def trl_args(config: RunConfig, *, output_dir: Path, device: str) -> Any:
    """The algorithm's TRL config: alignlab's device-aware settings, then the run's params by TRL name.

    On CUDA bf16; on CPU fp32 and no gradient checkpointing (TRL defaults to bf16 and fails on CPU).
    Logging goes through alignlab's MLflow callback (``report_to="none"``); nothing is checkpointed.
    """
    cls = trl_config_class(config.algorithm)
    extras = ALIGNLAB_PARAMS.get(config.algorithm, {})
    params = {k: v for k, v in config.params.items() if k not in extras}
    cuda = device == "cuda"
    max_steps = int(params.get("max_steps", -1))
    settings: dict[str, Any] = {
        "output_dir": str(output_dir),
        "report_to": "none",
        "bf16": cuda,
        "fp16": False,
        "use_cpu": not cuda,
        "seed": config.seed,
        "data_seed": config.seed,
        "save_strategy": "no",
        "logging_steps": max(1, max_steps // 25) if max_steps > 0 else 10,
        "disable_tqdm": True,
        "gradient_checkpointing": cuda and config.model == "smollm2-135m",
        "dataloader_num_workers": 0,
    }
    if config.algorithm == "ppo":
        settings.update(num_sample_generations=0, stop_token="eos")
        if "kl_target" in config.params:
            settings["kl_estimator"] = (
                "k3"  # k1 per batch is noisy and goes negative: a poor controller input
            )
    settings.update(params)
    if config.algorithm == "dpo" and isinstance(settings.get("loss_type"), str):
        settings["loss_type"] = [settings["loss_type"]]  # a list in trl 1.12
    try:
        return cls(**settings)
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"{config.name}: params: TRL's {cls.__name__} refused them: {exc}") from None


def _lora_config(config: RunConfig) -> Any:
    if config.lora is None:
        return None
    from peft import LoraConfig

    lora = config.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=lora.target_modules,
        task_type="SEQ_CLS" if config.algorithm == "reward" else "CAUSAL_LM",
    )


def _has_reference(policy: Any, ref_model: Any) -> bool:
    return ref_model is not None or hasattr(policy, "disable_adapter")


def _logged_params(config: RunConfig) -> dict[str, Any]:
    """Params as MLflow shows them: TRL names, PEFT names for LoRA, and the run's settings."""
    params: dict[str, Any] = {
        "algorithm": config.algorithm,
        "model": config.model,
        "seed": config.seed,
        **config.params,
    }
    if config.lora is not None:
        params.update(config.lora.model_dump())
    else:
        params["lora"] = "none (full fine-tuning)"
    return params


def _watchdog(config: RunConfig, run: _RunState, on_step: StepHook | None) -> Any:
    """Tracks the step and the last logs; ends the run on a NaN/inf loss or a KL above max_kl."""
    from transformers import TrainerCallback

    class Watchdog(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            run.step = int(state.global_step)
            if on_step is not None:
                on_step(run.step, int(state.max_steps or args.max_steps or 0))

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if not logs:
                return
            run.step = int(state.global_step)
            numeric = {
                k: float(v) for k, v in logs.items() if isinstance(v, int | float) and not isinstance(v, bool)
            }
            run.train_metrics.update(numeric)
            for key, value in numeric.items():
                if (key == "loss" or key.startswith("loss/")) and not math.isfinite(value):
                    raise RunFailed(f"loss is {value} at step {run.step} ({key}); lower the learning rate")
            kl = numeric.get("objective/kl")
            if kl is not None and (not math.isfinite(kl) or kl > config.max_kl):
                raise RunFailed(
                    f"KL diverged: {kl:.3g} nats per response at step {run.step} (max_kl={config.max_kl})"
                )

    return Watchdog()


def _intermediate_eval(
    config: RunConfig,
    run: _RunState,
    evaluate: Callable[[EvalSettings], dict[str, float]],
    on_evaluate: EvaluateHook,
) -> Any:
    """Every eval.every_n_steps: a cheaper evaluation (fewer prompts and samples), reported to ``on_evaluate``."""
    from transformers import TrainerCallback

    every = int(config.eval.every_n_steps or 0)
    quick = config.eval.model_copy(
        update={
            "n_prompts": min(config.eval.n_prompts, 32),
            "samples_per_prompt": min(config.eval.samples_per_prompt, 2),
            "n_pairs": min(config.eval.n_pairs, 64),
        }
    )
    is_ppo = config.algorithm == "ppo"

    class IntermediateEval(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = int(state.global_step)
            if step == 0 or step % every or (state.max_steps and step >= state.max_steps):
                return
            metrics = evaluate(quick)
            run.history.append({"step": step, **metrics})
            tracking.log_metrics(metrics, step=step, prefix="eval/")
            kl = metrics.get("kl")
            if kl is not None and (not math.isfinite(kl) or kl > config.max_kl):
                raise RunFailed(
                    f"KL diverged: {kl:.3g} nats per response at step {step} (max_kl={config.max_kl})"
                )
            if on_evaluate(step, metrics):
                run.pruned = True
                run.prune_reason = f"pruned at step {step}"
                if is_ppo:
                    raise _Pruned()
                control.should_training_stop = True

    return IntermediateEval()


def _save_outputs(
    trainer: Any,
    tokenizer: Any,
    config: RunConfig,
    metrics: dict[str, float],
    output_dir: Path,
    state: _RunState,
) -> None:
    """Adapter (or full model), tokenizer, config.yaml and metrics.json, written atomically."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        model = trainer.model.policy if config.algorithm == "ppo" else trainer.model
        model.save_pretrained(tmp / ("adapter" if config.lora is not None else "model"))
        tokenizer.save_pretrained(tmp / ("adapter" if config.lora is not None else "model"))
        (tmp / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        (tmp / "metrics.json").write_text(
            json.dumps({"steps": state.step, **metrics}, indent=2), encoding="utf-8"
        )
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def quiet_libraries() -> None:
    """Silence the progress bars and INFO chatter of datasets, transformers and MLflow (the library never prints)."""
    import logging
    import warnings

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # TRL's own bars (reference log-probs) read only this
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(trl|transformers|peft)\..*")


def _release_memory() -> None:
    """Free what a run held so the next run in this process starts clean."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass
