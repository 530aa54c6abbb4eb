"""What stops the built-in task near a 0.6 win rate: the metric's own ceiling, how far the gold reward
itself (GRPO trained on it) takes the tiny model, and what the LoRA adapter leaves out.

    python tests/benchmarks/task_ceiling.py [--variants NAME ...] [--seed 0]

First the metric: the SFT policy is sampled on the 200 held-out prompts x 4 (the win rate's reference),
and the win rate a perfect policy (every review gold reward 1) would have against those samples is
computed; so is the SFT policy's distribution of gold rewards. Then runs from the shipped run configs
(sweeps/runs/grpo.yaml: GRPO on ``reward_function: builtin:gold``; sweeps/runs/dpo.yaml: DPO with its
SFT term, both with LoRA on the blocks' linear layers and ``lm_head``) in variants: the adapter PEFT's
``all-linear`` gives (without ``lm_head``), with more steps and a larger rank, all weights (GRPO with
beta 0.001 so that TRL keeps a reference copy to measure KL against), and for DPO the literature-default
learning rate. Each is
evaluated on the 200 held-out prompts x 4 samples. Prints Markdown tables (docs/results.md has the
figures).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

ROOT = Path(__file__).resolve().parents[2]
EVAL = {"n_prompts": 200, "samples_per_prompt": 4, "max_new_tokens": 24}
#: PEFT's "all-linear": every linear layer of the blocks, not the output layer (lm_head). The shipped
#: settings (alignlab.task.TASK_LORA) add lm_head.
ALL_LINEAR: dict[str, Any] = {"r": 8, "lora_alpha": 16}
SHIPPED = "shipped"
#: name -> (run config under sweeps/runs/, TRL params changed, LoRA settings: SHIPPED, new ones, or None = all weights)
VARIANTS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "grpo": ("grpo", {}, SHIPPED),
    "grpo-all-linear": ("grpo", {}, ALL_LINEAR),
    "grpo-all-linear-800-steps": ("grpo", {"max_steps": 800}, ALL_LINEAR),
    "grpo-all-linear-r32": ("grpo", {}, {"r": 32, "lora_alpha": 64}),
    "grpo-full": ("grpo", {"learning_rate": 1e-4, "beta": 0.001}, None),
    "dpo": ("dpo", {}, SHIPPED),
    "dpo-lr-5e-5": ("dpo", {"learning_rate": 5e-5}, SHIPPED),
    "dpo-all-linear": ("dpo", {}, ALL_LINEAR),
    "dpo-all-linear-lr-5e-5": ("dpo", {"learning_rate": 5e-5}, ALL_LINEAR),
    "dpo-full": ("dpo", {"learning_rate": 1e-4}, None),
}


def describe(adapter: dict[str, Any] | None) -> str:
    if adapter is None:
        return "all weights"
    head = " + lm_head" if "lm_head" in adapter.get("target_modules", []) else " (all-linear)"
    return f"LoRA r {adapter['r']}{head}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("ALIGNLAB_STUDIES", tempfile.mkdtemp(prefix="alignlab-bench-"))

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from alignlab import task
    from alignlab.models import load_tokenizer
    from alignlab.run.assets import task_assets
    from alignlab.run.config import EvalSettings, RunConfig, read_yaml
    from alignlab.run.reference_samples import reference_gold_rewards
    from alignlab.run.training import quiet_libraries, run_training

    quiet_libraries()
    assets = task_assets()
    model, _ = task.sft_policy(assets, device="cpu")
    tokenizer = load_tokenizer(assets.tokenizer_dir)
    prompts = task.prompts("eval")
    # The reference samples every run's win rate is computed against (same prompts, settings and seed).
    reference = reference_gold_rewards(model, tokenizer, prompts, EvalSettings(**EVAL), model, None)
    flat = [r for rs in reference for r in rs]
    perfect = task.win_rate([[1.0] * len(rs) for rs in reference], reference)
    counts = collections.Counter(flat)
    print_table(
        "The win rate's reference: the SFT policy's samples on the 200 held-out prompts x 4",
        ["gold reward", "share of SFT samples"],
        [[f"{value:g}", f"{counts[value] / len(flat):.3f}"] for value in sorted(counts)]
        + [["mean", f"{sum(flat) / len(flat):.3f}"], ["a perfect policy's win rate", f"{perfect:.3f}"]],
    )

    rows: list[list[Any]] = []
    for name in args.variants:
        config, params, lora = VARIANTS[name]
        base = read_yaml(ROOT / "sweeps" / "runs" / f"{config}.yaml")
        raw: dict[str, Any] = {**base, "name": f"ceiling-{name}", "seed": args.seed, "eval": EVAL}
        raw["params"] = {**base["params"], **params}
        if lora != SHIPPED:
            raw["lora"] = lora
        started = time.monotonic()
        result = run_training(RunConfig.model_validate(raw))
        m = result.metrics
        nan = float("nan")
        rows.append(
            [
                name,
                raw["algorithm"],
                raw["params"]["max_steps"],
                describe(raw.get("lora")),
                raw["params"]["learning_rate"],
                m.get("win_rate", nan),
                m.get("gold_reward", nan),
                m.get("kl", nan),
                m.get("malformed_rate", nan),
                f"{time.monotonic() - started:.0f}",
                result.status,
            ]
        )
        print(f"done: {rows[-1]}", file=sys.stderr, flush=True)
    print_table(
        f"GRPO on the gold reward and DPO with its SFT term, by what they train, seed {args.seed}",
        [
            "variant",
            "algorithm",
            "steps",
            "weights trained",
            "lr",
            "win rate vs SFT",
            "gold reward",
            "KL",
            "malformed",
            "wall s",
            "status",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
