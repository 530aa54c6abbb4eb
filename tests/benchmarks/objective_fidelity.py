"""Which objective to trust where there is no gold reward: every candidate against the gold win rate.

    python tests/benchmarks/objective_fidelity.py [--studies dpo-sft kto simpo orpo] [--unseen]
        [--trials 12] [--out results.json]

On the built-in task every trial also has the truth, its gold win rate against the SFT policy. Each
study here is a real alignlab sweep (``run_sweep``, the default trainer, MLflow included) with a
held-out judge (``judge: {train_on: heldout, fraction: 0.2}``: a reward model trained once per study
on the pairs of 20 % of the train prompts, which no trial trains on) and no pruner; a study is resumed
until ``--trials`` trials have completed (a diverged trial fails and does not count), and every
completed trial logs every candidate metric. The studies span the algorithms and the search ranges of
the shipped sweeps (sweeps/quickstart.yaml, kto-lambda.yaml, every-algorithm.yaml), with TPE
(optimising judge_win_rate, as a user's sweep would) and the random sampler; ``--unseen`` adds a study
with another algorithm, seed and ranges (plain IPO) that the defaults were not chosen on.

For each candidate objective and study: Kendall's tau-b with the gold win rate over the completed trials,
and the top-1 regret (the gold-best trial's win rate minus that of the candidate's best trial), with the
response length of the candidate's top trial (judges favour longer answers). The noise ceiling: every
completed trial is evaluated again from its saved adapter with another sampling seed, and the gold win
rate of that second evaluation is ranked against the first like any candidate: no objective can agree
with the gold win rate better than the gold win rate agrees with itself. Also what judging costs:
the judge's training (once per study) and its scoring in every evaluation, as shares of trial time.
Prints Markdown tables and the load average; docs/objectives.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import print_table

from alignlab.task import TASK_LORA

EVAL = {"n_prompts": 100, "samples_per_prompt": 4, "max_new_tokens": 24}
COMMON = {"per_device_train_batch_size": 32, "max_length": 64, "lr_scheduler_type": "cosine", "warmup_steps": 10}
JUDGE = {"train_on": "heldout", "fraction": 0.2}

#: Per study: the algorithm, its fixed settings, its search space, the sampler and the seed.
STUDIES: dict[str, dict[str, Any]] = {
    "dpo-sft": {  # sweeps/quickstart.yaml's DPO with its SFT term and ranges
        "algorithm": "dpo",
        "fixed": {**COMMON, "max_steps": 60, "warmup_steps": 6, "loss_type": ["sigmoid", "sft"]},
        "search": {
            "beta": {"type": "float", "low": 0.02, "high": 0.5, "log": True},
            "learning_rate": {"type": "float", "low": 3e-5, "high": 1e-2, "log": True},
        },
        "sampler": {"type": "tpe", "n_startup_trials": 4},
        "seed": 0,
    },
    "kto": {  # sweeps/kto-lambda.yaml's ranges
        "algorithm": "kto",
        "fixed": {**COMMON, "max_steps": 120, "undesirable_weight": 1.0},
        "search": {
            "beta": {"type": "float", "low": 0.02, "high": 0.5, "log": True},
            "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True},
            "desirable_weight": {"type": "float", "low": 0.5, "high": 2.0},
        },
        "sampler": {"type": "random"},
        "seed": 1,
    },
    "simpo": {  # sweeps/every-algorithm.yaml's learning rates, SimPO's beta range (Meng et al. 2024: 2-10)
        "algorithm": "simpo",
        "fixed": {**COMMON, "max_steps": 200, "simpo_gamma": 1.0},
        "search": {
            "beta": {"type": "float", "low": 1.0, "high": 10.0, "log": True},
            "learning_rate": {"type": "float", "low": 5e-5, "high": 3e-3, "log": True},
        },
        "sampler": {"type": "tpe", "n_startup_trials": 4},
        "seed": 2,
    },
    "orpo": {  # sweeps/every-algorithm.yaml's learning rates, ORPO's lambda (its beta) around 0.1
        "algorithm": "orpo",
        "fixed": {**COMMON, "max_steps": 200},
        "search": {
            "beta": {"type": "float", "low": 0.05, "high": 1.0, "log": True},
            "learning_rate": {"type": "float", "low": 5e-5, "high": 3e-3, "log": True},
        },
        "sampler": {"type": "random"},
        "seed": 3,
    },
}
#: The study nobody chose the defaults on: another loss, seed and ranges.
UNSEEN: dict[str, Any] = {
    "algorithm": "dpo",
    "fixed": {**COMMON, "max_steps": 160, "loss_type": ["ipo"]},
    "search": {
        "beta": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
        "learning_rate": {"type": "float", "low": 3e-6, "high": 2e-3, "log": True},
    },
    "sampler": {"type": "random"},
    "seed": 7,
}

#: Candidate objectives: name -> (how a trial's metrics give its score, higher is better).
TIGHT_KL = 1.0
PENALTY = 0.1


def _candidates() -> dict[str, Any]:
    def gated(metric: str, bound: float) -> Any:
        return lambda m: m[metric] if m["kl"] <= bound else -math.inf

    return {
        "preference_accuracy": lambda m: m["preference_accuracy"],
        "reward_margin": lambda m: m["reward_margin"],
        f"preference_accuracy, KL <= {TIGHT_KL:g}": gated("preference_accuracy", TIGHT_KL),
        "judge_win_rate": lambda m: m["judge_win_rate"],
        "judge_reward": lambda m: m["judge_reward"],
        f"judge_reward - {PENALTY:g} KL": lambda m: m["judge_reward"] - PENALTY * m["kl"],
        "judge_win_rate_kl (judge_win_rate - 0.01 KL)": lambda m: m["judge_win_rate_kl"],
        "win_rate, another eval seed (the noise ceiling)": lambda m: m["win_rate_seed2"],
        "win_rate (gold, the truth)": lambda m: m["win_rate"],
    }


def run_study(name: str, setup: dict[str, Any], n_trials: int) -> list[Any]:
    from alignlab.run.reevaluate import reevaluate
    from alignlab.run.training import train as train_run
    from alignlab.sweep.checks import parse_sweep
    from alignlab.sweep.study import run_sweep

    spec = parse_sweep(
        {
            "name": f"fidelity-{name}",
            "algorithm": setup["algorithm"],
            "model": "builtin:tiny-sft",
            "data": {"task": "builtin"},
            "judge": JUDGE,
            "fixed": setup["fixed"],
            "lora": dict(TASK_LORA),
            "eval": EVAL,
            "search": setup["search"],
            "objectives": [{"metric": "judge_win_rate", "direction": "maximize"}],
            "sampler": setup["sampler"],
            "pruner": {"type": "none"},
            "budget": {"n_trials": n_trials},
            "seed": setup["seed"],
        },
        where=name,
    )
    def train(config: Any, **kwargs: Any) -> Any:  # a Trainer (alignlab.run.trainer): the runner logs it
        result = train_run(config, **kwargs)
        if result.status == "completed":  # the noise ceiling: the gold win rate under another eval seed
            again = reevaluate(config, result.output_dir, n_prompts=config.eval.n_prompts, seeds=[4321])
            result.metrics["win_rate_seed2"] = again.metrics["win_rate"]
        return result

    while True:
        trials = study_trials(spec.name)
        completed = sum(t.status == "completed" for t in trials)
        if completed >= n_trials:
            return trials
        run_sweep(spec, train=train, n_trials=len(trials) + n_trials - completed)  # failed ones do not count


@dataclass
class Trial:
    """A finished trial as the study stored it (so a resumed benchmark sees every trial)."""

    name: str
    status: str
    metrics: dict[str, float]
    timings: dict[str, float]
    runtime_s: float


def study_trials(name: str) -> list[Trial]:
    """The finished trials of a study under the benchmark's studies root ([] before it exists)."""
    from alignlab.errors import UserInputError
    from alignlab.sweep import records
    from alignlab.sweep.catalog import open_study

    try:
        study = open_study(name).study
    except UserInputError:
        return []
    states = {"COMPLETE": "completed", "FAIL": "failed", "PRUNED": "pruned"}
    return [
        Trial(
            f"{t.user_attrs.get(records.TrialAttr.ALGORITHM)}-trial-{t.number}",
            states[t.state.name],
            dict(t.user_attrs.get(records.TrialAttr.METRICS) or {}),
            dict(t.user_attrs.get(records.TrialAttr.TIMINGS) or {}),
            float(t.user_attrs.get(records.TrialAttr.RUNTIME_S) or 0.0),
        )
        for t in study.get_trials(deepcopy=False)
        if t.state.name in states and records.counts(t)
    ]


