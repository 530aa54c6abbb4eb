"""Label noise on the built-in task: DPO (with its SFT term), KTO, SimPO and ORPO at 0 / 20 / 40 % flipped pairs.

    python tests/benchmarks/label_noise.py [--noise 0 0.2 0.4] [--algorithms dpo kto simpo orpo]
        [--trials 6] [--seeds 1 2 3] [--steps 200]

For each noise level a share of the task's preference pairs is flipped (chosen and rejected swapped,
alignlab's ``data.label_noise``); KTO trains on the same noisy pairs split into desirable (chosen) and
undesirable (rejected) rows (``data.binary_from: pairs``). Every algorithm gets the same compute: the
same optimizer steps of the same number of sequences (32 pairs = 64 sequences for DPO, SimPO and ORPO;
64 rows for KTO), LoRA r 8 with lm_head (alignlab.task.TASK_LORA), from the tiny SFT policy. Each gets a small Optuna sweep (TPE over its
learning rate and beta, the literature default enqueued first, ``--trials`` trials, scored by the win
rate on 100 held-out prompts x 4 samples with eval seed 1234), then its best configuration is re-run
with ``--seeds`` training seeds (each seed also flips another set of pairs) and evaluated on all 200
held-out prompts x 4 samples with another eval seed (4321), so the figure is not the one the sweep
selected on. Prints a Markdown table of mean +- sd (docs/results.md has the figures).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

from alignlab.task import TASK_LORA

SWEEP_EVAL = {"n_prompts": 100, "samples_per_prompt": 4, "max_new_tokens": 24}
FINAL_EVAL = {"n_prompts": 200, "samples_per_prompt": 4, "max_new_tokens": 24, "seed": 4321}

#: Per algorithm: fixed TRL settings, the search space and the literature default run first.
SPACES: dict[str, dict[str, Any]] = {
    "dpo": {
        "fixed": {"loss_type": ["sigmoid", "sft"], "per_device_train_batch_size": 32},
        "search": {"beta": (0.05, 0.5), "learning_rate": (1e-4, 3e-3)},
        "default": {"beta": 0.1, "learning_rate": 3e-4},
    },
    "kto": {
        "fixed": {"per_device_train_batch_size": 64, "desirable_weight": 1.0, "undesirable_weight": 1.0},
        "search": {"beta": (0.1, 1.0), "learning_rate": (5e-5, 1e-3)},
        "default": {"beta": 0.36, "learning_rate": 1.5e-4},
    },
    "simpo": {
        "fixed": {"per_device_train_batch_size": 32, "simpo_gamma": 5.0},
        "search": {"beta": (2.0, 10.0), "learning_rate": (3e-5, 3e-4)},
        "default": {"beta": 10.0, "learning_rate": 1.5e-4},
    },
    "orpo": {
        "fixed": {"per_device_train_batch_size": 32},
        "search": {"beta": (0.05, 1.0), "learning_rate": (3e-4, 3e-3)},
        "default": {"beta": 0.1, "learning_rate": 1e-3},
    },
}


def sweep_spec(algorithm: str, noise: float, args: argparse.Namespace) -> dict[str, Any]:
    space = SPACES[algorithm]
    data: dict[str, Any] = {"task": "builtin", "label_noise": noise}
    if algorithm == "kto":
        data["binary_from"] = "pairs"
    return {
        "name": f"noise{int(noise * 100):02d}-{algorithm}",
        "algorithm": algorithm,
        "model": "builtin:tiny-sft",
        "data": data,
        "fixed": {
            **space["fixed"],
            "max_steps": args.steps,
            "max_length": 64,
            "lr_scheduler_type": "cosine",
            "warmup_steps": max(1, args.steps // 20),
        },
        "lora": dict(TASK_LORA),
        "eval": SWEEP_EVAL,
        "search": {
            name: {"type": "float", "low": low, "high": high, "log": True}
            for name, (low, high) in space["search"].items()
        },
        "objectives": [{"metric": "win_rate", "direction": "maximize"}],
        "constraints": [{"metric": "kl", "max": 15.0}],
        "sampler": {"type": "tpe", "n_startup_trials": max(2, args.trials // 2)},
        "pruner": {"type": "none"},
        "budget": {"n_trials": args.trials},
        "enqueue": [space["default"]],
        "seed": 0,
    }


def mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} +- {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.2, 0.4])
    parser.add_argument("--algorithms", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument("--trials", type=int, default=6, help="sweep trials per algorithm and noise level")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds of the re-runs"
    )
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("ALIGNLAB_STUDIES", tempfile.mkdtemp(prefix="alignlab-bench-"))

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from alignlab.run.assets import task_assets
    from alignlab.run.config import RunConfig
    from alignlab.run.training import quiet_libraries, run_training
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.study import run_sweep

    quiet_libraries()
    task_assets()
    rows: list[list[Any]] = []
    for noise in args.noise:
        for algorithm in args.algorithms:
            started = time.monotonic()
            spec = parse_sweep(sweep_spec(algorithm, noise, args), where=f"{algorithm}@{noise}")
            outcome = run_sweep(spec)
            sweep_s = time.monotonic() - started
            assert outcome.best is not None, f"{spec.name}: no completed trial"
            best = outcome.best
            finals: list[dict[str, float]] = []
            for seed in args.seeds:
                raw = {
                    **best.run_config,
                    "name": f"{spec.name}-best-seed{seed}",
                    "seed": seed,
                    "eval": FINAL_EVAL,
                    "output_dir": None,
                    "experiment": f"{spec.name}-reruns",
                }
                result = run_training(
                    RunConfig.model_validate({k: v for k, v in raw.items() if v is not None})
                )
                finals.append(result.metrics if result.status == "completed" else {})
            won = [m["win_rate"] for m in finals if "win_rate" in m]
            params = ", ".join(f"{k} {v:.3g}" for k, v in best.params.items())
            rows.append(
                [
                    f"{noise:.0%}",
                    algorithm,
                    params,
                    f"{best.metrics.get('win_rate', float('nan')):.3f}",
                    mean_sd(won),
                    mean_sd([m["gold_reward"] for m in finals if "gold_reward" in m]),
                    mean_sd([m["kl"] for m in finals if "kl" in m]),
                    mean_sd([m["malformed_rate"] for m in finals if "malformed_rate" in m]),
                    f"{len(won)}/{len(args.seeds)}",
                    f"{sweep_s:.0f}",
                ]
            )
            print(f"done: noise {noise} {algorithm}: {rows[-1]}", file=sys.stderr, flush=True)
    print_table(
        f"Label noise: {args.trials}-trial sweeps, best re-run over seeds {args.seeds}, {args.steps} steps",
        [
            "noise",
            "algorithm",
            "best params",
            "sweep win rate",
            "win rate vs SFT",
            "gold reward",
            "KL",
            "malformed",
            "runs",
            "sweep s",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
