"""PPO (Ziegler et al. 2019; Ouyang et al. 2022) with trl 1.12's experimental PPOTrainer.

Four models take part: the policy (LoRA adapter), the reference (the same base with the adapter
disabled), the reward model (frozen) and the value model (initialised from the reward model, trained).
The reward and value models are sequence classifiers sharing the policy's tokenizer. TRL's PPOTrainer
takes no Python reward function: with ``reward_function`` (alignlab.run.rewards), :func:`reward_module`
wraps it as the sequence classifier PPO expects (its samples decoded, scored, the score at every
position) and the value model starts from the policy's backbone; on the built-in task the same wrapper
computes the gold reward of every rollout beside a learned reward model, logged as
``objective/gold_reward`` next to TRL's ``objective/scores``. ``max_steps`` is
turned into ``total_episodes`` (steps x batch size) so that every algorithm counts steps the same way.
PPOTrainer never checks ``control.should_training_stop``, so a pruned run stops by an exception.

The adaptive KL controller makes ``kl_target`` a real PPO hyperparameter. TRL's PPOTrainer has a
fixed ``kl_coef``. Ziegler et al. 2019 ("Fine-Tuning Language Models from Human Preferences", section
2.2) adapt it towards a target KL with a proportional controller::

    e       = clip(KL / KL_target - 1, -0.2, 0.2)
    kl_coef = kl_coef * (1 + e * n_episodes / horizon)

where KL is the measured KL(policy || reference) per response of the last batch and n_episodes the
batch's episodes. trl 1.12 reads ``args.kl_coef`` afresh for every batch, so the callback below sets it
in ``on_log`` (called once per PPO update with ``objective/kl`` in the logs) and the next batch uses it.
The per-batch k1 estimate is noisy and goes negative, so runs with a target use ``kl_estimator="k3"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignlab.run.algorithms.common import trl_class
from alignlab.run.algorithms.exports import LlamaFactory, TrlCli
from alignlab.run.algorithms.interface import Algorithm
from alignlab.run.algorithms.parts import Built, Models, Setup
from alignlab.run.algorithms.recommendable import CostProfile, Recommendable, Space, SpaceContext

if TYPE_CHECKING:
    from alignlab.run.assets import RunData
    from alignlab.run.config import EvalSettings, RunConfig
    from alignlab.run.eval_units import EvalReport
    from alignlab.run.rewards import Reward

def trl_settings(config: RunConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {"num_sample_generations": 0, "stop_token": "eos"}
    if "kl_target" in config.params:
        settings["kl_estimator"] = "k3"  # k1 per batch is noisy and goes negative: a poor controller input
    return settings


def load_models(model_dir: Path, reward: Reward | None, tokenizer: Any) -> Models:
    """Policy, reward model and value model (from the reward model, or from the policy's backbone with a
    fresh head when the reward is a function)."""
    from alignlab.models import load_causal_lm
    from alignlab.run.algorithms.reward_model import load_reward_backbone

    assert reward is not None, "PPO needs a reward (NEEDS_REWARD_MODEL)"
    reward_model = None
    if reward.model_dir is not None:
        reward_model = load_reward_backbone(reward.model_dir, tokenizer)
        reward_model.eval().requires_grad_(False)
    return Models(
        policy=load_causal_lm(model_dir, device="cpu"),
        reward_model=reward_model,
        value_model=load_reward_backbone(reward.model_dir or model_dir, tokenizer),
        reward=reward,
    )


def callbacks(config: RunConfig, args: Any) -> list[Any]:
    kl_target = config.params.get("kl_target")
    if kl_target is None:
        return []
    controller = AdaptiveKLController(
        kl_coef=float(args.kl_coef),
        target=float(kl_target),
        horizon=int(config.params.get("kl_horizon", 10_000)),
    )
    return [kl_controller_callback(controller)]


def make_trainer(setup: Setup, models: Models) -> Built:
    from datasets import Dataset
    from trl.experimental.ppo import PPOTrainer

    from alignlab.run.scoring import prompt_text

    args, tokenizer = setup.args, setup.tokenizer
    if args.max_steps and args.max_steps > 0:
        args.total_episodes = (
            args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
        )
    ids = [
        tokenizer(prompt_text(r["prompt"], tokenizer), add_special_tokens=False)["input_ids"]
        for r in setup.rows
    ]
    assert models.reward is not None
    scorer, monitored = reward_module(models, tokenizer, ids, [r["prompt"] for r in setup.rows])
    callbacks = [monitor_callback(monitored)] if monitored is not None else []
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=models.policy,
        ref_model=None,
        reward_model=scorer,
        value_model=models.value_model,
        train_dataset=Dataset.from_dict({"input_ids": ids}),
        peft_config=setup.peft_config,
        callbacks=[*callbacks, *setup.callbacks],
    )
    trainer.train = _silenced(trainer.train)  # type: ignore[method-assign]
    return Built(trainer)


def _silenced(train: Any) -> Any:
    """``train`` with stdout swallowed: trl 1.12's PPOTrainer prints "===training policy===", which would
    corrupt ``alignlab train --json`` (the library never prints)."""
    import contextlib
    import functools
    import io

    @functools.wraps(train)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return train(*args, **kwargs)

    return quiet


def policy_of(trainer: Any) -> Any:
    """The policy inside a PPOTrainer (its model wraps policy and value)."""
    return trainer.model.policy


def evaluate(
    trainer: Any, models: Models, setup: Setup, data: RunData, settings: EvalSettings, memo: dict[str, Any]
) -> EvalReport:
    from alignlab.run.evaluation import evaluate_trained_policy

    return evaluate_trained_policy(policy_of(trainer), trainer, models, setup, data, settings, memo)


def stop_pruned(control: Any) -> None:
    from alignlab.run.callbacks import RunPruned

    raise RunPruned()


def ppo_space(c: SpaceContext) -> Space:
    search = {"kl_coef": Space.log(0.01, 0.2), "kl_target": Space.log(1.0, 10.0), "cliprange": Space.uniform(0.1, 0.3)}
    notes = (
        "kl_coef log 0.01..0.2 (TRL default 0.05; InstructGPT 0.02)",
        "kl_target 1..10 nats per response: alignlab's adaptive KL controller (Ziegler et al. 2019); kl_coef is its start",
        "cliprange 0.1..0.3 around PPO's 0.2 (Schulman et al. 2017)",
        "kl_estimator k3: the k1 estimate goes negative on small batches",
    )
    fixed = {**c.fixed, "response_length": max(1, int(c.seq_len * 0.5)), "kl_estimator": "k3"}
    return c.space("PPOConfig (trl.experimental.ppo)", search, {"kl_coef": 0.05, "cliprange": 0.2}, notes, fixed=fixed)


# ---- the adaptive KL controller --------------------------------------------------------------------


@dataclass
class AdaptiveKLController:
    """Ziegler et al. 2019 proportional controller of the KL coefficient."""

    kl_coef: float
    """The current coefficient; starts at the run's kl_coef."""
    target: float
    """Target KL per response, in nats."""
    horizon: int = 10_000
    """Episodes over which a persistent error of 20% changes the coefficient by a factor of about e^0.2."""
    min_coef: float = 1e-4
    max_coef: float = 10.0

    def update(self, measured_kl: float, n_episodes: int) -> float:
        """Move the coefficient after a batch of ``n_episodes`` with mean KL ``measured_kl``; returns it."""
        error = min(max(measured_kl / self.target - 1.0, -0.2), 0.2)
        self.kl_coef *= 1.0 + error * n_episodes / self.horizon
        self.kl_coef = min(max(self.kl_coef, self.min_coef), self.max_coef)
        return self.kl_coef


