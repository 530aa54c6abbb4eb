"""The adaptive KL controller that makes ``kl_target`` a real PPO hyperparameter.

TRL's PPOTrainer has a fixed ``kl_coef``. Ziegler et al. 2019 ("Fine-Tuning Language Models from Human
Preferences", section 2.2) adapt it towards a target KL with a proportional controller::

    e      = clip(KL / KL_target - 1, -0.2, 0.2)
    kl_coef = kl_coef * (1 + e * n_episodes / horizon)

where KL is the measured KL(policy || reference) per response of the last batch and n_episodes the
batch's episodes. trl 1.12 reads ``args.kl_coef`` afresh for every batch, so the callback below sets it
in ``on_log`` (called once per PPO update with ``objective/kl`` in the logs) and the next batch uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