def study_rows(name: str, results: list[Any]) -> tuple[list[list[Any]], dict[str, Any]]:
    done = [r for r in results if r.status == "completed"]
    gold = [r.metrics["win_rate"] for r in done]
    rows = []
    summary: dict[str, Any] = {"study": name, "completed": len(done), "candidates": {}}
    from alignlab.sweep.fidelity import kendall_tau, resolved_tau, top1_regret

    again = [r.metrics["win_rate_seed2"] for r in done]
    for label, score in _candidates().items():
        values = [score(r.metrics) for r in done]
        finite = [v if v != -math.inf else min([x for x in values if x != -math.inf], default=0.0) - 1 for v in values]
        tau = kendall_tau(finite, gold)
        regret = top1_regret(finite, gold)
        top = done[max(range(len(done)), key=lambda i: (finite[i], -gold[i]))] if done else None
        length = top.metrics["response_length"] if top is not None else math.nan
        resolved = resolved_tau(finite, gold, again)
        rows.append([label, round(tau, 2), round(resolved, 2), round(regret, 3), round(length, 1)])
        summary["candidates"][label] = {"tau": tau, "resolved_tau": resolved, "regret": regret, "top_length": length}
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", nargs="+", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--unseen", action="store_true", help="also the study with another loss, seed and ranges")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--out", type=Path, help="write every trial's metrics and the summary as JSON")
    parser.add_argument("--studies-root", type=Path, help="default: a fresh temporary folder (an existing one resumes)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 where other jobs share the cores)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ["ALIGNLAB_STUDIES"] = str(args.studies_root or tempfile.mkdtemp(prefix="alignlab-fidelity-"))
    print(f"load average at start: {os.getloadavg()}")
    plan = {name: STUDIES[name] for name in args.studies}
    if args.unseen:
        plan["unseen-ipo"] = UNSEEN
    summaries, trials, costs = [], {}, []
    started = time.monotonic()
    for name, setup in plan.items():
        t0 = time.monotonic()
        results = run_study(name, setup, args.trials)
        wall = time.monotonic() - t0
        rows, summary = study_rows(name, results)
        summaries.append(summary)
        trials[name] = [
            {"name": r.name, "status": r.status, "metrics": r.metrics, "timings": r.timings, "runtime_s": r.runtime_s}
            for r in results
        ]
        print_table(
            f"{name}: {summary['completed']} completed trials ({setup['algorithm']} {setup['fixed'].get('loss_type', '')}, "
            f"{setup['sampler']['type']}, seed {setup['seed']}), {wall:.0f} s",
            ["candidate objective", "Kendall tau with gold win rate", "tau over pairs the truth resolves", "top-1 regret",
             "response length of its top trial"],
            rows,
        )
        done = [r for r in results if r.status == "completed"]
        print_table(
            f"{name}: trials",
            ["trial", "win rate (gold)", "same, eval seed 2", "judge win rate", "judge_win_rate_kl", "pref. acc.", "KL",
             "response length", "judge acc."],
            [
                [
                    r.name,
                    r.metrics["win_rate"],
                    r.metrics["win_rate_seed2"],
                    r.metrics["judge_win_rate"],
                    r.metrics["judge_win_rate_kl"],
                    r.metrics["preference_accuracy"],
                    r.metrics["kl"],
                    r.metrics["response_length"],
                    r.metrics["judge_accuracy"],
                ]
                for r in done
            ],
        )
        judge_train = sum(r.timings.get("judge_train_s", 0.0) for r in results)
        per_trial = statistics.mean(r.runtime_s for r in done) if done else math.nan
        judging = statistics.mean(r.timings.get("judge_s", 0.0) for r in done) if done else math.nan
        costs.append([name, round(judge_train, 1), round(per_trial, 1), round(judging, 2),
                      round((judging + judge_train / max(1, len(results))) / per_trial, 3)])
    labels = list(_candidates())
    print_table(
        "Every study: worst Kendall tau and worst top-1 regret per candidate",
        ["candidate objective", "worst tau", "mean tau", "worst resolved tau", "worst regret",
         *[f"{s['study']}: tau / resolved / regret" for s in summaries]],
        [
            [
                label,
                round(min(s["candidates"][label]["tau"] for s in summaries), 2),
                round(statistics.mean(s["candidates"][label]["tau"] for s in summaries), 2),
                round(min(s["candidates"][label]["resolved_tau"] for s in summaries), 2),
                round(max(s["candidates"][label]["regret"] for s in summaries), 3),
                *[
                    f"{c['tau']:.2f} / {c['resolved_tau']:.2f} / {c['regret']:.3f}"
                    for c in (s["candidates"][label] for s in summaries)
                ],
            ]
            for label in labels
        ],
    )
    print_table(
        "What judging costs",
        ["study", "judge training s (once)", "mean trial s", "judge scoring s per trial", "judging / trial time"],
        costs,
    )
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average at end: {os.getloadavg()}")
    if args.out:
        args.out.write_text(json.dumps({"summaries": summaries, "trials": trials}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