def kl_controller_callback(controller: AdaptiveKLController) -> Any:
    """A TrainerCallback that feeds PPO's measured KL to ``controller`` and writes the new kl_coef into
    the trainer's args. It also adds ``objective/kl_coef`` to the logs, so it is tracked per step."""
    from transformers import TrainerCallback

    class AdaptiveKL(TrainerCallback):
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if not logs or "objective/kl" not in logs:
                return
            logs["objective/kl_coef"] = args.kl_coef
            args.kl_coef = controller.update(float(logs["objective/kl"]), int(args.batch_size))
            logs["objective/kl_target"] = controller.target

    return AdaptiveKL()


# ---- a reward function (or the monitored gold reward) as PPO's reward model ------------------------


@dataclass
class Monitored:
    """The monitored reward of the rollouts since the last log."""

    values: list[float]


def reward_module(
    models: Models, tokenizer: Any, prompt_ids: list[list[int]], prompts: list[Any]
) -> tuple[Any, Monitored | None]:
    """What PPOTrainer scores rollouts with, and where the monitored (gold) rewards go.

    TRL's ``get_reward`` calls ``getattr(model, model.base_model_prefix)`` on the padded
    query + response ids, then ``model.score`` on the last hidden state, and reads the value at the
    response's last token. The wrapper's backbone splits each row into its prompt (looked up among the
    train prompts' token ids) and its response (decoded), and returns as "hidden states" either the
    learned reward model's scores or the reward function's score at every position; ``score`` is the
    identity. A plain reward model without a monitor is returned as it is.
    """
    import torch
    from torch import nn

    from alignlab.run.rewards import score

    assert models.reward is not None
    reward: Reward = models.reward
    learned = models.reward_model
    if reward.function is None and reward.monitor is None:
        return learned, None
    known = {tuple(ids): prompt for ids, prompt in zip(prompt_ids, prompts, strict=True)}
    lengths = sorted({len(ids) for ids in prompt_ids}, reverse=True)
    monitored = Monitored([]) if reward.monitor is not None else None

    def split(input_ids: Any, attention_mask: Any) -> tuple[list[Any], list[str]]:
        row_prompts, completions = [], []
        for row, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            ids = [t for t, m in zip(row, mask, strict=True) if m]
            cut = next((n for n in lengths if tuple(ids[:n]) in known), 0)
            row_prompts.append(known.get(tuple(ids[:cut]), ""))
            completions.append(tokenizer.decode(ids[cut:], skip_special_tokens=True))
        return row_prompts, completions

    class Backbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the module a device
            self.learned = learned

        def forward(self, input_ids: Any, attention_mask: Any, **kwargs: Any) -> Any:
            from types import SimpleNamespace

            row_prompts, completions = split(input_ids, attention_mask)
            if self.learned is not None:
                backbone = getattr(self.learned, self.learned.base_model_prefix)
                out = backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
                values = self.learned.score(out.hidden_states[-1])
            else:
                assert reward.function is not None
                scores = torch.tensor(score(reward.function, row_prompts, completions), device=input_ids.device)
                values = scores[:, None, None].expand(input_ids.shape[0], input_ids.shape[1], 1)
            if monitored is not None and reward.monitor is not None:
                monitored.values.extend(score(reward.monitor, row_prompts, completions))
            return SimpleNamespace(hidden_states=(values,))

    class ScoredReward(nn.Module):
        base_model_prefix = "backbone"

        def __init__(self) -> None:
            super().__init__()
            self.backbone = Backbone()
            self.score = nn.Identity()

    return ScoredReward().eval().requires_grad_(False), monitored


