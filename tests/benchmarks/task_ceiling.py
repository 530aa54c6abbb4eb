"""What stops the built-in task near a 0.6 win rate: the metric's own ceiling, and how far the gold reward
itself (GRPO trained on it) takes the tiny model with more steps, a larger adapter, or all weights.

    python tests/benchmarks/task_ceiling.py [--variants shipped long r32 full] [--seed 0]

First the metric: the SFT policy is sampled on the 200 held-out prompts x 4 (the win rate's reference),
and the win rate a perfect policy (every review gold reward 1) would have against those samples is
computed; so is the SFT policy's distribution of gold rewards. Then GRPO (sweeps/runs/grpo.yaml,
reward_function builtin:gold) in variants: ``shipped`` (LoRA r 8, 200 steps), ``long`` (800 steps),
``r32`` (LoRA r 32 / alpha 64), ``full`` (all weights, lr 1e-4, beta 0.001 so TRL keeps a reference
copy to measure KL against). Each is evaluated on the 200 held-out prompts x 4 samples. Prints
Markdown tables (docs/results.md has the figures).
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
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "long": {"params": {"max_steps": 800}},
    "r32": {"lora": {"r": 32, "lora_alpha": 64}},
    "full": {"lora": None, "params": {"learning_rate": 1e-4, "beta": 0.001}},
}


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
    from alignlab.run.evaluation import _reference_gold_rewards
    from alignlab.run.training import quiet_libraries, run_training

    quiet_libraries()
    assets = task_assets()
    model, _ = task.sft_policy(assets, device="cpu")
    tokenizer = load_tokenizer(assets.tokenizer_dir)
    prompts = task.prompts("eval")
    # The reference samples every run's win rate is computed against (same prompts, settings and seed).
    reference = _reference_gold_rewards(model, tokenizer, prompts, EvalSettings(**EVAL), model, None)
    flat = [r for rs in reference for r in rs]
    perfect = task.win_rate([[1.0] * len(rs) for rs in reference], reference)
    counts = collections.Counter(flat)
    print_table(
        "The win rate's reference: the SFT policy's samples on the 200 held-out prompts x 4",
        ["gold reward", "share of SFT samples"],
        [[f"{value:g}", f"{counts[value] / len(flat):.3f}"] for value in sorted(counts)]
        + [["mean", f"{sum(flat) / len(flat):.3f}"], ["a perfect policy's win rate", f"{perfect:.3f}"]],
    )

    base = read_yaml(ROOT / "sweeps" / "runs" / "grpo.yaml")
    rows: list[list[Any]] = []
    for name in args.variants:
        variant = VARIANTS[name]
        raw: dict[str, Any] = {**base, "name": f"ceiling-{name}", "seed": args.seed, "eval": EVAL}
        raw["params"] = {**base["params"], **variant.get("params", {})}
        if "lora" in variant:
            raw["lora"] = variant["lora"]
        started = time.monotonic()
        result = run_training(RunConfig.model_validate(raw))
        m = result.metrics
        nan = float("nan")
        rows.append(
            [
                name,
                raw["params"]["max_steps"],
                "full" if raw.get("lora") is None else f"LoRA r {raw['lora']['r']}",
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
        f"GRPO on the gold reward (the best an optimiser of the true reward reaches), seed {args.seed}",
        [
            "variant",
            "steps",
            "weights",
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
