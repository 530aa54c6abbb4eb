"""Online RL on the built-in task: PPO vs GRPO vs RLOO, trained on the gold reward or on a learned reward model.

    python tests/benchmarks/online_rl.py [--algorithms ppo grpo rloo]
        [--rewards builtin:gold builtin:tiny-rm] [--seeds 0 1 2] [--set KEY=VALUE ...]

Each run is the shipped run config (sweeps/runs/<algorithm>.yaml: LoRA r 8 from the tiny SFT policy)
with its reward replaced: ``reward_function: builtin:gold`` (the task's gold reward as a programmatic
reward) or ``reward_model: builtin:tiny-rm`` (a reward model trained on the task's pairs; the gold
reward is then only monitored, never trained on). ``--set`` overrides a TRL field of every run (e.g.
``--set max_steps=100``). Evaluation: 200 held-out prompts x 4 samples: gold win rate against the
SFT policy (ties half), gold reward, KL(policy || SFT) per response, and wall time of the run
(training and evaluation). With the learned reward model, the table also shows the last training
step's reward-model score and gold reward of the policy's own samples (GRPO/RLOO:
``rewards/reward_model/mean`` and ``rewards/gold_reward/mean``; PPO: ``objective/scores`` and
``objective/gold_reward``): the reward model's score rising while the gold reward falls is reward
hacking. Prints a Markdown table of mean +- sd over the seeds (docs/results.md has the figures).
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

ROOT = Path(__file__).resolve().parents[2]
EVAL = {"n_prompts": 200, "samples_per_prompt": 4, "max_new_tokens": 24}
#: The training logs that show the learned reward and the monitored gold reward of the policy's samples.
TRAIN_REWARD = {
    "ppo": "objective/scores",
    "grpo": "rewards/reward_model/mean",
    "rloo": "rewards/reward_model/mean",
}
TRAIN_GOLD = {
    "ppo": "objective/gold_reward",
    "grpo": "rewards/gold_reward/mean",
    "rloo": "rewards/gold_reward/mean",
}


def mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} +- {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+", default=["ppo", "grpo", "rloo"])
    parser.add_argument("--rewards", nargs="+", default=["builtin:gold", "builtin:tiny-rm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ.setdefault("ALIGNLAB_STUDIES", tempfile.mkdtemp(prefix="alignlab-bench-"))

    import torch
    import yaml

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from alignlab.run.assets import builtin_reward_model, task_assets
    from alignlab.run.config import RunConfig, read_yaml
    from alignlab.run.training import quiet_libraries, run_training

    quiet_libraries()
    task_assets()
    builtin_reward_model()
    rows: list[list[Any]] = []
    for algorithm in args.algorithms:
        base = read_yaml(ROOT / "sweeps" / "runs" / f"{algorithm}.yaml")
        for item in args.overrides:
            key, _, text = item.partition("=")
            value = yaml.safe_load(text)
            base["params"][key] = float(value) if isinstance(value, str) and "e" in value else value
        for reward in args.rewards:
            runs: list[tuple[dict[str, float], dict[str, float], float]] = []
            for seed in args.seeds:
                raw: dict[str, Any] = {
                    k: v for k, v in base.items() if k not in ("reward_model", "reward_function")
                }
                raw.update(name=f"online-{algorithm}-{reward.replace(':', '-')}-{seed}", seed=seed, eval=EVAL)
                raw[
                    "reward_model"
                    if reward.startswith("builtin:tiny") or "/" in reward
                    else "reward_function"
                ] = reward
                started = time.monotonic()
                result = run_training(RunConfig.model_validate(yaml.safe_load(yaml.safe_dump(raw))))
                if result.status != "completed":
                    print(f"{raw['name']}: {result.status}: {result.reason}", file=sys.stderr)
                    continue
                runs.append((result.metrics, result.train_metrics, time.monotonic() - started))
            learned = not reward.startswith("builtin:gold")
            rows.append(
                [
                    algorithm,
                    reward,
                    mean_sd([m["win_rate"] for m, _, _ in runs]),
                    mean_sd([m["gold_reward"] for m, _, _ in runs]),
                    mean_sd([m["kl"] for m, _, _ in runs]),
                    mean_sd([m["malformed_rate"] for m, _, _ in runs]),
                    mean_sd([t[TRAIN_REWARD[algorithm]] for _, t, _ in runs if TRAIN_REWARD[algorithm] in t])
                    if learned
                    else "",
                    mean_sd([t[TRAIN_GOLD[algorithm]] for _, t, _ in runs if TRAIN_GOLD[algorithm] in t])
                    if learned
                    else "",
                    mean_sd([s for _, _, s in runs]),
                    f"{len(runs)}/{len(args.seeds)}",
                ]
            )
            print(f"done: {rows[-1]}", file=sys.stderr, flush=True)
    overrides = f", {' '.join(args.overrides)}" if args.overrides else ""
    print_table(
        f"Online RL on the built-in task: shipped run configs{overrides}, seeds {args.seeds}",
        [
            "algorithm",
            "reward trained on",
            "win rate vs SFT",
            "gold reward",
            "KL",
            "malformed",
            "last step: RM score",
            "last step: gold",
            "wall s",
            "runs",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
