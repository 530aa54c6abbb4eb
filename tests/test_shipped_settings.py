"""The shipped sweeps and run configs on the built-in task use the task's LoRA settings (lm_head
included: alignlab.task.TASK_LORA), so no shipped file trains the adapter that caps the task."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alignlab.task import TASK_LORA

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
ON_THE_TASK = sorted(
    p
    for p in SWEEPS.rglob("*.yaml")
    if (raw := yaml.safe_load(p.read_text())).get("model") == "builtin:tiny-sft" and raw.get("algorithm") != "reward"
)


def test_every_alignment_file_on_the_task_is_found() -> None:
    names = {p.name for p in ON_THE_TASK}
    assert {"quickstart.yaml", "dpo.yaml", "kto.yaml", "every-algorithm.yaml"} <= names


@pytest.mark.parametrize("path", ON_THE_TASK, ids=lambda p: str(p.relative_to(SWEEPS)))
def test_alignment_on_the_task_adapts_the_output_layer(path: Path) -> None:
    lora = yaml.safe_load(path.read_text())["lora"]
    assert lora["target_modules"] == TASK_LORA["target_modules"]
    assert (lora["r"], lora["lora_alpha"]) == (TASK_LORA["r"], TASK_LORA["lora_alpha"])
