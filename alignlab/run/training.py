"""alignlab's trainer (TRL): one training run, start to finish, without MLflow of its own.

:func:`train` reads top to bottom: setup (model, data, the algorithm's TRL config, LoRA, its models,
callbacks and trainer), train (with intermediate evaluations for pruning), evaluate on held-out data, and
save the adapter. It is a :class:`~alignlab.run.trainer.Trainer`: what it measures goes to the
:class:`~alignlab.run.trainer.RunLog` its runner hands in (intermediate metrics, the trainer's logs, the
data fingerprint and reward tags) and into the :class:`RunResult` it returns, which the runner
(alignlab.run.runner) records. :func:`run_training` is the two together: what ``alignlab train`` and
every sweep trial run. What differs between algorithms is asked of the algorithm's module
(alignlab.run.algorithms); nothing here branches on an algorithm's name.

It never raises for a failed run: an out-of-memory error, a NaN loss or a diverged KL end the run with
``status="failed"`` and a reason, and memory is released so the next run in the same process starts
clean. Bad input (UserInputError) is raised before the first call to the log, so nothing is written.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from alignlab.errors import UserInputError
from alignlab.paths import folder_mode, studies_root
from alignlab.run.algorithms import Algorithm, Models, Setup, algorithm_of
from alignlab.run.callbacks import (
    RunFailed,
    RunPruned,
    RunState,
    check_kl,
    intermediate_eval,
    train_logs,
    watchdog,
)
from alignlab.run.config import EvalSettings, RunConfig
from alignlab.run.judges import judge_of_run
from alignlab.run.rewards import Reward, resolve_reward
from alignlab.run.runner import run_tracked
from alignlab.run.trainer import NO_LOG, EvaluateHook, RunLog, RunResult, Status, StepHook

#: What depends only on a reference model (its samples' gold rewards, its log-probs of the held-out
#: pairs), by reference model folder, kept for the life of the process so trials do not redo it.
_REFERENCE_MEMO: dict[str, dict[str, Any]] = {}


class _OutOfMemory(Exception):
    pass


def run_training(
    config: RunConfig,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    tags: dict[str, str] | None = None,
) -> RunResult:
    """Run one training configuration end to end and record it in MLflow: :func:`train` inside its
    runner (:func:`alignlab.run.runner.run_tracked`), which owns the MLflow run."""
    return run_tracked(config, train, on_evaluate=on_evaluate, on_step=on_step, tags=tags)


def train(
    config: RunConfig,
    *,
    on_evaluate: EvaluateHook | None = None,
    on_step: StepHook | None = None,
    log: RunLog | None = None,
) -> RunResult:
    """Train, evaluate and save one run config with TRL; see the module docstring."""
    from alignlab.run.assets import load_run_data, resolve_model, tokenizer_folder
    from alignlab.run.trained_rm import shares, staged_reward_model

    log = log or NO_LOG
    started = time.monotonic()
    quiet_libraries()
    algorithm = algorithm_of(config.algorithm)
    model_dir = resolve_model(config.model)
    tok_dir = tokenizer_folder(model_dir)
    data = load_run_data(algorithm.TRAIN_KIND, config.data, seed=config.seed, **shares(config))
    staged = staged_reward_model(config, data, model_dir, tok_dir) if algorithm.NEEDS_REWARD_MODEL else None
    reward = resolve_reward(config, gold=data.gold, trained=staged) if algorithm.NEEDS_REWARD_MODEL else None
    output_dir = Path(config.output_dir) if config.output_dir else studies_root() / "runs" / config.name

    # The inputs are checked: the runner's MLflow run starts with these tags.
    log.tags({"data_fingerprint": data.fingerprint, **({"reward": reward.source} if reward is not None else {})})
    state = RunState()
    timings: dict[str, float] = {}
    result: RunResult
    try:
        result = _train_and_evaluate(
            config, algorithm, model_dir, tok_dir, reward, data, output_dir, state, timings, on_evaluate, on_step, log
        )
    except _OutOfMemory as exc:
        result = _ended(config, "failed", f"out of memory: {exc}", state)
    except RunFailed as exc:
        result = _ended(config, "failed", str(exc), state)
    except RunPruned:
        result = _ended(config, "pruned", state.prune_reason, state)
    finally:
        _release_memory()
    result.runtime_s = time.monotonic() - started
    return result


def _ended(
    config: RunConfig,
    status: Status,
    reason: str,
    state: RunState,
    *,
    metrics: dict[str, float] | None = None,
    timings: dict[str, float] | None = None,
) -> RunResult:
    return RunResult(
        name=config.name,
        algorithm=config.algorithm,
        status=status,
        reason=reason,
        metrics=metrics or {},
        steps=state.step,
        runtime_s=0.0,
        mlflow_run_id=None,
        output_dir=None,
        history=state.history,
        train_metrics=state.train_metrics,
        timings=_rounded(timings or {}),
    )


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}


def _train_and_evaluate(
    config: RunConfig,
    algorithm: Algorithm,
    model_dir: Path,
    tok_dir: Path,
    reward: Reward | None,
    data: Any,
    output_dir: Path,
    state: RunState,
    timings: dict[str, float],
    on_evaluate: EvaluateHook | None,
    on_step: StepHook | None,
    log: RunLog,
) -> RunResult:
    import torch

    from alignlab.models import load_tokenizer, resolve_device

    # ---- setup: the algorithm's models, TRL config, callbacks and trainer ----
    torch.manual_seed(config.seed)
    device = resolve_device()
    tokenizer = load_tokenizer(tok_dir)
    memo = _REFERENCE_MEMO.setdefault(str(model_dir), {})
    judge = judge_of_run(config, data, model_dir, tok_dir)
    timings.update(judge_s=0.0, judge_train_s=judge.train_seconds if judge is not None else 0.0)
    scratch = Path(tempfile.mkdtemp(prefix="alignlab-run-"))
    try:
        args = trl_args(config, output_dir=scratch / "trainer", device=device)
        models: Models = algorithm.load_models(model_dir, reward, tokenizer)
        setup = Setup(
            config=config,
            model_dir=model_dir,
            tokenizer_dir=tok_dir,
            tokenizer=tokenizer,
            rows=data.train,
            data_fingerprint=data.fingerprint,
            args=args,
            peft_config=_lora_config(config, algorithm),
            callbacks=[],
            judge=judge,
        )
        trainer: Any = None
        samples: list[dict[str, Any]] = []
        units: dict[str, dict[str, Any]] = {}

        def evaluate(settings: EvalSettings) -> dict[str, float]:
            report = algorithm.evaluate(trainer, models, setup, data, settings, memo)
            timings["judge_s"] += report.judge_seconds
            samples[:] = report.samples
            units.clear()
            units.update(report.units)
            return report.metrics

        setup.callbacks = [
            *algorithm.callbacks(config, args),
            watchdog(config, state, on_step),
            train_logs(log),
        ]
        if config.eval.every_n_steps and on_evaluate is not None:
            setup.callbacks.append(intermediate_eval(config, algorithm, state, evaluate, on_evaluate, log))
        built = algorithm.make_trainer(setup, models)
        trainer = built.trainer
        if built.tags:
            log.tags(built.tags)
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)

        # ---- train ----
        started = time.monotonic()
        try:
            trainer.train()
        except torch.OutOfMemoryError as exc:
            raise _OutOfMemory(str(exc).splitlines()[0]) from None
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise _OutOfMemory(str(exc).splitlines()[0]) from None
            raise
        timings["train_s"] = time.monotonic() - started
        if state.pruned:
            raise RunPruned()

        # ---- evaluate on held-out data ----
        started = time.monotonic()
        metrics = evaluate(config.eval)
        timings["eval_s"] = time.monotonic() - started
        try:
            check_kl(metrics.get("kl"), config.max_kl, when="after training")
        except RunFailed as exc:  # failed, with the evaluation that failed it
            return _ended(config, "failed", str(exc), state, metrics=metrics, timings=timings)

        # ---- save ----
        _save_outputs(trainer, tokenizer, config, metrics, output_dir, state, algorithm)
        return RunResult(
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
            units=dict(units),
            timings=_rounded(timings),
            samples=list(samples),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def trl_args(config: RunConfig, *, output_dir: Path, device: str) -> Any:
    """The algorithm's TRL config: alignlab's device-aware settings, the algorithm's own, then the
    run's params by TRL name.

    On CUDA bf16; on CPU fp32 and no gradient checkpointing (TRL defaults to bf16 and fails on CPU).
    Logging goes to the runner's log (``report_to="none"``, alignlab.run.callbacks.train_logs); nothing is
    checkpointed.
    """
    from alignlab.models import trainer_device_settings

    algorithm = algorithm_of(config.algorithm)
    cls = algorithm.config_class()
    params = {k: v for k, v in config.params.items() if k not in algorithm.PARAMS}
    max_steps = int(params.get("max_steps", -1))
    settings: dict[str, Any] = {
        "output_dir": str(output_dir),
        "report_to": "none",
        **trainer_device_settings(config.model, device),
        "fp16": False,
        "seed": config.seed,
        "data_seed": config.seed,
        "save_strategy": "no",
        "logging_steps": max(1, max_steps // 25) if max_steps > 0 else 10,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        **algorithm.trl_settings(config),
        **params,
    }
    try:
        return cls(**settings)
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"{config.name}: params: TRL's {cls.__name__} refused them: {exc}") from None


def _lora_config(config: RunConfig, algorithm: Algorithm) -> Any:
    if config.lora is None:
        return None
    from peft import LoraConfig

    lora = config.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.lora_alpha,
        lora_dropout=lora.lora_dropout,
        target_modules=lora.target_modules,
        task_type=algorithm.PEFT_TASK_TYPE,
    )


def _save_outputs(
    trainer: Any,
    tokenizer: Any,
    config: RunConfig,
    metrics: dict[str, float],
    output_dir: Path,
    state: RunState,
    algorithm: Algorithm,
) -> None:
    """Adapter (or full model), tokenizer, config.yaml and metrics.json, written atomically."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    tmp.chmod(folder_mode())  # mkdtemp makes it 0700; the outputs follow the user's umask
    try:
        model = algorithm.policy_of(trainer)
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
    logging.getLogger("trl").setLevel(logging.ERROR)  # its warnings are advice printed to stderr
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


__all__ = [
    "EvaluateHook",
    "RunFailed",
    "RunResult",
    "Status",
    "StepHook",
    "quiet_libraries",
    "run_training",
    "train",
    "trl_args",
]