def monitor_callback(monitored: Monitored) -> Any:
    """A TrainerCallback that adds the mean monitored reward of the rollouts since the last log to the
    logs (``objective/gold_reward``), beside TRL's ``objective/scores``."""
    from transformers import TrainerCallback

    class MonitorGold(TrainerCallback):
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if logs is not None and "objective/scores" in logs and monitored.values:
                logs["objective/gold_reward"] = sum(monitored.values) / len(monitored.values)
                monitored.values.clear()

    return MonitorGold()


ALGORITHM = Algorithm(
    name="ppo",
    TRAIN_KIND="prompt",
    config_class=trl_class("trl.experimental.ppo.PPOConfig"),  # in trl.experimental up to 1.12
    make_trainer=make_trainer,
    NEEDS_REWARD_MODEL=True,
    PARAMS={
        "kl_target": "target KL per response for the adaptive KL controller (Ziegler et al. 2019); unset = fixed kl_coef",
        "kl_horizon": "horizon of the adaptive KL controller, in episodes (default 10000)",
    },
    trl_settings=trl_settings,
    load_models=load_models,
    callbacks=callbacks,
    policy_of=policy_of,
    evaluate=evaluate,
    stop_pruned=stop_pruned,
    recommend=(
        Recommendable(
            "ppo",
            # TRL's defaults: num_ppo_epochs=4.
            CostProfile.online(
                1,
                reference=True,
                value_model=True,
                flops_per_token=56,
                derivation="rollout forwards (policy, reference, reward, value: 4 x 2) + 4 PPO epochs x (policy 6 + value 6)",
            ),
            ppo_space,
        ),
    ),
    trl=TrlCli(None, reward_model_field="reward_model_path", policy_field="sft_model_path", reward_funcs=False),
    llamafactory=LlamaFactory(
        "ppo",
        renames={
            "kl_target": "ppo_target",
            "num_ppo_epochs": "ppo_epochs",
            "whiten_rewards": "ppo_whiten_rewards",
            "response_length": "max_new_tokens",
            "temperature": "temperature",
        },
    ),
)
