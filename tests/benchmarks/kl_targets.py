"""PPO runs with different KL targets end near their targets (alignlab's adaptive KL controller).

    python tests/benchmarks/kl_targets.py [--targets 0.5 4] [--steps 60] [--horizon 64] [--lr 5e-4]

Each run is PPO with LoRA on the built-in task (the tiny SFT policy, builtin:tiny-rm as reward and
value model), the same seed, learning rate and starting kl_coef; only kl_target differs. The table has
the measured KL per response (TRL's objective/kl, k3 estimator) averaged over the last quarter of the
updates, the final kl_coef, and the held-out KL from samples (alignlab.run.evaluation). Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

from alignlab.task import TASK_LORA


def run_one(target: float | None, args: argparse.Namespace) -> list[object]:
    from mlflow.tracking import MlflowClient

    from alignlab.run.config import RunConfig
    from alignlab.run.training import run_training

    params: dict[str, object] = {
        "learning_rate": args.lr,
        "kl_coef": args.kl_coef,
        "max_steps": args.steps,
        "per_device_train_batch_size": 32,
        "num_mini_batches": 2,
        "num_ppo_epochs": 2,
        "response_length": 24,
        "missing_eos_penalty": 1.0,
    }
    if target is not None:
        params.update(kl_target=target, kl_horizon=args.horizon)
    config = RunConfig.model_validate(
        {
            "name": f"bench-kl-target-{target}",
            "algorithm": "ppo",
            "model": "builtin:tiny-sft",
            "reward_model": "builtin:tiny-rm",
            "data": {"task": "builtin"},
            "params": params,
            "lora": {**TASK_LORA, "lora_dropout": 0.0},
            "eval": {"n_prompts": 64, "samples_per_prompt": 4, "max_new_tokens": 24},
            "seed": args.seed,
        }
    )
    result = run_training(config)
    assert result.mlflow_run_id is not None
    client = MlflowClient()

    def history(key: str) -> list[float]:
        return [
            m.value
            for m in sorted(client.get_metric_history(result.mlflow_run_id, key), key=lambda m: m.step)
        ]

    kl = history("objective/kl")
    coef = history("objective/kl_coef")
    tail = kl[-max(1, len(kl) // 4) :]
    return [
        "none (fixed kl_coef)" if target is None else target,
        result.status,
        len(kl),
        statistics.fmean(tail) if tail else float("nan"),
        coef[-1] if coef else args.kl_coef,
        result.metrics.get("kl", float("nan")),
        result.metrics.get("win_rate", float("nan")),
        result.runtime_s,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=float, nargs="+", default=[0.5, 4.0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--horizon", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--kl-coef", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the fixed-kl_coef run")
    args = parser.parse_args()
    os.environ.setdefault("ALIGNLAB_STUDIES", tempfile.mkdtemp(prefix="alignlab-bench-"))
    targets: list[float | None] = [*args.targets] if args.no_baseline else [None, *args.targets]
    rows = [run_one(t, args) for t in targets]
    print_table(
        f"PPO KL targets: lr {args.lr}, {args.steps} updates of 32 episodes, kl_horizon {args.horizon}",
        [
            "kl_target",
            "status",
            "updates",
            "KL, last quarter",
            "final kl_coef",
            "held-out KL",
            "win rate",
            "run s",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
