"""How much trial time the reference log-probs cache saves: DPO (or KTO) trials with the cache off, then on.

    python tests/benchmarks/refcache_trial_time.py [--algorithm dpo|kto] [--model builtin:tiny-sft] [--steps 40] [--trials 3]

With the cache on, the first trial computes the reference log-probs of every train row (TRL's
precompute pass: DPO's pairs; KTO's rows and their mismatched KL completions) and stores them; the
later trials read them and skip the reference forward passes in every training step. Runs in a
temporary studies root; prints a Markdown table.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="dpo", choices=["dpo", "kto"])
    parser.add_argument("--model", default="builtin:tiny-sft")
    parser.add_argument("--data", default=None, help="a feedback data file (default: the built-in task)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("ALIGNLAB_STUDIES", tempfile.mkdtemp(prefix="alignlab-bench-"))
    import shutil

    from alignlab.paths import cache_dir
    from alignlab.run.config import RunConfig
    from alignlab.run.training import run_training

    shutil.rmtree(cache_dir() / "reflogps", ignore_errors=True)
    data = {"path": args.data} if args.data else {"task": "builtin"}
    rows = []
    times: dict[str, list[float]] = {"off": [], "hit": []}
    for cache in (False, True):
        for trial in range(args.trials):
            config = RunConfig.model_validate(
                {
                    "name": f"bench-refcache-{args.algorithm}-{'on' if cache else 'off'}-{trial}",
                    "algorithm": args.algorithm,
                    "model": args.model,
                    "data": data,
                    "params": {
                        "max_steps": args.steps,
                        "per_device_train_batch_size": args.batch_size,
                        "max_length": args.max_length,
                        "learning_rate": 1e-4 * (1 + trial),
                        "beta": 0.1,
                    },
                    "lora": {**TASK_LORA, "lora_dropout": 0.0},
                    "eval": {"n_prompts": 8, "samples_per_prompt": 1, "max_new_tokens": 8, "n_pairs": 16},
                    "cache_reference": cache,
                }
            )
            result = run_training(config)
            from mlflow.tracking import MlflowClient

            assert result.mlflow_run_id is not None
            run = MlflowClient().get_run(result.mlflow_run_id)
            outcome = run.data.tags.get("alignlab.reference_logps", "?")
            train_s = run.data.metrics.get("train_runtime", float("nan"))
            rows.append([outcome, trial, args.steps, result.runtime_s, train_s, result.status])
            if outcome in times:
                times[outcome].append(train_s)
    print_table(
        f"{args.algorithm.upper()} trial time with and without the reference log-probs cache ({args.model})",
        ["reference log-probs", "trial", "steps", "trial s", "trainer.train() s", "status"],
        rows,
    )
    if times["off"] and times["hit"]:
        off, hit = statistics.median(times["off"]), statistics.median(times["hit"])
        print(
            f"\nmedian trainer.train(): {off:.2f} s uncached, {hit:.2f} s from the cache ({1 - hit / off:.0%} less)"
        )


if __name__ == "__main__":
    main()
