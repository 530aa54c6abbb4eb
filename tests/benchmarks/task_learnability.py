"""Is the built-in task learnable? DPO (and KTO) runs from the tiny SFT policy, scored by the gold reward.

    python tests/benchmarks/task_learnability.py [--lrs 5e-6 1e-4 3e-4 1e-3] [--steps 80 200] [--algorithms dpo kto]

Every run is a LoRA run (r 8, alpha 16) on the task's feedback with beta 0.1 (KTO: weights 1/1), batch
32, cosine schedule, evaluated on the 200 held-out prompts x 4 samples: gold reward, win rate against
the SFT policy's samples (ties half), KL(policy || SFT) from samples, malformed fraction, all through
alignlab.run.evaluation as in a sweep (a run that barely moves, KL ~ 0, shows the SFT policy's level).
Prints a Markdown table (docs/task.md has the figures).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

from alignlab.task import TASK_LORA

EVAL = {"n_prompts": 200, "samples_per_prompt": 4, "max_new_tokens": 24}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+", default=["dpo"])
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-6, 1e-4, 3e-4, 1e-3])
    parser.add_argument("--steps", type=int, nargs="+", default=[80, 200])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.1])
    parser.add_argument(
        "--loss-types", nargs="+", default=["sigmoid"], help="DPO loss_type, e.g. sigmoid ipo"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("ALIGNLAB_STUDIES", tempfile.mkdtemp(prefix="alignlab-bench-"))

    from alignlab.run.assets import task_assets
    from alignlab.run.config import RunConfig
    from alignlab.run.training import quiet_libraries, run_training

    quiet_libraries()
    task_assets()  # build (or find) the task before timing any run
    rows: list[list[object]] = []
    for algorithm, lr, steps, beta, loss_type in itertools.product(
        args.algorithms, args.lrs, args.steps, args.betas, args.loss_types
    ):
        if algorithm != "dpo" and loss_type != args.loss_types[0]:
            continue
        params: dict[str, object] = {
            "learning_rate": lr,
            "max_steps": steps,
            "beta": beta,
            "per_device_train_batch_size": 32,
            "max_length": 64,
            "lr_scheduler_type": "cosine",
            "warmup_steps": max(1, steps // 16),
        }
        if algorithm == "dpo":
            params["loss_type"] = loss_type.split("+")
        config = RunConfig.model_validate(
            {
                "name": f"learnability-{algorithm}-{lr}-{steps}",
                "algorithm": algorithm,
                "model": "builtin:tiny-sft",
                "data": {"task": "builtin"},
                "params": params,
                "lora": {**TASK_LORA, "lora_dropout": 0.0},
                "eval": EVAL,
                "seed": args.seed,
                "max_kl": 1e9,
            }
        )
        result = run_training(config)
        m = result.metrics
        nan = float("nan")
        rows.append(
            [
                algorithm if algorithm != "dpo" else f"dpo ({loss_type})",
                lr,
                steps,
                beta,
                round(result.runtime_s),
                result.status,
                m.get("gold_reward", nan),
                m.get("win_rate", nan),
                m.get("kl", nan),
                m.get("malformed_rate", nan),
                m.get("preference_accuracy", nan),
            ]
        )
        print(rows[-1], flush=True)
    print_table(
        "Learnability of the built-in task (held-out prompts, 4 samples each)",
        [
            "run",
            "lr",
            "steps",
            "beta",
            "s",
            "status",
            "gold reward",
            "win rate vs SFT",
            "KL",
            "malformed",
            "pref. acc.",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
