"""What an algorithm declares for the exports of a best trial (alignlab.sweep.export_trl and
export_llamafactory): :class:`TrlCli`, how TRL's command-line scripts run it, and :class:`LlamaFactory`,
the LLaMA-Factory stage that trains it and the names its fields have there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrlCli:
    """How ``trl <command> --config FILE`` (trl 1.12) runs the algorithm."""

    command: str | None
    """The ``trl`` command whose script reads the export; None: trl has none (the file has the same layout,
    for a script parsing it with TrlParser as trl/scripts/dpo.py does)."""
    reward_model_field: str = "reward_model_name_or_path"
    """Online algorithms: the script's field naming the reward model."""
    policy_field: str | None = None
    """Online algorithms whose script names the starting policy in a field of its own (PPO: ``sft_model_path``)."""
    reward_funcs: bool = True
    """Online algorithms: the trainer takes reward functions (``reward_funcs``); False: a reward model only."""


#: TRL field -> LLaMA-Factory field, for the fields every stage has under another name.
SHARED_RENAMES: Mapping[str, str] = {"max_length": "cutoff_len"}


@dataclass(frozen=True)
class LlamaFactory:
    """How LLaMA-Factory (``llamafactory-cli train FILE``) trains the algorithm."""

    stage: str
    """Its ``stage``: sft, rm, dpo, kto or ppo."""
    pref_loss: str | None = None
    """The ``pref_loss`` that makes stage dpo this algorithm (simpo, orpo); None: from TRL's ``loss_type``
    (DPO), or a stage with one loss."""
    renames: Mapping[str, str] = field(default_factory=dict)
    """TRL field -> LLaMA-Factory field, for the fields it has under another name (beside
    :data:`SHARED_RENAMES`); a field with the same name in both is listed as itself."""

    def field_names(self) -> dict[str, str]:
        """Every rename of this stage: :data:`SHARED_RENAMES` and its own."""
        return {**SHARED_RENAMES, **self.renames}
